"""Start-up stays light: the modules only some commands need are imported by those
commands, not by ``import assay.cli`` (which ``assay --version`` and every command pay)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HEAVY = ("rich", "jinja2", "msgspec", "numpy", "matplotlib", "sqlite3", "asyncio")
# A local run needs msgspec (config, report), sqlite3 (the store) and asyncio; never the
# display, templates, plotting, or the bundles shipped to batch jobs.
NOT_FOR_A_PLAIN_RUN = (
    "rich",
    "jinja2",
    "numpy",
    "matplotlib",
    "assay.compare.bundle",
    "assay.store.agent.bundle",
    "assay.schedulers.slurm",
    "assay.results.history",  # `assay history` and --failed only
    "psycopg",  # a PostgreSQL results database only
    "assay.store.store",  # sources and artifacts only
    "assay.store.remote",  # remote sites only
    "assay.archives",  # artifacts put from archives only
    "tarfile",
    # A run whose cases measured nothing, without --html, has nothing to hold against its
    # history: neither the database is opened again nor detection imported at its end.
    "assay.results.db.source",
    "assay.results.regressions",
    # OpenSSL's digests (the database's keys are blake2b's, which hashlib takes from Python's
    # own _blake2 anyway) and importlib.resources (the report's schema, which a run never
    # reads): some 16 M instructions of a lone case's process between them.
    "hashlib",
    "_hashlib",
    "importlib.resources",
)


def _loaded(code: str, cwd: Path | None = None, watch: tuple[str, ...] = HEAVY) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {watch!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_none_of_the_heavy_modules():
    assert _loaded("import assay.cli") == []


def test_version_loads_none_of_the_heavy_modules():
    code = "from assay.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"
    assert _loaded(code) == []


def test_a_plain_local_run_loads_no_display_plotting_or_job_bundle_module(tmp_path):
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'echo hello'\n"
    )
    code = (
        "from assay.cli import main\n"
        "try:\n    main(['run', 'test_one.py', '--plain'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code"
    )
    assert _loaded(code, cwd=tmp_path, watch=NOT_FOR_A_PLAIN_RUN) == []


def test_importing_assay_loads_no_comparison_engine():
    # A test file's `import assay` needs escape() of the comparison results, not the engine.
    watch = (
        "assay.compare",
        "assay.compare.engine",
        "assay.compare.cli",
        "assay.compare.spec",
        "decimal",
        "_hashlib",
    )
    assert _loaded("import assay", watch=watch) == []


def test_importing_the_cli_loads_no_comparison_engine():
    # A test's Output compares only when a test asks it to: the engine (and the
    # package that holds it) costs every command about a fifth of its start-up.
    assert _loaded("import assay.cli", watch=("assay.compare", "assay.compare.engine")) == []


def test_importing_the_cli_loads_none_of_the_test_authors_api():
    # `import assay` (which every command pays, assay.cli being in the package) gives the
    # test author's names on first use: a store push or a history query defines no test.
    watch = ("assay.define.test", "assay.define.hooks", "assay.define.output")
    assert _loaded("import assay.cli", watch=watch) == []


def test_the_test_authors_names_are_there_on_first_use():
    code = (
        "import assay\nfrom assay import Test, parameter\nimport assay.define.test as t\n"
        "assert Test is t.Test and assay.Test is Test and callable(parameter)\n"
        "assert {'Test', 'metric', 'ref', 'SanityError'} <= set(dir(assay))\n"
        "try:\n    assay.nothing_of_that_name\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no AttributeError')"
    )
    assert _loaded(code, watch=("assay.define.test",)) == ["assay.define.test"]


# -- the light entry: `assay --version` answers before the command line's machinery --------


def test_version_from_the_entry_imports_no_cli_machinery():
    # The console script and `python -m assay` start at assay.entry; --version must not pay
    # for click, the command groups or the config (what `import assay.cli` loads).
    code = "from assay.entry import main\nassert main(['--version']) == 0"
    watch = ("click", "assay.cli", "assay.commands", "assay.config", "typing_extensions")
    assert _loaded(code, watch=watch) == []


def test_the_entry_says_what_click_says_for_version():
    fast = subprocess.run(
        [sys.executable, "-c", "from assay.entry import main; main(['--version'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    full = subprocess.run(
        [sys.executable, "-c", "from assay.cli import main; main(['--version'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert fast.stdout == full.stdout
    assert fast.stdout.startswith("assay, version ")


def test_other_command_lines_go_to_the_full_cli():
    # Only group options before --version take the short way; anything else (a command, an
    # unknown option, --help first) is click's to answer, as it always was.
    from assay.entry import answers_version

    assert answers_version(["--version"])
    assert answers_version(["--debug", "--version"])
    assert answers_version(["--version", "run"])  # click's eager option wins there too
    assert not answers_version([])
    assert not answers_version(["run", "--version"])
    assert not answers_version(["--help", "--version"])
    assert not answers_version(["-h", "--version"])
    assert not answers_version(["--bogus", "--version"])
    assert not answers_version(["--", "--version"])
    assert not answers_version(["--version=1"])


def test_the_console_script_and_python_m_start_at_the_entry():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="assay")
    assert script.value == "assay.entry:console"
    main_source = Path(__file__).resolve().parents[2] / "src/assay/__main__.py"
    assert "from assay.entry import console" in main_source.read_text()


def test_the_console_script_and_python_m_answer_version_and_run_commands(tmp_path):
    console = Path(sys.executable).parent / "assay"
    starts = [[sys.executable, "-m", "assay"]] + ([[str(console)]] if console.exists() else [])
    for start in starts:
        version = subprocess.run([*start, "--version"], capture_output=True, text=True)
        assert version.returncode == 0 and version.stdout.startswith("assay, version "), start
        bogus = subprocess.run([*start, "--bogus"], capture_output=True, text=True)
        assert bogus.returncode == 2 and "No such option" in bogus.stderr, start
        helped = subprocess.run([*start, "--help"], capture_output=True, text=True)
        assert helped.returncode == 0 and "Commands:" in helped.stdout, start


def test_what_a_run_needs_before_its_first_case_loads_no_reporting_or_database_module():
    # Reports, the summary's statistics and the results database come after the first
    # case started (a first session makes its database while its cases run).
    watch = (
        "statistics",
        "getpass",
        "secrets",
        "sqlite3",
        "assay.results.report",
        "assay.results.db",
        "assay.results.samples",
        "assay.results.regressions",
    )
    code = "import assay.cli, assay.commands.runs, assay.session, assay.ui, assay.run.pipeline"
    assert _loaded(code, watch=watch) == []


_FIRST_CASE_SPY = """
import json, os, subprocess, sys, threading
WATCH = {watch!r}
events = []
real_start = threading.Thread.start
def start(self):
    events.append(["thread", self.name])
    real_start(self)
