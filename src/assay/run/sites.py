"""Where a partition's cases have their files: this machine, or a remote host.

A case always has a stage dir on this machine: the test's Python code (hooks, templates,
sanity, metrics) reads and writes there. On a local partition its jobs run there too. On a
remote partition (an SSH host) they run in a stage dir of the same name under the host's
workdir (``WORKDIR/sessions/SESSION/stage/CASE``):

* before the build and again before the run, what is new in the local stage dir is sent:
  the store's files (sources) as hard links to objects the host already has, or gets once
  (:mod:`assay.run.remote_inputs`), everything else (scripts, rendered inputs, files hooks
  wrote) as files, in one request;
* the comparison the test will make runs in the job, on the host, against the expected
  outputs checked out there; the spec names the host's paths;
* after a job, what comes back into the local stage dir is: the job's stdout and stderr
  (whole up to ``ssh.bring_back`` bytes, else their last that many bytes), the verdict of
  the comparison, the files ``keep_files`` names (whole), and the other files the run made
  or changed that are at most ``ssh.bring_back`` bytes (up to ``ssh.bring_back_total`` per
  case). Bigger outputs stay on the host;
* a case that passed has its remote stage dir removed; one that failed keeps it, and the
  summary says where (``HOST:PATH``); ``assay fetch CASE_ID`` brings it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import msgspec
from msgspec import field

from assay.define.artifact_refs import DEP_PREFIX
from assay.define.test import DependencyInfo
from assay.run import scripts
from assay.run.artifacts import SessionStore
from assay.run.keeping import inputs_written
from assay.transports.base import Staging, Transport

if TYPE_CHECKING:
    from assay.store.trees import Tree

VERDICT = scripts.COMPARE_VERDICT  # what a comparison made in the job found
COMPARE_SPEC = scripts.COMPARE_SPEC  # the comparison for the job to make


class CaseFiles(msgspec.Struct):
    """One case's files on both sides."""

    local: Path  # the stage dir on this machine
    job: PurePosixPath  # the stage dir where its jobs run
    linked: set[str] = field(default_factory=set)  # local read-only links into the store
    # Each linked store object's inode change time once staged (st_ctime_ns, by the object's
    # path): no process can set it back, so a job that wrote to the object through its link
    # and then restored its mode and modification time still changed it (see
    # run/artifacts.modified_inputs).
    changed: dict[str, tuple[int, int]] = field(default_factory=dict)  # (inode, ctime)
    trees: list[tuple[Tree, tuple[str, ...]]] = field(default_factory=list)  # not yet sent
    sent: dict[str, tuple[int, int]] = field(default_factory=dict)  # rel -> (size, mtime)
    baseline: dict[str, list[int]] = field(default_factory=dict)  # on the host, before a run
    notes: dict[str, str] = field(default_factory=dict)  # files that stayed there, or in part
    written: set[str] = field(default_factory=set)  # read-only links the host saw changed
    made: bool = True  # the stage dir where the jobs run is there (else: at the first send)
    fresh: bool = False  # ... and is made empty then
    staging: Staging | None = None  # files sent with the job's start: its baseline comes back


# What comes back after a job (:meth:`Site.bring_back`'s arguments): the files' names, the
# patterns of more, and whether the stage dir was made. Written as a call: the class form's
# annotations are strings here (``from __future__ import annotations``), which typing
# compiles, one by one, as the module loads; the first compile() of a run sets up the ast
# module's classes (some 9 M instructions before the first case starts).
Wanted = NamedTuple(  # noqa: UP014 - the class form compiles its annotations (above)
    "Wanted", [("names", Sequence[str]), ("patterns", Sequence[str]), ("made", bool)]
)


