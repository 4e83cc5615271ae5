"""``assay fetch CASE_ID``: bring a case's stage dir kept on a remote host into its output dir.

A case that failed on a remote partition keeps its stage dir on the host (only its logs,
verdicts and small files came back); the report records where (``remote_dir``,
``HOST:PATH``). This reconnects with the partition's SSH settings from the config and copies
that directory whole into the case's local output dir (files already there are replaced).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from assay.config import load_config
from assay.errors import UsageError
from assay.owned import check_prefix, read_owned
from assay.transports.base import TransportError
from assay.transports.download import Downloaded


def find_case(prefix: Path, case_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest session's report and its one case whose id starts with ``case_id``."""
    path = prefix / "latest" / "report.json"
    check_prefix(prefix)  # the report says where to write: only one no one else could change
    try:
        text = read_owned(path, "fetch")
        if text is None:
            raise FileNotFoundError(path)
        report = json.loads(text)
        cases = report["cases"]
    except FileNotFoundError:
        raise UsageError(f"fetch: no session under {prefix} ({path} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"fetch: cannot read {path}: {exc}") from None
    found = [c for c in cases if str(c.get("id", "")).startswith(case_id)]
    if len(found) != 1:
        what = "no case" if not found else f"{len(found)} cases"
        raise UsageError(
            f"fetch: {what} of the newest session ({path}) has an id starting with {case_id!r}",
            hint="the failure summary shows each case's id in [brackets]",
        )
    return report, found[0]


def fetch(prefix: Path, case_id: str, config_file: str | None = None) -> tuple[Path, list[str]]:
    """Copy the case's remote stage dir into its output dir; that dir, and notes on what
    was not copied."""
    report, case = find_case(prefix, case_id)
    where = case.get("remote_dir")
    output = case.get("output_dir")
    if not where or not output:
        raise UsageError(
            f"fetch: {case['name']} [{case['id']}] kept nothing on a remote host"
            + (f"; its files are in {output}" if output else "")
        )
    _inside_session(prefix, str(output))
    config = load_config(config_file)
    system = config.systems.get(case["system"])
    partition = system.partitions.get(case["partition"]) if system else None
    if partition is None or partition.ssh is None:
        raise UsageError(
            f"fetch: the config ({config.source}) has no SSH partition "
            f"{case['system']}:{case['partition']} any more, which ran {case['name']}",
            hint="give the config the session ran with: assay fetch -c FILE ID",
        )
    path = PurePosixPath(where.partition(":")[2])
    target = Path(output)
    try:
        done = asyncio.run(_copy(partition.ssh, path, target, report["session"]["id"]))
    except TransportError as exc:
        raise UsageError(f"fetch: partition {case['system']}:{case['partition']}: {exc}") from None
    except FileNotFoundError:
        raise UsageError(f"fetch: {where} is gone (removed on the host since the run)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"fetch: cannot copy {where} into {target}: {exc}") from None
    notes = []
    if done.links_left_out:
        notes.append(
            f"left out {len(done.links_left_out)} symbolic link(s) pointing outside the case's "
            f"directory: {', '.join(done.links_left_out)}"
        )
    if done.skipped:
        notes.append(f"not copied (devices, sockets or pipes): {', '.join(done.skipped)}")
    return target, notes


def _inside_session(prefix: Path, output: str) -> None:
    """Refuse an output dir that is not one of the newest session's own (``output/NAME``):
    the files fetched there come from the host, and a report edited to name another
    directory (``~/.ssh``) would have them written there."""
    session = (prefix / "latest").resolve()
    target = Path(os.path.realpath(output))
    if target.parent != session / "output":
        raise UsageError(
            f"fetch: the report names {output} as the case's output dir, which is not in "
            f"{session / 'output'}; nothing is fetched",
            hint="the report was changed after the run: run the case again",
        )


async def _copy(ssh: Any, path: PurePosixPath, target: Path, session: str) -> Downloaded:
    from assay.transports.ssh import SshTransport  # lazy: start-up time (asyncssh: ~100 ms)

    transport = SshTransport(ssh, session=f"fetch-{session}", workdirs=[ssh.workdir])
    await transport.connect()
    try:
        landing = target.parent / f".fetch-{secrets.token_hex(4)}"
        try:
            done = await transport.get_tree(path, landing)
            target.mkdir(parents=True, exist_ok=True)
            for entry in landing.iterdir():
                destination = target / entry.name
                if destination.is_dir() and not destination.is_symlink():
                    shutil.rmtree(destination)
                elif destination.exists() or destination.is_symlink():
                    destination.unlink()
                entry.rename(destination)
        finally:
            shutil.rmtree(landing, ignore_errors=True)
    finally:
        await transport.close()
    return done