threading.Thread.start = start
class Spy(subprocess.Popen):  # a spy: it notes what is started, then starts it
    def __init__(self, args, *more, **kw):
        loaded = sorted(m for m in WATCH if m in sys.modules)
        events.append(["spawn", os.path.basename(str(args[0])), loaded])
        super().__init__(args, *more, **kw)
subprocess.Popen = Spy
from assay.transports import spawn
real_spawn = spawn.Spawner.spawn
def spawn_spy(self, executable, argv, *more, **kw):  # (a job started by posix_spawn)
    loaded = sorted(m for m in WATCH if m in sys.modules)
    events.append(["spawn", os.path.basename(str(argv[0])), loaded])
    return real_spawn(self, executable, argv, *more, **kw)
spawn.Spawner.spawn = spawn_spy
from {entry} import main
code = main(["run", "test_one.py", "--plain"])
print(json.dumps([code, events]))
"""


def _events_of_a_lone_case(tmp_path: Path, watch: tuple[str, ...], entry: str) -> list[Any]:
    """Run one trivial case through ``entry``'s ``main`` under the spy; the events it saw
    (threads started, processes spawned, each with which of ``watch`` were loaded then)."""
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'true'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CASE_SPY.format(watch=watch, entry=entry)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    code, events = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0
    return list(events)


def test_a_runs_first_case_starts_before_its_database_git_and_reports(tmp_path):
    # Only what the first case needs comes before it starts: the results database is
    # made, git is asked and the end's modules are imported while it runs (on a 2-core
    # machine each thread started before it takes the interpreter from the path to it).
    watch = ("sqlite3", "assay.results.db", "assay.results.report", "statistics")
    events = _events_of_a_lone_case(tmp_path, watch, "assay.cli")
    spawns = [e for e in events if e[0] == "spawn"]
    first_case = next(i for i, e in enumerate(events) if e[0] == "spawn" and e[1] != "git")
    assert events[first_case][2] == [], events[first_case]  # nothing of the end loaded yet
    before = events[:first_case]
    assert ["thread", "assay-git"] not in before and ["thread", "assay-results-open"] not in before
    assert not any(e[0] == "spawn" and e[1] == "git" for e in before), spawns
    # ... and all of it still happens: git was asked, the database made.
    assert any(e[0] == "spawn" and e[1] == "git" for e in events), spawns
    assert (tmp_path / ".assay" / "results.sqlite").exists()


def test_a_lone_case_starts_before_tempfile_random_toml_and_difflib_are_imported(tmp_path):
    # What only some runs need (the store's temporary files and samples, TOML reference
    # files, "did you mean" hints) waits until they need it: each is instructions before
    # the first case starts (17 M of 440 M, under callgrind).
    watch = ("tempfile", "random", "tomllib", "difflib")
    events = _events_of_a_lone_case(tmp_path, watch, "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_a_lone_case_starts_before_openssl_and_sysconfig_are_loaded(tmp_path):
    # hashlib loads OpenSSL's libcrypto (a large shared library) for the few short
    # digests made before the first case (its stage directory's name, say), and the
    # guard's standard-library paths came from sysconfig's build data: both only for
    # what can wait or has a builtin twin.
    watch = ("_hashlib", "sysconfig", "_sysconfigdata__linux_x86_64-linux-gnu")
    events = _events_of_a_lone_case(tmp_path, watch, "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_a_lone_case_starts_before_the_store_and_getpass_are_imported(tmp_path):
    # A case without store inputs only catches the store's errors (assay.errors has them):
    # the store's modules (blake3, mmap, the tree checks) wait until a case uses the
    # store, and the session's user name is found without getpass (termios): 20 M of
    # 377 M instructions before the first case, under callgrind.
    watch = ("assay.store.objects", "assay.store.stage", "assay.store.trees", "blake3")
    events = _events_of_a_lone_case(tmp_path, (*watch, "getpass"), "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_a_lone_case_starts_before_inspect_and_ast_are_imported(tmp_path):
    # dataclasses and asyncio import inspect (and with it ast and dis) and do not use it
    # before the first case: 7 % of the instructions until then (assay.deferinspect).
    # (ipaddress, deferred too, cannot be watched here: the spy imports pathlib first)
    # tokenize (linecache's, for a traceback's source lines), bz2 and lzma (shutil's, to learn
    # they are there) and copy (dataclasses') wait the same way.
    watch = ("inspect", "ast", "dis", "tokenize", "bz2", "lzma", "copy")
    events = _events_of_a_lone_case(tmp_path, watch, "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_the_store_error_is_one_class_wherever_it_is_imported_from():
    from assay import errors
    from assay.store import objects

    assert objects.StoreError is errors.StoreError
    assert issubclass(objects.Corrupt, errors.StoreError)


def test_a_lone_case_starts_before_typing_extensions_is_imported(tmp_path):
    # msgspec imports it for a get_type_hints only reading a Struct's annotations calls
    # (2 % of the instructions before a lone case starts): assay.defertyping.
    events = _events_of_a_lone_case(tmp_path, ("typing_extensions",), "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_a_lone_case_starts_before_logging_and_platform_are_imported(tmp_path):
    # asyncio and concurrent.futures import logging for their loggers, which log nothing on
    # a run's way to its first case, and uuid (msgspec's) platform to learn the system's
    # name: 1 % of the instructions until then each (assay.deferinspect). (urllib.parse,
    # deferred too, cannot be watched here: the spy imports pathlib first)
    events = _events_of_a_lone_case(tmp_path, ("logging", "platform"), "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_a_lone_case_starts_before_msgspecs_type_descriptions_are_imported(tmp_path):
    # msgspec imports msgspec.inspect and (for msgspec.json) msgspec._json_schema, which
    # assay never asks: 2 % of the instructions before a lone case starts (assay.defertyping).
    watch = ("msgspec.inspect", "msgspec._json_schema")
    events = _events_of_a_lone_case(tmp_path, watch, "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


_IMPORTED_IN = """
import json, sys, threading
WATCH = {watch!r}
where = {{}}
class Spy:  # notes which thread imports the watched modules; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        if name in WATCH and name not in where:
            where[name] = threading.current_thread().name
        return None