class Site(Protocol):
    """Where one partition's cases keep their files."""

    transport: Transport
    remote: bool

    def job_dir(self, local: Path) -> PurePosixPath:
        """Where the jobs of the case whose local stage dir is ``local`` run."""

    async def open(self, files: CaseFiles, fresh: bool) -> None:
        """Before setup: an empty stage dir where the jobs run (``fresh``), or the one an
        earlier runner left (``--resume``)."""

    async def stage(self, files: CaseFiles, tree: Tree, writable: Sequence[str]) -> None:
        """``tree`` (already hard-linked into the local stage dir) is to be in the case's
        stage dir where its jobs run."""

    async def artifact(self, store: SessionStore, name: str, tree: str) -> PurePath:
        """The read-only directory of an artifact's tree, where the jobs run."""

    async def fetch(self, path: PurePosixPath, local: Path) -> None:
        """Bring a file where the jobs run to this machine (a ``dep:`` layer)."""

    async def ship(self, local: Path, store: SessionStore) -> None:
        """A dependency that ran on this machine, in stage dir ``local``: its files (but
        assay's own) are to be at :meth:`job_dir` of it, where the jobs run."""

    async def comparison(
        self, files: CaseFiles, store: SessionStore, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The comparison spec the job runs, for the one sanity will make (``spec``)."""

    async def send(
        self, files: CaseFiles, with_job: bool = False, back: Wanted | None = None
    ) -> Staging | None:
        """Make the stage dir where the jobs run hold what the local one holds; with
        ``with_job`` (the scheduler :attr:`~Scheduler.takes_staging`) what is left to
        write may come back as a :class:`Staging` for the job's start to write, which
        also brings ``back`` what the job leaves as it ends."""

    async def bring_back(
        self, files: CaseFiles, names: Sequence[str], patterns: Sequence[str], made: bool = True
    ) -> None:
        """After a job: bring its logs (``names``), the files ``patterns`` match and (with
        ``made``) the small files it made into the local stage dir."""

    async def inputs_written(
        self, files: CaseFiles, linked: Sequence[tuple[str, str]]
    ) -> str | None:
        """At cleanup: why the case fails if it wrote through its read-only links into a
        store (the damaged objects set aside first), or None."""

    async def finish(self, files: CaseFiles, keep: bool) -> str | None:
        """After cleanup: remove the remote stage dir, or keep it and say where it is."""

    async def space_note(self, files: CaseFiles) -> str | None:
        """For a failed case: that the file system it ran in is full there, or None."""

    def discard(self, job_dir: PurePosixPath) -> None:
        """A kept stage dir is no longer needed (its last dependent is done)."""


class LocalSite:
    """This machine: the stage dir is where the jobs run; nothing to send or bring back."""

    remote = False

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def job_dir(self, local: Path) -> PurePosixPath:
        # This machine's path is already a POSIX one: the same object (so that the
        # case's files are built once, CaseState._files).
        return local if isinstance(local, PurePosixPath) else PurePosixPath(local)

    async def open(self, files: CaseFiles, fresh: bool) -> None:
        pass

    async def stage(self, files: CaseFiles, tree: Tree, writable: Sequence[str]) -> None:
        pass

    async def artifact(self, store: SessionStore, name: str, tree: str) -> PurePath:
        return await store.checkout(name, tree)

    async def fetch(self, path: PurePosixPath, local: Path) -> None:
        pass

    async def ship(self, local: Path, store: SessionStore) -> None:
        pass

    async def comparison(
        self, files: CaseFiles, store: SessionStore, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        return dict(spec)

    async def send(
        self, files: CaseFiles, with_job: bool = False, back: Wanted | None = None
    ) -> Staging | None:
        return None

    async def bring_back(
        self, files: CaseFiles, names: Sequence[str], patterns: Sequence[str], made: bool = True
    ) -> None:
        pass

    async def inputs_written(
        self, files: CaseFiles, linked: Sequence[tuple[str, str]]
    ) -> str | None:
        return inputs_written(linked, files.changed)

    async def finish(self, files: CaseFiles, keep: bool) -> str | None:
        return None

    async def space_note(self, files: CaseFiles) -> str | None:
        return None  # (this machine's disk: the user sees it)

    def discard(self, job_dir: PurePosixPath) -> None:
        pass


async def fetch_dependency_layers(
    site: Site, layers: Sequence[str], dependencies: Sequence[DependencyInfo]
) -> None:
    """``dep:`` layers a dependency made on a remote host: a copy here, to import."""
    if not site.remote:
        return
    for text in layers:
        if not text.startswith(DEP_PREFIX):
            continue
        test, _, rel = text[len(DEP_PREFIX) :].partition("/")
        for dep in dependencies:
            if dep.test == test and rel and not dep.shipped:  # shipped: the original is here
                try:
                    await site.fetch(PurePosixPath(dep.stage_dir) / rel, dep.local_copy / rel)
                except FileNotFoundError:
                    pass  # the layer's own check says what is missing


__all__ = [
    "COMPARE_SPEC",
    "VERDICT",
    "CaseFiles",
    "LocalSite",
    "Site",
    "Wanted",
    "scripts",
]
