"""How a command's end becomes the process's exit code and what it says: for the full
command line (:mod:`assay.cli`) and the light paths (:mod:`assay.commands.light`,
:mod:`assay.quick_transfer`) alike. No click here: click's own exceptions can only have
been raised if click was imported.

Exit codes: 0 everything passed, 1 some case failed or a test file could not be
loaded, 2 a usage or configuration error, 3 a bug in assay itself, 128+N when
interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import errno
import os
import sys

from assay import terminal
from assay.errors import AssayError
from assay.guard import Interrupted

EXIT_INTERNAL = 3


def _traceback() -> None:
    """The current exception's traceback on stderr; what its message quotes is shown, not
    obeyed by the terminal."""
    import traceback  # lazy: errors only (with linecache and tokenize)

    terminal.echo(traceback.format_exc().rstrip("\n"), err=True)


def report_error(exc: BaseException, debug: bool) -> int:
    """Say what ended a command (called in its ``except`` block) and return the exit code;
    what is not an error of a command (``SystemExit``) is raised again."""
    click = sys.modules.get("click")  # (not imported: none of its exceptions was raised)
    if click is not None:
        if isinstance(exc, click.exceptions.Exit):
            return int(exc.exit_code)
        if isinstance(exc, click.ClickException):
            import io

            shown = io.StringIO()
            exc.show(file=shown)  # the usage and the message, which may quote a hostile argument
            if isinstance(exc, click.NoSuchOption):
                from assay.commands.reframe_options import assay_option

                ours = assay_option(exc.option_name)
                if ours is not None:
                    shown.write(f"  hint: {ours}\n")
            terminal.echo(shown.getvalue().rstrip("\n"), err=True)
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 130
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, AssayError):
        if debug:
            _traceback()
        terminal.echo(f"assay: error: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, Interrupted):  # a signal while a test file was imported
        return 128 + exc.signum
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        # Out of descriptors wherever it struck (a module imported in a thread, a file the
        # runner opened): the limit is the user's to raise, not a bug of assay.
        if debug:
            _traceback()
        _out_of_descriptors(exc)
        return 2
    if not isinstance(exc, Exception):
        raise exc
    _traceback()
    terminal.echo(
        "assay: internal error: this is a bug in assay; please report it with the traceback above",
        err=True,
    )
    return EXIT_INTERNAL


def _out_of_descriptors(exc: OSError) -> None:
    """Say that this process ran out of file descriptors, where, and how to get more;
    written straight to stderr: importing anything (click) may need a descriptor too."""
    where = "" if exc.filename is None else f" opening {exc.filename}"
    if exc.errno == errno.ENFILE:
        message = f"the system's table of open files is full{where}"
        hint = "close programs that hold many files, or raise the system's limit (fs.file-max)"
    else:
        message = f"too many open files{where}{_fd_limit()}"
        hint = (
            "raise the limit (e.g. `ulimit -n 4096` before running assay),"
            " or run fewer cases at once (--max-jobs)"
        )
    sys.stderr.write(terminal.lines(f"assay: error: {message}\n  hint: {hint}") + "\n")
    sys.stderr.flush()


def _fd_limit() -> str:
    """`` (ulimit -n is N)``, or nothing where that cannot be learnt (sysconf: no module to
    import, which would need a descriptor itself)."""
    try:
        soft = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return ""
    return f" (ulimit -n is {soft})" if soft > 0 else ""