sys.meta_path.insert(0, Spy())
from assay.cli import main
code = main(["run", "test_one.py", "--plain"])
print(json.dumps([code, where]))
"""


def test_the_modules_of_a_runs_end_are_imported_while_its_first_case_runs(tmp_path):
    # The report's modules are imported in the background once the first case started,
    # not after the last one ended, while the user waits; statistics (with fractions and
    # random: some 5 M instructions) not at all by a run that sampled no metric twice
    # and has no scaling series (the report's samples and scaling tables are empty).
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'sleep 0.5'\n"
    )
    watch = ("assay.results.report", "statistics", "fractions")
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTED_IN.format(watch=watch)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    code, where = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0
    assert where == {"assay.results.report": "assay-warm-up"}


def test_a_run_that_records_nothing_never_imports_the_results_database(tmp_path):
    # results = "none": no database, so no history to plan with and nothing to record.
    # Naming the cases' series for a history that cannot exist imported the database's
    # modules with sqlite3 (~30 M instructions; before the first case of a run of several),
    # and the session's record its digest of the config (json).
    (tmp_path / "assay.toml").write_text(
        '[systems.local]\nresults = "none"\n[systems.local.partitions.default]\n'
    )
    watch = ("sqlite3", "assay.results.db", "assay.results.db.records")
    for cases in (1, 3):  # (a lone case plans without history: its own way)
        (tmp_path / "test_few.py").write_text(
            "import assay\nclass Few(assay.Test):\n"
            f"    i = assay.parameter(range({cases}))\n    command = 'true'\n"
        )
        code = (
            "from assay.entry import main\n"
            "assert main(['run', 'test_few.py', '--plain', '--prefix', 'p']) == 0"
        )
        assert _loaded(code, cwd=tmp_path, watch=watch) == [], cases
        report = json.loads((tmp_path / "p" / "latest" / "report.json").read_text())
        assert report["summary"]["passed"] == cases
        assert not (tmp_path / "p" / "results.sqlite").exists()


def test_a_run_from_the_entry_never_imports_click_or_the_other_commands(tmp_path):
    # `assay run` and `assay list` are read by the light parser (the same declarations
    # as the click commands): click and the command groups cost every run ~15 ms.
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'true'\n"
    )
    watch = ("click", "assay.cli", "assay.commands.results", "assay.commands.store")
    for command in (["run", "test_one.py", "--plain"], ["list", "test_one.py"]):
        code = f"from assay.entry import main\nassert main({command!r}) == 0"
        assert _loaded(code, cwd=tmp_path, watch=watch) == [], command


def test_a_run_the_light_parser_leaves_to_click_still_runs(tmp_path):
    # (-nOne: a value attached to a short option, which the light parser does not read)
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'true'\n"
    )
    code = (
        "from assay.entry import main\nassert main(['run', '-nOne', 'test_one.py', '--plain']) == 0"
    )
    assert _loaded(code, cwd=tmp_path, watch=("click",)) == ["click"]


_COLLECTIONS = """
import gc, json, sys
seen = []
def note(phase, info):
    if phase == "start" and started:
        seen.append(all(m in sys.modules for m in {needed!r}))
