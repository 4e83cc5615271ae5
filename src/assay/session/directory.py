"""The session's directory and its record: a new one under the prefix, or with
``--resume`` the newest one and what its journal recorded."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from assay._version import __version__
from assay.config import Config
from assay.errors import UsageError
from assay.files import point_link, write_atomic
from assay.owned import check_owned_dir, check_prefix, read_owned
from assay.results.journal import Recovered, recover
from assay.results.model import Problem, Session
from assay.session.request import Prepared, Request, prefix_of

COMMAND_FILE = "command.json"


def resumable_session(prefix: Path) -> Path:
    """The newest session under ``prefix``, to finish with ``--resume``."""
    latest = prefix / "latest"
    if not latest.exists():
        raise UsageError(
            f"--resume: no session to resume under {prefix}",
            hint="--resume finishes the newest session; give --prefix if it is elsewhere",
        )
    directory = latest.resolve()
    check_owned_dir(directory, "--resume")  # its journal says what to kill and follow
    return directory


def resume_arguments(prefix: Path) -> list[str]:
    """The arguments the newest session was started with (``assay run --resume`` alone)."""
    path = resumable_session(prefix) / COMMAND_FILE
    try:
        import json  # (here: no run needs it before its first case)

        argv = json.loads(read_owned(path, "--resume") or b"")
    except ValueError as exc:
        raise UsageError(f"--resume: cannot read {path}: {exc}") from None
    return [a for a in argv if a not in ("--resume",)]


def _session_dir(request: Request, config: Config, system: str) -> tuple[str, Path]:
    prefix = prefix_of(request, config, system)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    session_id = f"{stamp}-{os.urandom(2).hex()}"
    directory = (prefix / "runs" / session_id).absolute()
    try:
        directory.mkdir(parents=True)
    except OSError as exc:  # (a file in the way, no such place, no permission, full disk)
        raise UsageError(
            f"--prefix {prefix}: cannot make the session directory {directory}: "
            f"{exc.strerror or exc}",
            hint="give --prefix (or prefix in the config) a directory you can write to; "
            "the default is .assay in the current directory",
        ) from None
    return session_id, directory


def open_directory(
    request: Request, config: Config, system: str
) -> tuple[str, Path, Recovered | None]:
    """The session's id and directory: a new one, or with ``--resume`` the newest one and
    what its journal recorded."""
    check_prefix(prefix_of(request, config, system))  # before anything is written there
    if request.resume:
        directory = resumable_session(prefix_of(request, config, system))
        return directory.name, directory, recover(directory, owned="--resume")
    session_id, directory = _session_dir(request, config, system)
    write_atomic(directory / COMMAND_FILE, _command_json(sys.argv[1:]))
    # "latest" points here from the start, so a killed runner's session can be resumed.
    point_link(directory.parent.parent / "latest", os.path.join("runs", session_id))
    return session_id, directory, None


def new_session(request: Request, prepared: Prepared, session_id: str, directory: Path) -> Session:
    """The record of this session, before any case ran."""
    return Session(
        id=session_id,
        started=time.time(),
        command=["assay", *sys.argv[1:]],
        cwd=os.getcwd(),
        system=prepared.system,
        config=prepared.config.source,
        hostname=os.uname().nodename,
        user=_user(),
        version=__version__,
        directory=str(directory),
        options={
            "max_retries": request.options.max_retries,
            "serial": request.options.serial,
            "keep_stage": request.options.keep_stage,
            "max_cases": request.options.max_cases,
            "exit_first": request.options.exit_first,
            "cancel_running": request.options.cancel_running,
            "settings": list(request.settings),
            "repeat": request.repeat,
            "fail_on_regression": request.fail_on_regression,
        },
        problems=[Problem(p.location, p.message, p.test) for p in prepared.problems],
    )


def _user() -> str:
    """The user's name, as :func:`getpass.getuser` finds it (the variables it reads, in its
    order, then the password database), without importing getpass (and termios) before the
    first case starts."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return str(os.getuid())


def _command_json(args: list[str]) -> bytes:
    """``args`` as a JSON array, ASCII only as json writes it: through msgspec when every
    argument is ASCII (json's modules are not imported before a run's first case), else
    through json (which escapes the rest, bytes that are not UTF-8 among them)."""
    if all(arg.isascii() for arg in args):
        import msgspec

        return msgspec.json.encode(args)
    import json

    return json.dumps(args).encode()
