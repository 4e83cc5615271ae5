"""asyncio imported without the submodules a run needs later (assay.deferasyncio, through
assay.deferssl.import_asyncio): they stay out until a name of theirs is used, and asyncio
then has every name, ``__all__`` and submodule a plain import gives it. Each check runs in
a fresh interpreter (what is imported is the point)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from assay import deferasyncio
from tests.conftest import run_python

pytestmark = pytest.mark.skipif(
    not deferasyncio.applies(), reason="the deferral is for Python 3.11's asyncio"
)

IMPORT = """
    import sys
    from assay.deferssl import import_asyncio
    import_asyncio()
    import asyncio
    LATER = ("asyncio.queues", "asyncio.streams", "asyncio.subprocess", "asyncio.taskgroups",
             "asyncio.timeouts", "asyncio.threads")
    def later():
        return sorted(n for n in LATER if n in sys.modules)
"""


def python(code: str) -> str:
    """Run ``code`` after IMPORT in a fresh interpreter; its stdout."""
    return run_python(textwrap.dedent(IMPORT) + textwrap.dedent(code))


def plain(expression: str) -> str:
    """``expression`` printed by an interpreter that imported asyncio the plain way."""
    done = subprocess.run(
        [sys.executable, "-c", f"import asyncio\nprint({expression})"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_the_submodules_stay_out_while_a_loop_runs() -> None:
    out = python(
        """
        print(later())
        print(asyncio.run(asyncio.sleep(0, "ran")))
        print(later())
        """
    )
    assert out.split() == ["[]", "ran", "[]"]


def test_a_name_of_theirs_brings_them_in_and_works() -> None:
    out = python(
        """
        async def main():
            queue = asyncio.Queue()
            await queue.put(1)
            async with asyncio.timeout(5):
                got = await queue.get()
            proc = await asyncio.create_subprocess_exec(
                "echo", "hi", stdout=asyncio.subprocess.PIPE
            )
            said, _ = await proc.communicate()
            return got, said.decode().strip(), await asyncio.to_thread(len, "abc")
        print(later() == [])
        print(*asyncio.run(main()))
        print(len(later()) == len(LATER), "__getattr__" in vars(asyncio))
        """
    )
    assert out.split() == ["True", "1", "hi", "3", "True", "False"]


def test_asyncio_then_has_what_a_plain_import_gives() -> None:
    out = python(
        """
        names = {}
        exec("from asyncio import *", names)
        print(" ".join(sorted(n for n in names if not n.startswith("__"))))
        print(" ".join(sorted(asyncio.__all__)))
        print(" ".join(sorted(n for n in vars(asyncio) if not n.startswith("__"))))
        """
    )
    star, all_, namespace = out.splitlines()
    assert star.split() == sorted(plain("' '.join(asyncio.__all__)").split())
    assert all_ == star
    assert namespace.split() == sorted(
        plain("' '.join(n for n in vars(asyncio) if not n.startswith('__'))").split()
    )


def test_an_import_of_a_submodule_gets_the_real_one() -> None:
    out = python(
        """
        import asyncio.streams
        from asyncio import StreamReader
        streams = asyncio.streams
        print(streams.StreamReader is StreamReader, hasattr(streams, "open_connection"))
        print(asyncio.missing_name if hasattr(asyncio, "missing_name") else "no such name")
        """
    )
    assert out.split("\n")[:2] == ["True True", "no such name"]


def test_two_threads_asking_at_once_both_get_the_names() -> None:
    """One thread asks for a name (the real modules are imported) while another imports a
    submodule directly, whose own ``from . import streams`` asks asyncio too: both end,
    each with what it asked for (no lock held across the imports to wait on)."""
    out = python(
        """
        import threading
        got = {}
        start = threading.Barrier(2)
        def by_name():
            start.wait()
            got["queue"] = asyncio.Queue.__name__
        def by_import():
            start.wait()
            import asyncio.subprocess as sub
            got["pipe"] = sub.PIPE
        threads = [threading.Thread(target=f) for f in (by_name, by_import)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        print(sorted(got.items()), any(t.is_alive() for t in threads))
        print(asyncio.create_subprocess_exec.__name__, "__getattr__" in vars(asyncio))
        """
    )
    assert out.splitlines() == [
        "[('pipe', -1), ('queue', 'Queue')] False",
        "create_subprocess_exec False",
    ]