gc.callbacks.append(note)
started = False
from assay.entry import main
started = True
code = main(["run", "test_one.py", "--plain"])
print(json.dumps([code, seen, gc.isenabled()]))
"""


def test_the_collector_does_not_run_while_a_run_imports_its_modules(tmp_path):
    # Importing assay's modules makes no garbage worth collecting, yet its allocations
    # would start ~60 collections (~10% of the start-up's CPU): the collector is off until
    # they are in, and on again for the tests' own code and the run.
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'true'\n"
    )
    needed = ("assay.session.running", "assay.ui", "assay.run.runner")
    out = subprocess.run(
        [sys.executable, "-c", _COLLECTIONS.format(needed=needed)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    code, seen, enabled = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0 and enabled
    assert seen and all(seen), seen  # collections happened, none before the imports ended


def test_the_config_does_not_import_the_change_point_analysis():
    # The config holds detection's knobs, not its analysis (a 400-line module that only
    # sessions that measured use, at their end).
    assert _loaded("import assay.config", watch=("assay.results.changes",)) == []
    code = (
        "from assay.results.changes import Settings as A\n"
        "from assay.results.detection import Settings as B\nassert A is B"
    )
    _loaded(code)


def test_ctrl_c_while_a_run_imports_its_modules_ends_it_as_ctrl_c_does_later(tmp_path):
    # Fault injected: a module of the command that is interrupted while imported (as by a
    # Ctrl-C during the start-up). Exit 130 and no traceback, as with the full command line.
    (tmp_path / "interrupt_on_import.py").write_text("raise KeyboardInterrupt\n")
    code = (
        "import sys\nsys.path.insert(0, '.')\nfrom assay.commands import light\n"
        "light._MODULES['run'] += ('interrupt_on_import',)\n"
        "from assay.entry import main\nprint(main(['run', 'x.py', '--plain']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "130", out
    assert "Traceback" not in out.stderr


# Every call of compile() while a lone local case runs, but for a module's source (no
# bytecode cached) and the dataclass methods' code cache's misses (assay.codecache).
_COMPILES = """
import builtins, json, sys
calls = []
IMPORTS = ("importlib._bootstrap", "importlib._bootstrap_external", "_frozen_importlib",
           "_frozen_importlib_external")
