"""The base class of every compiled suite test: staging a case, rendering its template,
comparing its outputs."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.define.hooks import after, before
from assay.define.output import Output, comparison_spec
from assay.define.suite_confine import leads_out, outside_message, refuse_links_out
from assay.define.suite_new import compare_case, lacks_expected
from assay.define.test import Test
from assay.errors import SanityError
from assay.guard import own, running
from assay.results.model import COMPARED_ANYWAY


@dataclass(frozen=True)
class CaseDir:
    """A reference case: a directory of inputs holding its expected outputs."""

    name: str
    path: Path

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class CaseFile:
    """A reference case of flat golden-file pairs: an input file and, named after it, the
    file holding its expected output (``x.txt`` and ``x.html``)."""

    name: str  # the input's stem (or more of its path, to be unique): the case's name
    path: Path  # the input file, staged into the stage dir under its own name
    expected: Path | None  # the expected output file (None: expected = false, it has none)
    folder: str = "."  # the input's directory, relative to the suite file
    folder_name: str = ""  # that directory's own name (a Pygments lexer's alias)
    beside: tuple[Path, ...] = ()  # files staged with the input (its options: x.opts)

    def __str__(self) -> str:
        return self.name

    def words(self) -> dict[str, str]:
        """``{input}`` (the staged input) and ``{output}`` (the file the command writes,
        named as the expected file): names in the stage dir, where the command runs; one
        that starts with ``-`` gets ``./`` so that a command cannot take it for an option.
        ``{stem}``: the input's name without its last suffix (a wrapper's ``x.opts``).
        ``{dir}`` and ``{dir_name}``: where the input is in the suite, and that directory's
        name (words only: the directory is not staged)."""
        words = {
            "input": _not_option(self.path.name),
            "stem": _not_option(self.path.stem),
            "dir": _not_option(self.folder),
            "dir_name": _not_option(self.folder_name),
        }
        if self.expected is not None:  # (expected = false: no {output}, refused at load)
            words["output"] = _not_option(self.expected.name)
        return words


def _not_option(name: str) -> str:
    return f"./{name}" if name.startswith("-") else name


Case = CaseDir | CaseFile
"""A suite's reference case: a directory, or a pair of files."""


class SuiteTest(Test):
    """What every compiled suite test shares: staging the case, rendering, comparing."""

    abstract = True
    suite_file: Path = Path()
    expected_name: str = "expected"
    compare_spec: dict[str, Any] | None = None
    group_compare: dict[str, dict[str, Any]] = {}  # case name -> its group's comparison
    templates: tuple[tuple[Path, str], ...] = ()  # (template, the file it is rendered into)
    inputs: Path | None = None
    expected_pattern: str | None = None
    format_words: tuple[str, ...] = ()  # names each case gives the command (pairs: WORDS)
    case_source: str | None = None  # the source that is this case's own directory

    # The methods the runner calls as test code are assay's own here (a suite file holds no
    # Python): not guarded as test code is (:func:`assay.guard.own`).
    @before("setup")
    @own
    def _suite_inputs(self) -> None:
        """A case's inputs are its directory without the expected outputs."""
        sources = []
        case = self.params.get("case")
        _confined(self, case)
        if isinstance(case, CaseDir):
            sources.append(str(case.path))
            self.case_source = str(case.path)
            self.exclude_sources = [*self.exclude_sources, self.expected_name]
        elif isinstance(case, CaseFile):
            sources.append(str(case.path))  # the input alone: not its neighbours,
            sources.extend(str(p) for p in case.beside)  # but for those named in `beside`
        if self.inputs is not None:
            sources.append(str(self.inputs))
        self.sources = sources + list(self.sources or [])

    # Paths assay found itself (the checks of the test's fields need not run again).
    _suite_inputs.keeps_fields_valid = True  # type: ignore[attr-defined]

    @after("setup")
    @own
    def _render_template(self) -> None:
        if not self.templates:
            return
        # A template is the suite author's code (Jinja reaches Python objects): guarded.
        with running():
            for template, output in self.templates:
                _render(self, template, self.stage_dir / output)

    def _format_values(self) -> dict[str, Any]:
        values = super()._format_values()
        case = self.params.get("case")
        if isinstance(case, CaseFile):
            values.update(case.words())
        return values

    @own
    def inputs_made(self) -> list[str]:
        """Files of the stage dir that are inputs though not staged: rendered templates."""
        return [output for _, output in self.templates]

    def expected_dir(self) -> Path | None:
        """Where this case's expected outputs are, if it has any."""
        case = self.params.get("case")
        if isinstance(case, CaseDir):
            return _below(case.path, self.expected_name)
        if isinstance(case, CaseFile):
            return case.expected
        if self.expected_pattern is not None:
            return self.suite_file.parent / self.format(self.expected_pattern, quote=False)
        return None

    def case_compare(self) -> dict[str, Any] | None:
        """How this case's outputs are compared: its group's ``compare``, else the suite's."""
        case = self.params.get("case")
        if isinstance(case, CaseDir | CaseFile) and case.name in self.group_compare:
            return self.group_compare[case.name]
        return self.compare_spec

    @own
    def sanity(self, out: Output) -> None:
        expected, spec = self.expected_dir(), self.case_compare()
        if spec is not None and expected is not None:
            compare_case(out, self.params.get("case"), self.case, expected, spec)

    # It only compares (the runner may run it beside its event loop: run/beside_loop.py).
    sanity.compares_only = True  # type: ignore[attr-defined]

    @own
    def differences_anyway(self, out: Output) -> str | None:
        """After a run whose exit code is not accepted: what comparing the outputs shows
        (the comparison is recorded, marked as not deciding the verdict)."""
        expected, spec = self.expected_dir(), self.case_compare()
        # (A pair's expected outputs are one file: the directory's check alone skipped them.)
        if spec is None or expected is None or not (expected.is_dir() or expected.is_file()):
            return None
        before = len(out.comparisons)
        try:
            compare_case(out, self.params.get("case"), self.case, expected, spec)
        except SanityError as exc:
            text = f"{COMPARED_ANYWAY}: {exc}"
            return f"{text}\n{exc.details}" if exc.details else text
        finally:
            for verdict in out.comparisons[before:]:
                verdict["judged"] = False
        return f"{COMPARED_ANYWAY}: equal to the expected ones"

    @own
    def job_comparison(self) -> dict[str, Any] | None:
        """The comparison ``sanity`` will make, for a scheduler that runs it in the job."""
        expected, spec = self.expected_dir(), self.case_compare()
        if spec is None or expected is None:
            return None
        if lacks_expected(self.params.get("case"), expected, spec):
            return None  # nothing to send: sanity says what is missing
        return comparison_spec(expected, self.stage_dir, **spec)


