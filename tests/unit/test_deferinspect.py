"""inspect imported on first use (assay.deferinspect): the stand-in answers as inspect does,
and the first name read from it puts the real module in its place. Each probe runs in a
fresh interpreter (this one has inspect in already)."""

from __future__ import annotations

import functools
import inspect
import json
import subprocess
import sys
import types

import pytest

from assay import deferinspect
from assay.guard import misdefined


def _probe(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _plain_and_deferred(code: str, module: str) -> tuple[dict[str, object], dict[str, object]]:
    """``code`` run after ``import module`` as usual, and after the import inside
    ``inspect_deferred()`` (its ``{imports}`` is the import)."""
    plain = _probe(code.format(imports=f"import {module}"))
    deferred = _probe(
        code.format(
            imports="from assay.deferinspect import inspect_deferred\n"
            "with inspect_deferred():\n"
            f"    import {module}"
        )
    )
    return plain, deferred


def test_dataclasses_and_asyncio_import_without_inspect_and_get_it_on_first_use():
    result = _probe(
        "import json, sys\n"
        "from assay.deferinspect import inspect_deferred\n"
        "with inspect_deferred():\n"
        "    import asyncio, dataclasses\n"
        "    import asyncio.coroutines as co\n"
        "loaded_after_block = 'inspect' in sys.modules\n"
        "async def c(): pass\n"
        "coroutine = co.iscoroutinefunction(c)\n"  # answered by the stand-in
        "loaded_after_predicate = 'inspect' in sys.modules\n"
        "@dataclasses.dataclass\n"
        "class NoDoc:\n"
        "    x: int\n"  # no docstring: dataclasses asks inspect.signature
        "import inspect\n"
        "print(json.dumps({'after_block': loaded_after_block,\n"
        "    'after_predicate': loaded_after_predicate, 'coroutine': coroutine,\n"
        "    'doc': NoDoc.__doc__, 'real': inspect.__file__.endswith('inspect.py'),\n"
        "    'rebound': dataclasses.inspect is inspect and co.inspect is inspect}))\n"
    )
    assert result == {
        "after_block": False,
        "after_predicate": False,
        "coroutine": True,
        "doc": "NoDoc(x: int)",
        "real": True,
        "rebound": True,
    }


def test_traceback_imports_without_tokenize_and_reading_a_source_line_gets_it(tmp_path):
    # linecache (traceback's, asyncio's) reads a source file with tokenize.open, which
    # honours the file's coding cookie: a latin-1 line comes back as written.
    source = tmp_path / "latin.py"
    source.write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n")
    result = _probe(
        "import json, sys\n"
        "from assay.deferinspect import inspect_deferred\n"
        "with inspect_deferred():\n"
        "    import traceback, linecache\n"
        "loaded = 'tokenize' in sys.modules\n"
        f"line = linecache.getline({str(source)!r}, 2)\n"
        "import tokenize\n"
        "print(json.dumps({'loaded': loaded, 'line': line,\n"
        "    'rebound': linecache.tokenize is tokenize,\n"
        "    'real': tokenize.__file__.endswith('tokenize.py')}))\n"
    )
    assert result == {
        "loaded": False,
        "line": "name = '\u00e9t\u00e9'\n",
        "rebound": True,
        "real": True,
    }


def test_shutil_imports_without_bz2_and_lzma_and_knows_its_formats_as_before():
    code = (
        "import json, sys\n"
        "{block}\n"
        "    import shutil\n"
        "loaded = [m for m in ('bz2', 'lzma') if m in sys.modules]\n"
        "formats = [f[0] for f in shutil.get_unpack_formats()]\n"
        "supported = [shutil._BZ2_SUPPORTED, shutil._LZMA_SUPPORTED]\n"
        "import bz2, lzma\n"
        "works = bz2.decompress(bz2.compress(b'x')) + lzma.decompress(lzma.compress(b'y'))\n"
        "print(json.dumps({{'loaded': loaded, 'formats': formats, 'supported': supported,\n"
        "    'works': works.decode(), 'real': bz2.__file__.endswith('bz2.py')}}))\n"
    )
    deferred = _probe(
        code.format(
            block="from assay.deferinspect import inspect_deferred\nwith inspect_deferred():"
        )
    )
    plain = _probe(code.format(block="if True:"))
    assert deferred["loaded"] == [] and plain["loaded"] == ["bz2", "lzma"]
    assert deferred["formats"] == plain["formats"] and deferred["supported"] == plain["supported"]
    assert deferred["works"] == "xy" and deferred["real"] is True


def test_without_the_c_module_no_stand_in_and_shutil_learns_it_is_missing():
    # A Python built without _bz2: `import bz2` fails, and shutil leaves bztar out.
    result = _probe(
        "import json, sys\n"
        "sys.modules['_bz2'] = None\n"
        "from assay.deferinspect import inspect_deferred\n"
        "with inspect_deferred():\n"
        "    import shutil\n"
        "print(json.dumps({'supported': shutil._BZ2_SUPPORTED,\n"
        "    'formats': [f[0] for f in shutil.get_unpack_formats()]}))\n"
    )
    assert result["supported"] is False and "bztar" not in result["formats"]


def test_dataclasses_and_pathlib_import_without_copy_and_ntpath_and_get_them_on_use():
    result = _probe(
        "import json, sys\n"
        "from assay.deferinspect import inspect_deferred\n"
        "with inspect_deferred():\n"
        "    import dataclasses, pathlib\n"
        "loaded = [m for m in ('copy', 'ntpath') if m in sys.modules]\n"
        "@dataclasses.dataclass\n"
        "class Box:\n"
        "    'A box.'\n"
        "    items: list\n"
        "box = Box([[1], [2]])\n"
        "copied = dataclasses.asdict(box)\n"  # (copy.deepcopy of the lists)
        "windows = str(pathlib.PureWindowsPath('c:/a/b').parent)\n"
        "drive = pathlib.ntpath.splitdrive('c:/a')[0]\n"  # (the stand-in answers)
        "import copy, ntpath\n"
        "print(json.dumps({'loaded': loaded, 'copied': copied,\n"
        "    'deep': copied['items'][0] is not box.items[0], 'windows': windows, 'drive': drive,\n"
        "    'rebound': dataclasses.copy is copy and pathlib.ntpath is ntpath}))\n"
    )
    assert result == {
        "loaded": [],
        "copied": {"items": [[1], [2]]},
        "deep": True,
        "windows": "c:\\a",
        "drive": "c:",
        "rebound": True,
    }


_ASYNCIO_LOGS = """
import json, sys
{imports}
loaded = ['logging' in sys.modules]
asyncio.new_event_loop().close()  # (its selector logged at debug level: nobody listens)
loaded.append('logging' in sys.modules)
import logging
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])
logging.basicConfig(level=logging.DEBUG, handlers=[Keep()])
loop = asyncio.new_event_loop()
loop.call_exception_handler({{'message': 'boom'}})
loop.close()
import asyncio.base_events, concurrent.futures._base as cf
rebound = [asyncio.log.logger is logging.getLogger('asyncio'),
    asyncio.base_events.logger is asyncio.log.logger]
cf.LOGGER.warning('late')
print(json.dumps({{'loaded': loaded, 'records': records, 'rebound': rebound,
    'cf': cf.LOGGER is logging.getLogger('concurrent.futures')}}))
"""


def test_asyncio_imports_without_logging_and_logs_as_before_once_it_is_configured():
    plain, deferred = _plain_and_deferred(_ASYNCIO_LOGS, "asyncio")
    assert plain["loaded"] == [True, True]
    # Not imported by asyncio, nor by a loop's debug line that nothing could listen to ...
    assert deferred["loaded"] == [False, False]
    # ... and once the program sets logging up, the same records, from the same loggers.
    assert deferred["records"] == plain["records"]
    assert ["asyncio", "DEBUG", "Using selector: EpollSelector"] in deferred["records"]
    assert ["asyncio", "ERROR", "boom"] in deferred["records"]
    assert ["concurrent.futures", "WARNING", "late"] in deferred["records"]
    assert deferred["rebound"] == [True, True] and deferred["cf"] is True


def test_uuid_imports_without_platform_and_knows_its_system_as_before():
    code = (
        "import json, sys\n"
        "{imports}\n"
        "loaded = 'platform' in sys.modules\n"
        "system = uuid.platform.system() if hasattr(uuid, 'platform') else None\n"
        "machine = uuid.platform.machine()\n"  # (any other name: the real module's)
        "import platform\n"
        "print(json.dumps({{'loaded': loaded, 'linux': uuid._LINUX, 'aix': uuid._AIX,\n"
        "    'system': system, 'real': platform.system(), 'machine': machine,\n"
        "    'rebound': uuid.platform is platform}}))\n"
    )
    plain, deferred = _plain_and_deferred(code, "uuid")
    assert plain["loaded"] is True and deferred["loaded"] is False
    assert {k: v for k, v in deferred.items() if k != "loaded"} == {
        k: v for k, v in plain.items() if k != "loaded"
    }
    assert deferred["system"] == deferred["real"] and deferred["rebound"] is True


def test_pathlib_imports_without_urllib_parse_and_makes_uris_as_before():
    code = (
        "import json, sys\n"
        "{imports}\n"
        "loaded = 'urllib.parse' in sys.modules\n"
        "uri = pathlib.PurePosixPath('/a b/%c').as_uri()\n"  # (urllib.parse's quoting)
        "import urllib.parse\n"
        "print(json.dumps({{'loaded': loaded, 'uri': uri,\n"
        "    'rebound': pathlib.urlquote_from_bytes is urllib.parse.quote_from_bytes,\n"
        "    'parent': urllib.parse is sys.modules['urllib.parse']}}))\n"
    )
    plain, deferred = _plain_and_deferred(code, "pathlib")
    assert plain["loaded"] is True and deferred["loaded"] is False
    assert deferred["uri"] == plain["uri"] == "file:///a%20b/%25c"
    assert deferred["rebound"] is True and deferred["parent"] is True


def test_pathlib_imports_without_ipaddress_and_a_url_check_gets_it():
    result = _probe(
        "import json, sys\n"
        "from assay.deferinspect import inspect_deferred\n"
        "with inspect_deferred():\n"
        "    import pathlib, urllib.parse\n"
        "loaded = 'ipaddress' in sys.modules\n"
        "host = urllib.parse.urlsplit('http://[::1]:80/x').hostname\n"  # (asks ipaddress)
        "try:\n"
        "    urllib.parse.urlsplit('http://[not-an-ip]/')\n"
        "    refused = False\n"
        "except ValueError:\n"
        "    refused = True\n"
        "import ipaddress\n"
        "print(json.dumps({'loaded': loaded, 'host': host, 'refused': refused,\n"
        "    'rebound': urllib.parse.ipaddress is ipaddress,\n"
        "    'real': ipaddress.__file__.endswith('ipaddress.py')}))\n"
    )
    assert result == {
        "loaded": False,
        "host": "::1",
        "refused": True,
        "rebound": True,
        "real": True,
    }


def test_nothing_changes_when_inspect_is_in_already():
    assert "inspect" in sys.modules
    real = sys.modules["inspect"]
    with deferinspect.inspect_deferred():
        assert sys.modules["inspect"] is real


async def _coroutine() -> None:
    return None


async def _async_generator():  # type: ignore[no-untyped-def]
    yield 1


def _generator():  # type: ignore[no-untyped-def]
    yield 1


def _plain() -> None:
    return None


class _Holder:
    def method(self) -> None:
        return None

    async def async_method(self) -> None:
        return None


_CALLABLES = [
    _coroutine,
    _async_generator,
    _generator,
    _plain,
    _Holder().method,
    _Holder().async_method,
    _Holder.async_method,
    functools.partial(_coroutine),  # (inspect's own rules: it unwraps partials)
    print,  # a builtin
    len,
    _Holder,  # a class
    types.MethodType(_coroutine, object()),
    types.MethodType(types.MethodType(_generator, 1), 2),  # a method of a method
]


@pytest.mark.parametrize("func", _CALLABLES)
def test_the_stand_ins_predicates_answer_as_inspects_do(func):
    stand_in = deferinspect._DeferredInspect("inspect")
    for name in ("iscoroutinefunction", "isasyncgenfunction", "isgeneratorfunction"):
        assert getattr(stand_in, name)(func) == getattr(inspect, name)(func), name


@pytest.mark.parametrize("func", _CALLABLES)
def test_misdefined_says_what_inspect_would_have_it_say(func):
    unwrapped = getattr(func, "__func__", func)
    if inspect.iscoroutinefunction(unwrapped) or inspect.isasyncgenfunction(unwrapped):
        assert "is an async def" in (misdefined("sanity", func) or "")
    elif inspect.isgeneratorfunction(unwrapped):
        assert "is a generator" in (misdefined("sanity", func) or "")
    else:
        assert misdefined("sanity", func) is None