real = builtins.compile
def recording(source, filename, mode, *args, **kwargs):
    caller = sys._getframe(1).f_globals.get("__name__")
    if caller not in IMPORTS and caller != "assay.codecache":
        calls.append([caller, mode, str(source)[:60]])
    return real(source, filename, mode, *args, **kwargs)
builtins.compile = recording
from assay.entry import main
code = main(["run", "test_one.py", "--plain"])
assert code == 0, code
print(json.dumps(calls))
"""


def test_a_lone_local_run_compiles_nothing(tmp_path):
    # The first compile() of a process sets up the ast module's classes (9 M instructions,
    # some 2% of a lone case's start): typing compiles every forward reference it is given
    # (msgspec's probe of ForwardRef, a NamedTuple's string annotations, a string in an
    # Annotated), none of which a run reads.
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'echo hello'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", _COMPILES], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_lone_case_starts_before_the_early_ssh_and_thread_pool_modules_load(tmp_path):
    # SSH connections begun early (assay.transports.ssh_early) are for configs that name
    # SSH hosts, and the recorder's thread pool (concurrent.futures.thread) starts once the
    # database is open: neither is on the path to a local case's start.
    watch = ("assay.transports.ssh_early", "concurrent.futures.thread")
    events = _events_of_a_lone_case(tmp_path, watch, "assay.entry")
    first_case = next(e for e in events if e[0] == "spawn" and e[1] != "git")
    assert first_case[2] == [], first_case


def test_a_first_session_on_sqlite_imports_neither_postgresql_nor_the_importer(tmp_path):
    # Its database is new: no session directory to import (the importer), and no URL of a
    # PostgreSQL server to show with its password hidden (postgres.redact: with random,
    # some 3 ms). Both were imported by every run. Any later session still imports what
    # the directories it finds need.
    (tmp_path / "test_one.py").write_text(
        "import assay\nclass One(assay.Test):\n    command = 'true'\n"
    )
    watch = ("assay.results.db.postgres", "assay.results.db.importer")
    code = "from assay.entry import main\nassert main(['run', 'test_one.py', '--plain']) == 0"
    assert _loaded(code, cwd=tmp_path, watch=watch) == []
    assert (tmp_path / ".assay" / "results.sqlite").is_file()
    history = subprocess.run(
        [sys.executable, "-m", "assay", "history", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert history.returncode == 0 and "One" in history.stdout, history.stderr


def test_a_run_with_history_opens_and_reads_its_database_without_random(tmp_path):
    # A run with history opens its results database and reads it before its first case;
    # random (the jitter of a wait for a locked database, only then) is not imported for
    # it: ~1 ms before the first case of every such run.
    target = tmp_path / "results.sqlite"
    made = (
        "import sys\nfrom assay.results.db import ResultsDB\nResultsDB.open(sys.argv[1]).close()\n"
    )
    subprocess.run([sys.executable, "-c", made, str(target)], check=True, cwd=tmp_path)
    opened = (
        "import sys\nfrom pathlib import Path\nfrom assay.results.recorder import Recorder\n"
        "recorder = Recorder.open(sys.argv[1], Path(sys.argv[2]))\n"
        "assert recorder.active\nrecorder.expected(['0' * 32])\n"
        "print('random' in sys.modules)\nrecorder.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", opened, str(target), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "False"
