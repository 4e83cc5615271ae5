"""The dataclass code kept between runs (assay.codecache): a later run compiles none of the
methods an earlier one compiled, and the classes behave exactly as without it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.codecache import MAX_KEPT, default_path, kept_dataclass_code


@pytest.fixture(autouse=True)
def _writes_bytecode(monkeypatch):
    """As on a user's machine (this sandbox may set PYTHONDONTWRITEBYTECODE)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def _make() -> type:
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    return Point


def _same_behaviour(cls: type) -> None:
    p = cls(1)
    assert (p.x, p.y, p.tags) == (1, 2, ())
    assert p == cls(1, 2) and p != cls(1, 3)
    assert hash(p) == hash(cls(1, 2))
    assert repr(p).endswith("(x=1, y=2, tags=())")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    # exec of the text inherits no __future__ flag: the annotations are objects, as
    # without the cache (this module's `annotations` future would make them strings).
    assert cls.__init__.__annotations__["return"] is None
    assert cls.__init__.__code__.co_filename == "<string>"


def test_a_second_block_compiles_nothing_and_the_classes_behave_the_same(tmp_path):
    path = str(tmp_path / "kept.marshal")
    with kept_dataclass_code(path) as first:
        _same_behaviour(_make())
    assert first.compiled >= 6 and first.hits == 0 and first.written
    with kept_dataclass_code(path) as second:
        _same_behaviour(_make())
    assert second.compiled == 0 and second.hits == first.compiled and not second.written


def test_the_builtin_exec_is_back_after_the_block_even_when_it_fails(tmp_path):
    with pytest.raises(RuntimeError), kept_dataclass_code(str(tmp_path / "k")):
        assert "exec" in vars(dataclasses)
        raise RuntimeError("boom")
    assert "exec" not in vars(dataclasses)
    with kept_dataclass_code(str(tmp_path / "k")) as kept:
        pass
    assert "exec" not in vars(dataclasses) and kept.compiled == 0


def test_classes_made_outside_the_block_are_not_kept(tmp_path):
    path = tmp_path / "kept.marshal"
    with kept_dataclass_code(str(path)):
        pass
    _make()
    assert not path.exists()


@pytest.mark.parametrize("content", [b"", b"garbage\x00\xff", b"\xe9\x01\x00\x00\x00"])
def test_a_damaged_file_is_ignored_and_replaced(tmp_path, content):
    import marshal

    path = tmp_path / "kept.marshal"
    path.write_bytes(content)
    with kept_dataclass_code(str(path)) as kept:
        _same_behaviour(_make())
    assert kept.hits == 0 and kept.compiled >= 6 and kept.written
    assert isinstance(marshal.loads(path.read_bytes()), dict)


def test_a_file_of_the_wrong_shape_is_ignored(tmp_path):
    import marshal

    path = tmp_path / "kept.marshal"
    path.write_bytes(marshal.dumps({"def x(): pass": "not code", 3: compile("", "", "exec")}))
    with kept_dataclass_code(str(path)) as kept:
        _same_behaviour(_make())
    assert kept.hits == 0 and kept.compiled >= 6


