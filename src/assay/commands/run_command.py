"""What ``assay run`` and ``assay list`` do with what they were given (the same for the
click commands of :mod:`assay.commands.runs` and the light path of
:mod:`assay.commands.light`). No click here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import UsageError

if TYPE_CHECKING:
    from assay.transports.ssh_early import EarlyHosts


def _request(**kw: Any) -> Any:
    from assay.select import Selection  # lazy: start-up time (2 ms)
    from assay.session import Request  # lazy: start-up time (the session: 125 ms)

    selection = Selection(
        names=kw.pop("names"),
        exclude=kw.pop("exclude"),
        tags=kw.pop("tags"),
        exclude_tags=kw.pop("exclude_tags"),
        params=kw.pop("params"),
        partitions=kw.pop("partitions"),
        environments=kw.pop("environments"),
        ids=kw.pop("ids"),
    )
    return Request(selection=selection, **kw)


def run(**kw: Any) -> int:
    """Run the tests in PATHS (files or directories) and report the results."""
    return run_begun(begin(kw), **kw)


def begin(kw: dict[str, Any]) -> Any:
    """The SSH hosts of ``run`` with ``kw``, begun now (:mod:`assay.transports.ssh_early`),
    or None: they are connected to while the session's modules load and the tests are
    read. Whoever begins them hands them to :func:`run_begun` or abandons them."""
    cancel_alone = kw["cancel_running"] and not kw["exit_first"]
    return _early_hosts(kw) if kw["paths"] and not cancel_alone else None


def run_begun(early: Any, **kw: Any) -> int:
    """:func:`run`, its SSH hosts begun already (``early``, from :func:`begin`)."""
    try:
        return _run(early, **kw)
    except BaseException:
        if early is not None:
            early.abandon()  # (once the session has it, it closes it itself)
        raise


def _early_hosts(kw: dict[str, Any]) -> Any:
    """The run's SSH hosts, connected to while it loads (:mod:`assay.transports.ssh_early`)."""
    from assay.select import Selection  # lazy: start-up time (2 ms)

    wanted = Selection(partitions=kw["partitions"])
    return early_hosts(kw["config"], kw["system"], wanted.partition_ok)


def early_hosts(
    config: str | None, system: str | None, partition_ok: Callable[[str, str], bool]
) -> EarlyHosts | None:
    """The run's SSH hosts begun early: those of the partitions of its system that the
    selection can include, as the config names them; None if there are none, or if the
    config cannot be read (the run then says why, as it always did)."""
    from assay.config import load_config

    try:
        loaded = load_config(config)
        name, _ = loaded.system(system)
        hosts = [
            p.config.ssh
            for p in loaded.partitions(name)
            if p.config.transport == "ssh"
            and p.config.ssh is not None
            and partition_ok(name, p.name)
        ]
    except Exception:
        return None
    if not hosts:  # (most runs: the connections' machinery is not imported)
        return None
    from assay.transports.ssh_early import EarlyHosts

    return EarlyHosts(hosts)


def _run(early: Any, **kw: Any) -> int:
    from assay import session  # lazy: start-up time (the session: 125 ms)
    from assay.run.runner import RunOptions  # lazy: start-up time (with the session)
    from assay.ui import RerunHint, make_display  # lazy: start-up time (ui: 28 ms)

    if kw["resume"] and not kw["paths"]:
        original = session.resume_arguments(Path(kw["prefix"] or ".assay"))
        from assay.cli import main  # the whole command line again, as first given

        return main(["run", "--resume", *original[1:]])
    if kw["cancel_running"] and not kw["exit_first"]:
        raise UsageError(
            "--cancel-running without --exit-first: it says what the first failure does to "
            "the cases running then",
            hint="add --exit-first, or drop --cancel-running",
        )
    kw["options"] = RunOptions(
        max_retries=kw.pop("max_retries"),
        serial=kw.pop("serial"),
        keep_stage=kw.pop("keep_stage"),
        max_cases=kw.pop("max_cases"),
        exit_first=kw.pop("exit_first"),
        cancel_running=kw.pop("cancel_running"),
    )
    display = make_display(kw.pop("plain"), kw.pop("full"))
    request = _request(**kw)
    hint = RerunHint(request.config, request.system, request.settings, request.prefix)
    return int(session.run(request, display, hint, early))


def list_cases(verbose: bool, as_json: bool, **kw: Any) -> int:
    """List the cases PATHS would run, without running them."""
    from assay import listing, session  # lazy: start-up time (the session: 125 ms)

    request = _request(**kw)
    prepared = session.prepare(request)
    names = request.selection.names
    return listing.show(prepared, verbose=verbose, as_json=as_json, names=names)
