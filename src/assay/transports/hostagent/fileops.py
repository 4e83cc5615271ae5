"""The daemon's file requests (a mixin of :class:`.daemon.Daemon`): writes, reads, case
directories, removal inside the session's roots, and what a run left."""

from __future__ import annotations

import base64
import errno
import os
import stat

from .files import below, collect, files_below, rmtree

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any


class FileOps:
    """The ``op_*`` file requests; removal only strictly below one of :attr:`roots`."""

    roots: list[str]

    def inside_roots(self, path: str) -> str:
        """``path``, resolved, if it lies strictly below one of the session's roots: what
        the agent may remove (a wrong path must never cost the user their home)."""
        # The path itself is not resolved: a link is removed, never what it points to.
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        for root in self.roots:
            if real != root and real.startswith(root.rstrip("/") + "/"):
                return path
        raise OSError(errno.EPERM, "not below the work directory, not removed", path)

    def op_write(self, m: dict[str, Any]) -> dict[str, Any]:
        data = base64.b64decode(m["data"])
        fd = os.open(m["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
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
        the directory itself was just made."""
        base = m["dir"]
        real = os.path.realpath(base)  # once per request, not twice per file
        folders = {real} if made else set()  # made already: no mkdir per file
        for entry in m["files"]:
            path = below(base, entry["path"], real)
            folder = os.path.dirname(path)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            self.op_write({"path": path, "data": entry["data"], "mode": entry.get("mode")})
        return {}

    def op_read(self, m: dict[str, Any]) -> dict[str, Any]:
        limit = m.get("limit")
        with open(m["path"], "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if limit is not None and size > limit:
                fh.seek(size - int(limit))
            data = fh.read()
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