def test_nothing_is_written_when_python_writes_no_bytecode(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    path = tmp_path / "kept.marshal"
    with kept_dataclass_code(str(path)) as kept:
        _make()
    assert kept.compiled and not kept.written and not path.exists()


def test_a_directory_that_cannot_be_written_is_left_alone(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with kept_dataclass_code(str(blocker / "sub" / "kept.marshal")) as kept:
        _same_behaviour(_make())  # (the block works; only the file is not written)
    assert kept.compiled and not kept.written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_name_planted_where_the_file_is_written_first_is_neither_followed_nor_a_block(
    tmp_path,
):
    # The file is written under a temporary name first: one anybody could foresee (and
    # plant a link at, or leave behind after a crash) would stop every later write.
    path = tmp_path / "kept.marshal"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, f"{path}.{os.getpid()}.tmp")
    with kept_dataclass_code(str(path)) as kept:
        _make()
    assert kept.written and path.is_file() and not path.is_symlink()
    assert victim.read_text() == "keep"
    with kept_dataclass_code(str(path)) as again:
        _same_behaviour(_make())
    assert again.hits and not again.compiled


def test_the_file_is_written_0644_under_a_group_writable_umask(tmp_path):
    # Kept code is run only from a file no one else could have written: the file must not
    # take a group-writable umask's bits, or the next run would ignore it.
    path = tmp_path / "kept.marshal"
    old = os.umask(0o002)
    try:
        with kept_dataclass_code(str(path)) as kept:
            _make()
    finally:
        os.umask(old)
    assert kept.written and (path.stat().st_mode & 0o777) == 0o644


def test_the_file_keeps_only_the_last_runs_texts_once_it_is_full(tmp_path, monkeypatch):
    import marshal

    import assay.codecache as codecache

    path = tmp_path / "kept.marshal"
    old = {f"def f{i}(): pass": compile("", "", "exec") for i in range(MAX_KEPT)}
    path.write_bytes(marshal.dumps(old))
    with kept_dataclass_code(str(path)) as kept:
        _make()
    assert kept.written
    now = marshal.loads(path.read_bytes())
    assert len(now) == kept.compiled and not set(now) & set(old)
    monkeypatch.setattr(codecache, "MAX_KEPT", 10**6)  # (room: old texts stay)
    path.write_bytes(marshal.dumps(old))
    with kept_dataclass_code(str(path)):
        _make()
    assert set(old) <= set(marshal.loads(path.read_bytes()))


def test_the_default_file_is_next_to_assays_bytecode():
    import assay.codecache as codecache

    path = default_path()
    assert os.path.dirname(path) == os.path.dirname(
        __import__("importlib.util").util.cache_from_source(codecache.__file__)
    )
    assert sys.implementation.cache_tag in os.path.basename(path)


def test_a_second_run_from_the_entry_compiles_no_dataclass_method(tmp_path):
    """Two `assay list` processes: the second finds every method of assay's classes in the
    file the first wrote (the default place: the bytecode cache, here a prefix of its own)."""
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'echo hello'\n"
    )
    probe = (
        "import dataclasses, json, sys\n"
        "import assay.codecache as c\n"
        "seen = []\n"
        "real = c.kept_dataclass_code\n"
        "from contextlib import contextmanager\n"
        "@contextmanager\n"
        "def spy(path=None):\n"
        "    with real(path) as kept:\n"
        "        yield kept\n"
        "    seen.append((kept.hits, kept.compiled))\n"
        "c.kept_dataclass_code = spy\n"
        "from assay.entry import main\n"
        "code = main(['list', 'test_one.py'])\n"
        "print(json.dumps(seen))\n"
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
        ((hits, compiled),) = json.loads(out.stdout.strip().splitlines()[-1])
        return hits, compiled

    first_hits, first_compiled = run()
    assert first_compiled > 40  # (assay's own classes: Param, Config, Selection ...)
    hits, compiled = run()
    assert compiled == 0 and hits == first_hits + first_compiled
    assert list(Path(tmp_path / "pycache").rglob("dataclass-code.*.marshal"))


@pytest.mark.parametrize("mode", [0o666, 0o664])
def test_a_file_others_could_have_written_is_not_run(tmp_path, mode):
    path = tmp_path / "kept.marshal"
    with kept_dataclass_code(str(path)):
        _make()
    os.chmod(path, mode)
    with kept_dataclass_code(str(path)) as kept:
        _same_behaviour(_make())
    assert kept.hits == 0 and kept.compiled >= 6


def _make_in(module_name: str) -> type:
    """A dataclass of a module named ``module_name`` (dataclasses runs its methods' texts in
    that module's namespace)."""
    import types

    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    try:
        exec(
            "import dataclasses\n"
            "@dataclasses.dataclass(frozen=True)\n"
            "class Made:\n"
            "    zz_field_of_made: int\n",
            module.__dict__,
        )
        made: type = module.Made
        return made
    finally:
        del sys.modules[module_name]


def test_once_only_assay_is_kept_other_modules_classes_are_compiled_as_without_the_block(
    tmp_path,
):
    path = tmp_path / "kept.marshal"
    with kept_dataclass_code(str(path)) as kept:
        kept.only = "assay"
        _same_behaviour(_make())  # (this test module's)
        theirs = _make_in("assay_lookalike")  # (a prefix of the name is not the package)
        assert kept.compiled == 0 and kept.hits == 0
        ours = _make_in("assay.some_module")
        assert kept.compiled >= 3
    assert theirs(1) == theirs(1) and ours(2).zz_field_of_made == 2
    texts = marshal_texts(path)
    assert texts and all("zz_field_of_made" in t for t in texts)


def marshal_texts(path: Path) -> list[str]:
    import marshal

    return list(marshal.loads(path.read_bytes()))


def test_a_run_keeps_assays_classes_made_during_it_but_not_the_tests_own(tmp_path):
    """Two `assay run` processes: the results database's classes (imported while the
    first case runs) come from the file the second time too; the dataclass of the test
    file is made as without the file, and its methods are not in it."""
    (tmp_path / "test_one.py").write_text(
        "import dataclasses\n"
        "import assay\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class Mine:\n"
        "    zz_users_own_field: int = 3\n"
        "class One(assay.Test):\n"
        "    command = 'echo hello'\n"
        "    def sanity(self, out):\n"
        "        assert Mine().zz_users_own_field == 3\n"
        "        assert Mine.__init__.__annotations__['return'] is None\n"
    )
    probe = (
        "import json, sys\n"
        "import assay.codecache as c\n"
        "seen = []\n"
        "real = c.kept_dataclass_code\n"
        "from contextlib import contextmanager\n"
        "@contextmanager\n"
        "def spy(path=None):\n"
        "    with real(path) as kept:\n"
        "        yield kept\n"
        "    seen.append((kept.hits, kept.compiled, 'assay.results.db.types' in sys.modules))\n"
        "c.kept_dataclass_code = spy\n"
        "from assay.entry import main\n"
        "code = main(['run', 'test_one.py', '--plain'])\n"
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
        code, ((hits, compiled, results_db),) = json.loads(out.stdout.strip().splitlines()[-1])
        assert code == 0 and results_db, out.stdout
        return hits, compiled

    run()  # a first session: its database is new (no session directory to import yet)
    # A later session imports what the first did not need (the session importer's
    # classes): made during it, kept for the next, which then compiles nothing.
    first_hits, first_compiled = run()
    hits, compiled = run()
    assert compiled == 0 and hits == first_hits + first_compiled
    (kept,) = Path(tmp_path / "pycache").rglob("dataclass-code.*.marshal")
    texts = marshal_texts(kept)
    assert any("problems" in t for t in texts)  # (the session importer's ImportReport)
    assert not any("zz_users_own_field" in t for t in texts)
