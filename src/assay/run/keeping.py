"""What a case leaves behind: the files kept in its output dir, and a check that it did not
write through its read-only links into the store."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from assay.compare import beneath
from assay.compare.binary import not_a_file
from assay.define.output import Output
from assay.files import link_or_copy
from assay.run import scripts
from assay.run.access import with_access
from assay.run.artifacts import modified_inputs


def inputs_written(
    linked: Sequence[tuple[str, str]], changed: Mapping[str, tuple[int, int]] | None = None
) -> str | None:
    """A job can write through a read-only hard link into the store (root; or any owner of
    the objects, after chmod u+w): catch it, keep the damaged objects from being used
    again, and say which files (None: all is well). ``changed``: see
    :func:`~assay.run.artifacts.modified_inputs`."""
    if not linked:
        return None
    touched, set_aside = modified_inputs(linked, changed)
    if not touched and not set_aside:
        return None
    from assay.store.objects import quarantine  # lazy: the store waits until used

    for rel, blob in linked:
        if rel in touched:
            quarantine(Path(blob))
    said = [written_message(touched)] if touched else []
    if set_aside:
        said.append(
            f"read-only inputs ({_names(set_aside)}) were set aside as damaged while this "
            "case ran (another case wrote to them through its links): this case may have "
            "read them so; run it again"
        )
    return "; ".join(said)


def written_message(touched: Sequence[str]) -> str:
    """The failure of a case that wrote through read-only links (``touched``)."""
    return (
        f"the test wrote to read-only inputs ({_names(touched)}); declare them in "
        "writable = [...] so that the case gets private copies"
    )


def _names(rels: Sequence[str]) -> str:
    return ", ".join(rels[:5]) + (f" and {len(rels) - 5} more" if len(rels) > 5 else "")


def kept_files(
    stage_dir: Path, entries: set[str], out: Output | None, keep: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The stage-relative files that go to the output dir, and keep_files that matched none."""
    names = [n for n in scripts.OWN_FILES if n in entries]
    if out is not None:  # compared outputs are kept: reports and `assay bless` use them
        names += out.compared_files()
    problems = []
    for pattern in keep:
        if PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
            # A kept file is moved (a passing case) or linked over itself (a failing one,
            # whose output dir is as deep as its stage dir): out there, that is data lost.
            problems.append(f"keep_files: {pattern!r} leaves the stage dir; name its files")
            continue
        if not usable(pattern):  # pathlib's glob fails on them (ValueError, IndexError)
            problems.append(
                f"keep_files: {pattern!r} names no file of the stage dir; give globs of its "
                "files, such as '*.log' or 'results/**/*'"
            )
            continue
        matched = sorted(stage_dir.glob(pattern))
        if not matched and (stage_dir / pattern).is_symlink():  # glob skips a dangling link
            problems.append(_no_file_matched(stage_dir, pattern, [stage_dir / pattern]))
        elif not matched:
            problems.append(f"keep_files: {pattern!r} matched no file in the stage dir")
        elif not any(m.is_file() for m in matched):
            problems.append(_no_file_matched(stage_dir, pattern, matched))
        for m in matched:
            rel = m.relative_to(stage_dir)
            link = _link_on_the_way(stage_dir, rel)
            if link is not None:
                problems.append(
                    f"keep_files: {pattern!r} matched {rel} through the link {link}, whose "
                    f"files are not the stage dir's (not kept); name files of the stage dir"
                )
            elif m.is_file():
                names.append(str(rel))
    return list(dict.fromkeys(names)), problems  # each file once, in order


def _no_file_matched(stage_dir: Path, pattern: str, matched: list[Path]) -> str:
    """Why ``pattern`` keeps nothing: it matched directories only (whose files a glob of
    them would keep), or something that is no file at all (a FIFO, a link to nothing)."""
    others = [m for m in matched if not m.is_dir()]
    if others:  # no directory glob can help: say what it is
        first = others[0]
        rel = first.relative_to(stage_dir)
        what = "a link to nothing" if not first.exists() else f"a {_kind(first)}"
        more = f" (and {len(others) - 1} more of no regular file)" if len(others) > 1 else ""
        return (
            f"keep_files: {pattern!r} matched {rel}, {what}, not a regular file{more}: "
            "only regular files are kept; name the files the test writes"
        )
    dirs = ", ".join(str(m.relative_to(stage_dir)) for m in matched[:3])
    more = f" and {len(matched) - 3} more" if len(matched) > 3 else ""
    inside = f"{pattern.rstrip('/')}/**/*"
    return (
        f"keep_files: {pattern!r} matched only directories ({dirs}{more}), whose files "
        f"are not kept by it; name their files, such as {inside!r}"
    )


def _kind(path: Path) -> str:
    try:
        return not_a_file(str(path)) or "regular file"
    except OSError:  # gone since the glob saw it
        return "file that is gone"


def usable(pattern: str) -> bool:
    """Whether a ``keep_files`` pattern can name a file at all (not ``""`` nor ``"."``)."""
    return bool(pattern.strip()) and bool(PurePosixPath(pattern).parts)


def _link_on_the_way(stage_dir: Path, rel: Path) -> Path | None:
    """The first directory of ``rel`` (below ``stage_dir``) that is a symbolic link."""
    for depth in range(1, len(rel.parts)):
        parent = Path(*rel.parts[:depth])
        if (stage_dir / parent).is_symlink():
            return parent
    return None


def keep_file(
    stage_fd: int, stage_dir: Path, name: str, output_dir: Path, move: bool
) -> str | None:
    """Move (``move``) or link, or copy, the stage dir's file ``name`` to ``output_dir``,
    taken from its directory opened beneath the stage dir (``stage_fd``): a link on the
    way that leads out of it, swapped in since ``name`` was chosen, is refused, and
    nothing out there is moved or copied. What went wrong, for the case's failure."""
    dst = output_dir / name
    folder, _, base = name.rpartition("/")
    if folder:
        dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        where = with_access(
            stage_fd,
            lambda: beneath.open_beneath(stage_fd, folder, beneath.STEP, root=str(stage_dir)),
        )
    except beneath.LeadsOut as exc:
        return (
            f"keep_files: {name} lies through a symbolic link to {exc.real}, outside the "
            "stage dir (not kept); name files of the stage dir"
        )
    try:
        if move:
            with_access(stage_fd, lambda: os.replace(base, dst, src_dir_fd=where))
        else:
            with_access(stage_fd, lambda: link_or_copy(base, dst, src_dir_fd=where))
    finally:
        os.close(where)
    return None
