"""The compiled patterns kept between runs (assay.recache): a later run compiles none of the
patterns an earlier one compiled, and the patterns match exactly as without it."""

from __future__ import annotations

import json
import marshal
import os
import re
import re._compiler as sre_compiler
import subprocess
import sys
from pathlib import Path

import pytest

from assay.codecache import MAX_KEPT
from assay.recache import default_path, kept_regex_code

# Patterns with what the engine's code must get right: groups and their names, inline and
# given flags, bytes, lookarounds, backreferences, character classes, repeats.
PATTERNS: list[tuple[str | bytes, int]] = [
    (r"(?P<key>[A-Za-z_]\w*)\s*=\s*(?P<value>'[^']*'|\S+)", 0),
    (r"(?i)ERROR\b(?!:)", 0),
    (r"^(\d+)-(\d+)$", re.MULTILINE),
    (r"(a|b)*?c\1", re.IGNORECASE | re.DOTALL),
    (rb"[\x80-\xff]+(?<=\xff)", 0),
    (r"é{2,3}|[^\W\d]", re.ASCII),
]
TEXTS = {
    str: ["k = 'v w'", "x=1", "error! Error: ERROR", "12-34\n5-6", "abacA", "ééé é x9_"],
    bytes: [b"\x80\xff", b"abc", b"\xff\xfe\xff"],
}


