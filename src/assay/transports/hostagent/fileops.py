"""The daemon's file requests (a mixin of :class:`.daemon.Daemon`): writes, reads, case
directories, removal inside the session's roots, and what a run left."""

from __future__ import annotations

import base64
import errno
import os
import stat

from .files import (
    collect,
    create,
    create_at,
    dir_below,
    files_below,
    open_dir,
    parts_below,
    read_regular,
    rmtree,
)

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any


class FileOps:
    """The ``op_*`` file requests; removal only strictly below one of :attr:`roots`."""

    roots: list[str]
    root_names: list[str]  # the roots as the runner named them (their links not resolved)

    def root_above(self, path: str) -> str | None:
        """The session root ``path`` lies below (as named, or resolved), if any."""
        for root in (*self.root_names, *self.roots):
            if path.startswith(root.rstrip("/") + "/"):
                return root
        return None

    def inside_roots(self, path: str) -> str:
        """``path``, resolved, if it lies strictly below one of the session's roots: what
        the agent may remove (a wrong path must never cost the user their home)."""
        # The path itself is not resolved: a link is removed, never what it points to.
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        for root in self.roots:
            if real != root and real.startswith(root.rstrip("/") + "/"):
                return path
        raise OSError(errno.EPERM, "not below the work directory, not removed", path)

    def op_write(self, m: dict[str, Any], dir_fd: int | None = None) -> dict[str, Any]:
        """Write a file anew: never through what is at its name (a job may have left a link
        to a file of the user's there); ``dir_fd``: the directory ``path`` is a name in."""
        data = base64.b64decode(m["data"])
        fd = create(m["path"]) if dir_fd is None else create_at(dir_fd, m["path"])
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            mode = m.get("mode")
            if mode is not None:
                os.fchmod(fd, int(mode))
        finally:
            os.close(fd)
        return {}

    def op_prepare(self, m: dict[str, Any]) -> dict[str, Any]:
        """A case's directory in one request: made afresh (``fresh``), its small files
        written, and what it then holds listed (the baseline of what a run adds)."""
        base = m["dir"]
        if m.get("fresh"):
            self.op_remove({"path": base})
        os.makedirs(base, exist_ok=True)
        self.op_write_files(m, made=True)
        return {"files": files_below(base)}

    def op_write_files(self, m: dict[str, Any], made: bool = False) -> dict[str, Any]:
        """Several small files under one directory (a case's scripts and inputs); ``made``:
        the directory itself was just made. Written beneath the directory's descriptor, one
        component at a time: a job that ran there (a build) may have left links at the
        names, or on the way, or in the directory's own place; none is followed."""
        base = m["dir"]
        if not made:
            os.makedirs(base, exist_ok=True)
        base_fd = open_dir(base)
        folders: dict[str, int] = {}
        try:
            for entry in m["files"]:
                parts = parts_below(entry["path"])
                parent, name = "/".join(parts[:-1]), parts[-1]
                try:
                    if parent and parent not in folders:
                        folders[parent] = dir_below(base_fd, parts[:-1], make=True)
                    self.op_write(
                        {"path": name, "data": entry["data"], "mode": entry.get("mode")},
                        dir_fd=folders[parent] if parent else base_fd,
                    )
                except OSError as exc:
                    raise _link_named(exc, base, parts) from None
        finally:
            for fd in folders.values():
                os.close(fd)
            os.close(base_fd)
        return {}

    def op_read(self, m: dict[str, Any]) -> dict[str, Any]:
        # A job's file (a status, an output a dependent fetches): a regular file, not a
        # link at its name, nor a FIFO; its last ``limit`` bytes at most. Below a session's
        # root, no link on the way is followed either: a job may have swapped a directory
        # of its case (the one a dependent fetches from) for a link to the user's files.
        path = m["path"]
        data, size = read_regular(path, m.get("limit"), self.root_above(path))
        return {"data": base64.b64encode(data).decode(), "size": size}

    def op_mkdir(self, m: dict[str, Any]) -> dict[str, Any]:
        os.makedirs(m["path"], exist_ok=True)
        return {}

    def op_remove(self, m: dict[str, Any]) -> dict[str, Any]:
        """Remove ``path``; or each of ``paths``, answering those that could not be removed
        (one request for the stage dirs of many cases)."""
        if "paths" in m:
            failed = []
            for path in m["paths"]:
                try:
                    self.op_remove({"path": path})
                except OSError as exc:
                    failed.append([path, exc.strerror or str(exc)])
            return {"failed": failed}
        path = m["path"]
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return {}
        self.inside_roots(path)
        if stat.S_ISDIR(info.st_mode):
            rmtree(path)
        else:
            os.unlink(path)
        return {}

    def op_rename(self, m: dict[str, Any]) -> dict[str, Any]:
        os.replace(m["source"], m["target"])
        return {}

    def op_stat(self, m: dict[str, Any]) -> dict[str, Any]:
        try:
            info = os.stat(m["path"])
        except FileNotFoundError:
            return {"exists": False}
        return {"exists": True, "size": info.st_size, "dir": stat.S_ISDIR(info.st_mode)}

    def op_snapshot(self, m: dict[str, Any]) -> dict[str, Any]:
        """Every file below a directory: relative path -> [size, mtime in ns]."""
        return {"files": files_below(m["dir"])}

    def op_collect(self, m: dict[str, Any]) -> dict[str, Any]:
        kept_left: list[list[Any]] = []
        found, left = collect(
            m["dir"],
            m.get("names") or [],
            m.get("patterns") or [],
            m.get("baseline") or {},
            int(m["max_file"]),
            int(m["max_total"]),
            m.get("max_kept"),
            kept_left,
        )
        files = [
            {"path": rel, "data": base64.b64encode(data).decode(), "size": size, "mode": mode}
            for rel, data, size, mode in found
        ]
        return {"files": files, "left": left, "kept_left": kept_left}


def _link_named(exc: OSError, base: str, parts: list[str]) -> OSError:
    """``exc``, said as what it is when a link on the way (or at the name) stopped it:
    which file of the request, and that the link is not followed."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
        for i in range(1, len(parts) + 1):
            if os.path.islink(os.path.join(base, *parts[:i])):
                where = "/".join(parts[:i])
                return OSError(
                    exc.errno,
                    f"{'/'.join(parts)} leads out of the directory: {where} is a link "
                    "(a job left it there); links are not followed",
                )
    return exc
