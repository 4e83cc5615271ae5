"""What ``assay store ...`` prints: each function does one command and returns an exit code.

Stored names, link targets, notes and sources may hold any character but NUL (and ``/`` in
a name): each is printed through :func:`shown`, control characters written ``\\xHH``, so a
newline cannot fake a line nor an escape sequence take over the terminal.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click

from assay import terminal
from assay.store.names import Version
from assay.store.objects import StoreError, blob_kind
from assay.store.store import Store
from assay.store.trees import Diff
from assay.terminal import echo


def size(n: float) -> str:
    """1.2 MB, 340 kB, 12 B (decimal units, as disk tools print them)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def put(
    store: Store,
    name: str,
    path: Path,
    overlays: Sequence[Path],
    message: str | None,
    tags: Sequence[str],
) -> int:
    result = store.put(name, path, message, overlays, tags)
    version, imported = result.version, result.imported
    if not result.created:
        echo(f"{version.ref}  (unchanged: the same tree as the newest version)")
    else:
        echo(
            f"{version.ref}  ({imported.new_files:,} of {imported.files:,} files new, "
            f"{size(imported.new_bytes)} stored, {size(imported.read_bytes)} read)"
        )
    return 0


def ls(store: Store, names: Sequence[str]) -> int:
    chosen = list(names) or store.refs.names()
    if not chosen:
        made = store.root.is_dir()
        echo(
            f"the store at {store.root} is empty" if made else f"there is no store at {store.root}"
        )
        return 0
    owners = _owners(store)
    rows = [("NAME", "VERSIONS", "NEWEST", "CREATED", "FILES", "SIZE", "UNIQUE", "TAGS")]
    damage: list[str] = []
    for name in chosen:
        versions, problems = store.refs.scan(name)
        damage.extend(problems)
        if not versions:
            if problems:
                continue
            store.resolve(name)  # raises with the names that do exist
        newest = versions[-1]
        try:
            tags = ", ".join(f"{t}@{v}" for t, v in sorted(store.refs.tags(name).items()))
        except StoreError as exc:
            damage.append(str(exc))
            tags = "?"
        unique = sum(sz for (kind, digest), (who, sz) in owners.items() if who == {name})
        rows.append(
            (
                name,
                str(len(versions)),
                f"@{newest.version}",
                _when(newest.created),
                f"{newest.files:,}",
                size(newest.bytes),
                size(unique),
                tags,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for problem in damage:
        echo(f"assay: warning: {problem}", err=True)
    if damage:
        echo("assay: warning: run `assay store verify` for the whole picture", err=True)
    return 0


def _owners(store: Store) -> dict[tuple[str, str], tuple[set[str], int]]:
    """For every stored object, which names reach it and its size (for UNIQUE)."""
    owners: dict[tuple[str, str], tuple[set[str], int]] = {}
    for name in store.refs.names():
        for version in store.refs.scan(name)[0]:
            try:
                tree = store.tree(version.tree)
            except StoreError:  # a damaged store still lists; `verify` says what is wrong
                continue
            for entry in tree.entries:
                if entry.type != "file" or entry.hash is None:
                    continue
                pieces = (
                    [(blob_kind(entry.executable), entry.hash, entry.size)]
                    if entry.chunks is None
                    else [("chunks", h, n) for h, n in entry.chunks]
                )
                for kind, digest, n in pieces:
                    who, _ = owners.setdefault((kind, digest), (set(), n))
                    who.add(name)
    return owners


def show(store: Store, ref: str, against: str | None, files: bool) -> int:
    version = store.resolve(ref)
    _describe(version)
    store.check_root(version.tree)  # a damaged version says so (diffs read no more than this)
    if against is not None:
        other_ref = f"{version.name}{against}" if against.startswith(("@", "#")) else against
        other = store.resolve(other_ref)
        _print_diff(other, version, store.diff(other.tree, version.tree))
    elif files:
        for entry in store.tree(version.tree).entries:
            kind = {"dir": "d", "symlink": "l"}.get(entry.type, "-")
            extra = f" -> {terminal.line(entry.target or '')}" if entry.type == "symlink" else ""
            name = terminal.line(entry.path)
            line = f"{kind} {entry.mode:04o} {size(entry.size):>9}  {name}{extra}"
            click.echo(line)
    return 0


def _describe(version: Version) -> None:
    click.echo(f"{version.ref}")
    click.echo(f"  tree:     {version.tree}")
    who = terminal.line(f"{version.user}@{version.host}")
    click.echo(f"  created:  {_when(version.created)} by {who}")
    click.echo(
        f"  files:    {version.files:,} ({size(version.bytes)}; "
        f"{size(version.new_bytes)} new when stored)"
    )
    if version.source:
        kind = terminal.line(version.source_kind or "")
        click.echo(f"  source:   {terminal.line(version.source)} ({kind})")
    for label, value in (
        ("archive", version.archive_hash),
        ("commit", version.git_commit),
        ("message", version.message),
    ):
        if value:
            click.echo(f"  {label + ':':<9} {terminal.line(value)}")


def _print_diff(old: Version, new: Version, changes: Diff) -> None:
    echo(f"changes from {old.ref} to {new.ref}:")
    if changes.empty:
        echo("  none: the same tree")
        return
    for entry in changes.added:
        click.echo(f"  + {terminal.line(entry.path)}  ({size(entry.size)})")
    for entry in changes.removed:
        click.echo(f"  - {terminal.line(entry.path)}")
    for before, after in changes.changed:
        note = "mode" if before.hash == after.hash else f"{size(before.size)} -> {size(after.size)}"
        click.echo(f"  ~ {terminal.line(after.path)}  ({note})")
    click.echo(
        f"  {len(changes.added)} added, {len(changes.removed)} removed, "
        f"{len(changes.changed)} changed; {size(changes.changed_bytes())} of new content"
    )


def get(store: Store, ref: str, target: Path) -> int:
    if target.exists() and not target.is_dir():
        raise click.UsageError(f"{target} is not a directory; give a new or empty directory")
    if target.exists() and any(target.iterdir()):
        raise click.UsageError(f"{target} is not empty; give a new or empty directory")
    version = store.get(ref, target)
    echo(f"{version.ref} -> {target} ({version.files:,} files, {size(version.bytes)})")
    return 0


def tag(store: Store, ref: str, name: str) -> int:
    version = store.tag(ref, name)
    echo(f"{version.name}#{name} -> {version.ref}")
    return 0


def gc(store: Store, keep: int, dry_run: bool) -> int:
    report = store.gc(keep, dry_run)
    verb = "would remove" if dry_run else "removed"
    echo(
        f"{verb} {len(report.versions)} version(s), {report.objects:,} object(s) and "
        f"{report.checkouts} checkout(s), freeing up to {size(report.bytes)}"
    )
    for version in report.versions:
        echo(f"  {version.ref}  ({_when(version.created)})")
    if report.leases:
        echo(
            f"kept {report.leased_trees} tree(s) that {report.leases} running session(s) or "
            "transfer(s) use"
        )
    if report.expired_leases:
        echo(
            f"{'would expire' if dry_run else 'expired'} {report.expired_leases} lease(s) of "
            "processes that are gone"
        )
    if report.quarantined:
        click.echo(
            f"{verb} {report.quarantined} damaged object(s) set aside in quarantine/ more than "
            "a week ago"
        )
    return 0


SHOWN_PATHS = 20  # damaged paths listed per version or checkout unless --full


def verify(store: Store, repair: bool, full: bool = False) -> int:
    """Exit 0 when nothing is damaged, 1 when something is (after ``--repair`` too: a
    repaired version still lacks its objects until it is put again)."""
    report = store.verify(repair)
    echo(
        f"checked {report.checked:,} object(s) and {report.checked_checkouts:,} checkout(s) "
        f"in {store.root}"
    )
    for item in report.corrupt:
        echo(f"  corrupt: {item}" + ("  (removed)" if repair else ""))
    for item in report.missing:
        echo(f"  missing: {item}")
    for record in report.records:
        click.echo(f"  unreadable: {terminal.line(record)}")
    for ref, paths in report.versions.items():
        if len(paths) == 1 and paths[0].startswith("("):  # the tree itself: every path
            click.echo(f"  damaged version: {ref}: {terminal.line(paths[0][1:-1])}  (put it again)")
            continue
        echo(f"  damaged version: {ref}: {_count(paths, 'path')}  (put it again)")
        _list(paths, full)
    for tree, problems in report.checkouts.items():
        note = "  (dropped: the next run checks it out again)" if repair else ""
        echo(f"  damaged checkout: checkouts/{tree}: {_count(problems, 'problem')}{note}")
        _list(problems, full)
    if report.clean:
        echo("no damage found")
        return 0
    echo(
        f"found {len(report.corrupt)} corrupt object(s), {len(report.missing)} missing "
        f"object(s), {len(report.versions)} damaged version(s), {len(report.checkouts)} "
        f"damaged checkout(s), {len(report.records)} unreadable record(s)"
    )
    if not repair and (report.corrupt or report.checkouts):
        echo(
            "run `assay store verify --repair` to remove the damaged objects and checkouts, "
            "then put the damaged versions again from their sources"
        )
    elif report.versions:
        echo("put the damaged versions again from their sources to restore them")
    return 1


def _count(items: Sequence[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _list(items: Sequence[str], full: bool) -> None:
    listed = items if full else items[:SHOWN_PATHS]
    for item in listed:
        click.echo(f"      {terminal.line(item)}")
    if len(listed) < len(items):
        click.echo(f"      ... and {len(items) - len(listed)} more (--full lists them all)")