def _confined(test: SuiteTest, case: object) -> None:
    """Fail a case whose directory (its expected outputs too), inputs or a sweep point's
    expected directory hold a link out of the suite's directory (:mod:`.suite_confine`):
    before anything is staged from them or read through them."""
    suite_dir = test.suite_file.parent
    folders: list[tuple[Path, str, str | None]] = []  # (folder, what, below it: followed)
    if isinstance(case, CaseDir):
        folders.append((case.path, "case directory", Path(test.expected_name).as_posix()))
    if test.inputs is not None:
        folders.append((test.inputs, "inputs directory", None))
    if test.expected_pattern is not None and not isinstance(case, CaseDir | CaseFile):
        expected = test.expected_dir()
        if expected is not None:
            real = leads_out(expected, suite_dir)
            if real is not None:
                raise SanityError(outside_message("expected directory", expected, real, suite_dir))
            folders.append((expected, "expected directory", ""))
    for folder, what, follow in folders:
        problem = refuse_links_out(folder, suite_dir, what, follow)
        if problem is not None:
            raise SanityError(problem)


@functools.lru_cache(maxsize=1024)
def _below(path: Path, name: str) -> Path:
    """``path / name``, made once: a case's expected dir is asked for twice a case (which
    of the loop or a thread compares, then the comparison), and a pathlib join is a dozen
    Python calls."""
    return path / name


def _render(test: SuiteTest, template: Path, target: Path) -> None:
    import jinja2  # lazy: start-up time (jinja2: 28 ms; only templated suites need it)
    import jinja2.exceptions
    import jinja2.sandbox

    # Sandboxed: a plain environment lets a template reach any Python object
    # ({{ cycler.__init__.__globals__.os.system(...) }}), so a suite file (data, whose
    # commands run as the case's job, without root's capabilities) would run code in the
    # runner itself. The sandbox keeps what templates of inputs need (values, filters, loops).
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=_confined_loader(template.parent, test.suite_file.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # inputs of scientific codes, not HTML
    )
    values = test._format_values()
    try:
        text = env.get_template(template.name).render(**values)
    except jinja2.exceptions.SecurityError as exc:
        raise SanityError(
            f"template {template.name}: {str(exc).rstrip('.')}: a template may use the "
            "values it is given, filters and loops, not Python's internals"
        ) from None
    except jinja2.TemplateError as exc:
        raise SanityError(f"template {template.name}: {exc}") from None
    _write_inside(test.stage_dir, target, text.encode())


def _confined_loader(folder: Path, suite_dir: Path) -> Any:
    """A loader of the templates in ``folder`` (``{% include %}`` too) that reads only
    regular files inside the suite's directory: a link beside the template that leads out
    (``inc.txt -> /root/secret``) would put a file the case's job cannot read into its input,
    read with the runner's privileges; a FIFO would hold the runner."""
    import jinja2
    from jinja2.loaders import split_template_path

    class Confined(jinja2.FileSystemLoader):
        def get_source(self, environment: Any, template: str) -> Any:
            path = Path(folder, *split_template_path(template))  # ('..' is not found)
            real = leads_out(path, suite_dir)
            if real is not None:
                raise SanityError(outside_message("template", path, real, suite_dir))
            if os.path.lexists(path) and not path.is_file():
                raise SanityError(f"template {path}: not a regular file")
            return super().get_source(environment, template)

    return Confined(folder)


def _write_inside(stage_dir: Path, target: Path, data: bytes) -> None:
    """``data`` in a new file at ``target`` (below ``stage_dir``, whose names the suite
    compiler checked), never through a link staged from the inputs: neither at its name
    nor at a directory on the way."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not parent.resolve().is_relative_to(stage_dir.resolve()):
        raise SanityError(
            f"template output {target.relative_to(stage_dir)}: its directory is a link out "
            "of the stage dir (staged from the inputs); rename one of them"
        )
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
