"""Files below a case's directory: paths kept inside it, its listing, what a run left
worth bringing back, and removal."""

from __future__ import annotations

import errno
import os
import shutil
import stat

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any


def below(base: str, rel: str, real: str | None = None) -> str:
    """``base/rel``, refused when ``rel`` could lead out of ``base`` (absolute, ``..``, or
    through a symbolic link already there). ``real``: ``base`` resolved, if known."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OSError(errno.EINVAL, "not a relative path below the directory", rel)
    real = os.path.realpath(base) if real is None else real
    if len(parts) == 1:  # straight in the directory: its own resolved path
        return os.path.join(real, rel)
    parent = os.path.realpath(os.path.join(base, *parts[:-1]))
    if parent != real and not parent.startswith(real + os.sep):
        raise OSError(errno.EINVAL, "leads out of the directory", rel)
    return os.path.join(parent, parts[-1])


def files_below(base: str) -> dict[str, list[int]]:
    """Every regular file below ``base``: relative path -> [size, mtime in ns]."""
    found = {}
    for folder, _dirs, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[os.path.relpath(path, base)] = [info.st_size, info.st_mtime_ns]
    return found


def collect(
    base: str,
    names: list[str],
    patterns: list[str],
    baseline: dict[str, list[int]],
    max_file: int,
    max_total: int,
    max_kept: int | None = None,
    kept_left: list[list[Any]] | None = None,
) -> tuple[list[tuple[str, bytes, int, int]], list[list[Any]]]:
    """What a run left in ``base`` that is worth bringing back, as (relative path, content,
    size, permission bits) and the files left where they are as [path, size]:

    * the files ``names`` (a job's own logs): whole, or their last ``max_file`` bytes;
    * the files matching ``patterns`` (``keep_files``): whole, while ``max_kept`` bytes
      last (the others go to ``kept_left``);
    * the files new or changed since ``baseline`` (:func:`files_below` before the run):
      whole if at most ``max_file`` bytes, while the case's ``max_total`` lasts.
    """
    now = files_below(base)
    out: list[tuple[str, bytes, int, int]] = []
    left: list[list[Any]] = []
    taken: set[str] = set()
    budget = max_total
    kept_budget = max_kept

    def take(rel: str, limit: int | None) -> int:
        size = now[rel][0]
        with open(os.path.join(base, rel), "rb") as fh:
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)  # a program stays one
            if limit is not None and size > limit:
                fh.seek(size - limit)
            data = fh.read()
        taken.add(rel)
        out.append((rel, data, size, mode))
        return len(data)

    for rel in names:
        if rel in now:
            budget -= take(rel, max_file)
    real = os.path.realpath(base)
    for pattern in patterns:
        import pathlib  # only for keep_files: not at every agent start

        for path in sorted(pathlib.Path(base).glob(pattern)):
            if not os.path.realpath(path).startswith(real + os.sep):
                continue  # a pattern or a link that leads out of the directory
            rel = path.relative_to(base).as_posix()
            if rel in now and rel not in taken:
                if kept_budget is not None and now[rel][0] > kept_budget:
                    taken.add(rel)
                    if kept_left is not None:
                        kept_left.append([rel, now[rel][0]])
                    continue
                size = take(rel, None)
                budget -= size
                if kept_budget is not None:
                    kept_budget -= size
    for rel in sorted(now):
        if rel in taken or baseline.get(rel) == now[rel]:
            continue
        size = now[rel][0]
        if size <= max_file and size <= budget:
            budget -= take(rel, None)
        else:
            left.append([rel, size])
    return out, left


def rmtree(path: str) -> None:
    def writable(func, target, _exc):  # type: ignore[no-untyped-def]
        os.chmod(os.path.dirname(target), 0o700)  # a read-only dir of the job's
        func(target)

    shutil.rmtree(path, onerror=writable)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