@pytest.fixture(autouse=True)
def _writes_bytecode(monkeypatch):
    """As on a user's machine (this sandbox may set PYTHONDONTWRITEBYTECODE)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def _compile_all() -> list[re.Pattern]:
    re.purge()  # (re's own cache would answer before the compiler is asked)
    try:
        return [re.compile(p, f) for p, f in PATTERNS]
    finally:
        re.purge()


def _same_as_plain(patterns: list[re.Pattern]) -> None:
    """Every pattern is what ``re`` compiles without the cache: attributes and matches."""
    plain = _compile_all()
    for kept, real in zip(patterns, plain, strict=True):
        assert (kept.pattern, kept.flags, kept.groups) == (real.pattern, real.flags, real.groups)
        assert kept.groupindex == real.groupindex
        for text in TEXTS[type(real.pattern)]:
            got = [(m.span(), m.groups(), m.groupdict()) for m in kept.finditer(text)]
            want = [(m.span(), m.groups(), m.groupdict()) for m in real.finditer(text)]
            assert got == want, (real.pattern, text)


def test_a_second_block_compiles_nothing_and_the_patterns_match_the_same(tmp_path):
    path = str(tmp_path / "kept.marshal")
    with kept_regex_code(path) as first:
        patterns = _compile_all()
    _same_as_plain(patterns)
    assert first.compiled == len(PATTERNS) and first.hits == 0 and first.written
    with kept_regex_code(path) as second:
        patterns = _compile_all()
    assert second.compiled == 0 and second.hits == len(PATTERNS) and not second.written
    _same_as_plain(patterns)


def test_the_compiler_is_back_after_the_block_even_when_it_fails(tmp_path):
    real = sre_compiler.compile
    with pytest.raises(RuntimeError), kept_regex_code(str(tmp_path / "k")):
        assert sre_compiler.compile is not real
        raise RuntimeError("boom")
    assert sre_compiler.compile is real


def test_patterns_compiled_outside_the_block_are_not_kept(tmp_path):
    path = tmp_path / "kept.marshal"
    with kept_regex_code(str(path)):
        pass
    _compile_all()
    assert not path.exists()


def test_a_nested_block_leaves_the_outer_one_in_charge(tmp_path):
    with (
        kept_regex_code(str(tmp_path / "outer")) as outer,
        kept_regex_code(str(tmp_path / "inner")) as inner,
    ):
        _compile_all()
    assert outer.compiled == len(PATTERNS) and inner.compiled == 0
    assert not (tmp_path / "inner").exists()


def test_debug_patterns_and_str_subclasses_are_compiled_as_always(tmp_path, capsys):
    class Text(str):
        pass

    path = tmp_path / "kept.marshal"
    with kept_regex_code(str(path)) as kept:
        re.purge()
        assert re.compile(Text("a+b"), 0).match("aab")
        re.compile("x(y)", re.DEBUG)  # (prints the parse and the code, as always)
    assert kept.compiled == 0 and not path.exists()
    assert "LITERAL 120" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage\x00\xff",
        marshal.dumps({"not": "ours"}),
        marshal.dumps(((0, 0, 0), {})),  # another engine's
    ],
)
def test_a_damaged_or_foreign_file_is_ignored_and_replaced(tmp_path, content):
    path = tmp_path / "kept.marshal"
    path.write_bytes(content)
    with kept_regex_code(str(path)) as kept:
        patterns = _compile_all()
    _same_as_plain(patterns)
    assert kept.hits == 0 and kept.compiled == len(PATTERNS) and kept.written
    with kept_regex_code(str(path)) as again:
        _compile_all()
    assert again.hits == len(PATTERNS)


def test_an_entry_the_engine_refuses_is_compiled_anew(tmp_path):
    path = tmp_path / "kept.marshal"
    with kept_regex_code(str(path)):
        _compile_all()
    engine, entries = marshal.loads(path.read_bytes())
    for key, (flags, code, groups, groupindex, indexgroup) in list(entries.items()):
        # Code that jumps past its end; a wrong shape; a negative group count.
        entries[key] = (flags, [*code[:-1], 10**6, 0], groups, groupindex, indexgroup)
    first = next(iter(entries))
    entries[first] = ("flags", None)
    path.write_bytes(marshal.dumps((engine, entries)))
    with kept_regex_code(str(path)) as kept:
        patterns = _compile_all()
    assert kept.hits == 0 and kept.compiled == len(PATTERNS)
    _same_as_plain(patterns)


def test_nothing_is_written_when_python_writes_no_bytecode(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    path = tmp_path / "kept.marshal"
    with kept_regex_code(str(path)) as kept:
        _compile_all()
    assert kept.compiled and not kept.written and not path.exists()


@pytest.mark.parametrize("mode", [0o666, 0o664])
def test_a_file_others_could_have_written_is_not_used(tmp_path, mode):
    path = tmp_path / "kept.marshal"
    with kept_regex_code(str(path)):
        _compile_all()
    os.chmod(path, mode)
    with kept_regex_code(str(path)) as kept:
        patterns = _compile_all()
    _same_as_plain(patterns)
    assert kept.hits == 0 and kept.compiled == len(PATTERNS)


def test_the_file_is_written_0644_under_a_group_writable_umask(tmp_path):
    path = tmp_path / "kept.marshal"
    old = os.umask(0o002)
    try:
        with kept_regex_code(str(path)) as kept:
            _compile_all()
    finally:
        os.umask(old)
    assert kept.written and (path.stat().st_mode & 0o777) == 0o644


def test_the_file_keeps_only_the_last_runs_patterns_once_it_is_full(tmp_path, monkeypatch):
    import assay.codecache as codecache

    path = tmp_path / "kept.marshal"
    with kept_regex_code(str(path)):
        _compile_all()
    engine, entries = marshal.loads(path.read_bytes())
    sample = next(iter(entries.values()))
    old = {(f"old{i}", 0): sample for i in range(MAX_KEPT)}
    path.write_bytes(marshal.dumps((engine, old)))
    with kept_regex_code(str(path)) as kept:
        _compile_all()
    assert kept.written
    assert set(marshal.loads(path.read_bytes())[1]) == {(p, f) for p, f in PATTERNS}
    monkeypatch.setattr(codecache, "MAX_KEPT", 10**6)  # (room: old patterns stay)
    path.write_bytes(marshal.dumps((engine, old)))
    with kept_regex_code(str(path)):
        _compile_all()
    assert set(old) <= set(marshal.loads(path.read_bytes())[1])


def test_the_default_file_is_next_to_assays_bytecode():
    import importlib.util

    import assay.recache as recache

    path = default_path()
    assert os.path.dirname(path) == os.path.dirname(
        importlib.util.cache_from_source(recache.__file__)
    )
    assert sys.implementation.cache_tag in os.path.basename(path)


def test_a_second_run_from_the_entry_compiles_no_pattern(tmp_path):
    """Two `assay list` processes: the second finds every pattern the command's modules
    compile in the file the first wrote (the default place: the bytecode cache, here a
    prefix of its own)."""
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'echo hello'\n"
    )
    probe = (
        "import json\n"
        "import assay.recache as r\n"
        "seen = []\n"
        "real = r.kept_regex_code\n"
        "from contextlib import contextmanager\n"
        "@contextmanager\n"
        "def spy(path=None):\n"
        "    with real(path) as kept:\n"
        "        yield kept\n"
        "    seen.append((kept.hits, kept.compiled))\n"
        "r.kept_regex_code = spy\n"
        "from assay.entry import main\n"
        "code = main(['list', 'test_one.py'])\n"
        "print(json.dumps([code, seen]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")

    def run() -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
            env=env,
        )
        code, ((hits, compiled),) = json.loads(out.stdout.strip().splitlines()[-1])
        assert code == 0
        return hits, compiled

    first_hits, first_compiled = run()
    assert first_compiled > 20  # (json's, shlex's, assay's config checks ...)
    hits, compiled = run()
    assert compiled == 0 and hits == first_hits + first_compiled
    assert list(Path(tmp_path / "pycache").rglob("regex-code.*.marshal"))
