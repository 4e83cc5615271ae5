"""The actual outputs without the files that are not outputs (inputs staged beside them,
the runner's own scripts and logs), as a directory a user's command can be given as
``{actual}``: ``diff -r {expected} {actual}`` then sees only outputs.

The view is a tree of hard links made beside the actual directory (never a copy of the
data; a symbolic link where a hard link cannot be made), removed when the command is done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Set


@contextlib.contextmanager
def outputs_view(actual: str, not_outputs: Set[str]) -> Iterator[str]:
    """``actual`` itself when nothing is to be left out (or it is no directory), else a
    view of it without ``not_outputs`` (relative paths with ``/``)."""
    if not not_outputs or not os.path.isdir(actual):
        yield actual
        return
    parent = os.path.dirname(os.path.abspath(actual))
    try:
        view = tempfile.mkdtemp(prefix=".assay-outputs-", dir=parent)
    except OSError:  # the parent is not writable: links from elsewhere are symbolic ones
        view = tempfile.mkdtemp(prefix="assay-outputs-")
    try:
        _mirror(actual, view, not_outputs)
        yield view
    finally:
        shutil.rmtree(view, ignore_errors=True)  # (made here by mkdtemp: only our links)


def _mirror(source: str, view: str, left_out: Set[str]) -> None:
    for folder, dirs, files in os.walk(source):
        rel_dir = os.path.relpath(folder, source)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        target_dir = os.path.join(view, rel_dir) if rel_dir else view
        for name in sorted(dirs):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path, target = os.path.join(folder, name), os.path.join(target_dir, name)
            if not os.path.islink(path):
                os.mkdir(target)
            elif rel not in left_out:  # (os.walk does not enter it) the view links to it
                os.symlink(os.path.realpath(path), target)
        for name in files:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel in left_out:
                continue
            path, target = os.path.join(folder, name), os.path.join(target_dir, name)
            if os.path.islink(path):
                os.symlink(os.path.realpath(path), target)
                continue
            try:
                os.link(path, target)
            except OSError:  # another file system, or links not allowed here
                os.symlink(os.path.abspath(path), target)
    # A directory that held only what is left out is left out too (deepest first); one that
    # is empty in the actual outputs stays.
    for folder, dirs, _ in os.walk(view, topdown=False):
        for name in dirs:
            path = os.path.join(folder, name)
            if os.path.islink(path) or os.listdir(path):
                continue
            with contextlib.suppress(OSError):
                if os.listdir(os.path.join(source, os.path.relpath(path, view))):
                    os.rmdir(path)
