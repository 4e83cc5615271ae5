"""The setup stage: a fresh stage dir, the test's instance, its sources and artifacts."""

from __future__ import annotations

import errno
import functools
import os
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from assay import guard, overrun
from assay.define.definition import check_fields
from assay.define.field_checks import source_globs
from assay.define.fields import as_list
from assay.define.source_checks import resembling
from assay.define.test import CaseInfo, Test, bind
from assay.errors import AssayError, StoreError
from assay.files import fresh_dir, real_ancestors, stage_identity
from assay.results.model import SOURCES, ArtifactUse
from assay.run import scripts
from assay.run.artifacts import ArtifactError, copy_small, note_changes
from assay.run.bucket_inputs import from_bucket
from assay.run.case_state import CaseState
from assay.run.context import RunContext, StageFailed
from assay.run.root_inputs import copies_needed
from assay.run.sites import fetch_dependency_layers

if TYPE_CHECKING:
    from assay.run.ahead import Made
    from assay.store.trees import Tree


class SetupStage(CaseState):
    """The setup stage of :class:`~assay.run.pipeline.Execution`."""

    async def setup(self) -> None:
        case = self.case
        if self.attach is not None and not (self.stage_dir / scripts.RUN_SCRIPT).exists():
            self.attach = None  # nothing to follow: run it from the start
        made = None
        if self.attach is None:
            ahead = self.ctx.ahead
            if ahead is not None and self.attempt == 1:
                made = ahead.take(case.key)
            if made is None:
                fresh_dir(self.stage_dir)
        self.stage_ident = stage_identity(self.stage_dir)
        if made is not None and self.stage_ident != made.ident:
            made = None  # (not the directory made ahead: made anew, empty)
            fresh_dir(self.stage_dir)
            self.stage_ident = stage_identity(self.stage_dir)
        if self.ctx.module_checks is not None and not self.site.remote:
            # On a remote host the job scripts' own module lines fail the case (exit 96).
            problem = await self.ctx.module_checks.problem(case.environment, case.env_config)
            if problem is not None:
                raise StageFailed(*problem)
        await self.site.open(self.files, fresh=self.attach is None)
        for dep in self.dependencies:
            if dep.shipped and dep.local_dir is not None:
                try:
                    await self.site.ship(dep.local_dir, self.ctx.store)
                except (StoreError, OSError) as exc:  # its files, not the test's code
                    raise StageFailed(
                        f"dependency {dep.name} cannot be sent to partition "
                        f"{case.partition.full_name}'s host ({self.site.transport.host}): {exc}"
                    ) from None
        # The output dir is made at cleanup: one left by an earlier attempt, or by a runner
        # that was interrupted (this is --resume), is stale.
        # (One system call for the usual: there is none. Not os.path.lexists, whose failed
        # lstat raises and catches a FileNotFoundError per case: what faccessat without
        # following a link answers, as a plain False.)
        if os.access(self.output_dir, os.F_OK, follow_symlinks=False):
            shutil.rmtree(self.output_dir, ignore_errors=True)
        info = CaseInfo(
            name=case.name,
            id=case.id,
            variant=case.variant.name,
            system=case.partition.system,
            partition=case.partition.name,
            environment=case.environment,
            stage_dir=self.stage_dir,
            output_dir=self.output_dir,
            attempt=self.attempt,
            env_config=case.env_config,
            dependencies=self.dependencies,
            job_dir=self.job_dir if self.site.remote else None,
        )
        # The class's own __init__ (etc.) runs in bind under the guard; with none, no code
        # of the test's runs there: no process state to keep and put back.
        scope = (
            guard.running(self.printed, overrun.code_limit(case.test))
            if code_binds(case.test)
            else nullcontext()
        )
        with scope:
            self.test = test = bind(
                case.test, case.variant.params, case.overrides, info, case.variant.fields
            )
        self._hooks("before", "setup")
        if _may_change_fields(case.test):
            with guard.running(self.printed, overrun.code_limit(test)):
                problems = check_fields(test, case.test._assay.metrics)
            if problems:
                raise StageFailed("invalid test attributes: " + "; ".join(problems))
        if self.attach is None:  # a resumed case's stage dir already holds its inputs
            await self._stage_sources(test, made)
            if self.ctx.spares and not test.build and self._runs_here():
                # The job's stdout and stderr: files an earlier case left empty, moved
                # here (a new file costs more than a move; see run/spares.py).
                self.ctx.spares.take(self.stage_dir, self.stage_ident)
        await self._artifacts(test, info)
        self.result.artifacts += self.sources  # after the artifacts: theirs come first
        if self.ctx.ahead is not None:  # the next cases' stage dirs, while this one runs
            self.ctx.ahead.advance()

    async def _artifacts(self, test: Test, info: CaseInfo) -> None:
        """Unpack (once per session) the artifacts the test names; export $ASSAY_<NAME>."""
        if not test.artifacts:
            return
        base = _folder(self.case.test._assay.file or ".")
        exported = {}
        remote = self.case.partition.config
        for name, layers in test.artifacts.items():
            if remote.store_remote is not None and from_bucket(as_list(layers)):
                try:
                    where, use, line = await self.ctx.bucket.prepare(
                        remote.store_remote,
                        as_list(layers)[0],
                        name,
                        self.stage_dir,
                        self.job_dir,
                        remote.store_remote_expiry,
                    )
                except AssayError as exc:
                    raise StageFailed(f"artifact {name!r}: {exc}") from None
                info.artifacts[name] = where
                self.result.artifacts.append(use)
                self.fetch_lines.append(line)
                exported[f"ASSAY_{name.upper()}"] = str(where)
                continue
            try:
                await fetch_dependency_layers(self.site, as_list(layers), info.dependencies)
                tree, used = await self.ctx.store.artifact_tree(
                    name, as_list(layers), base, info.dependencies
                )
                if copies_needed(self.site.remote):
                    info.artifacts[name] = await self._artifact_copy(name, tree)
                else:
                    info.artifacts[name] = await self.site.artifact(self.ctx.store, name, tree)
            except ArtifactError as exc:
                raise StageFailed(str(exc)) from None
            self.result.artifacts += [
                ArtifactUse(name, i, ref, layer) for i, (ref, layer) in enumerate(used)
            ]
            exported[f"ASSAY_{name.upper()}"] = str(info.artifacts[name])
        test.env = {**exported, **test.env}

    async def _artifact_copy(self, name: str, tree: str) -> Path:
        """The case's own read-only copy of an artifact's tree, in its stage dir (the shared
        checkout's files are the store's objects, which this case could write through)."""
        folder = f".assay-artifact-{name}"  # an assay name: no source may hold it
        target = self.stage_dir / folder
        if target.is_symlink() or (os.path.lexists(target) and not target.is_dir()):
            target.unlink()  # (resumed: what a job left there is not followed)
        paths = await self.ctx.store.copy_tree(tree, target)
        self.inputs.extend(f"{folder}/{path}" for path in paths)  # not outputs
        return self.stage_dir / folder

    async def _stage_sources(self, test: Test, made: Made | None = None) -> None:
        """Hard-link the test's sources from the store (a directory's contents, or a file);
        ``writable`` paths get private copies. A suite case's own small directory, run
        here, is copied instead (:func:`copy_small`), or was copied before the case's slot
        (``made``: :mod:`assay.run.ahead`). Each source's tree is recorded."""
        sources = as_list(test.sources)
        if not sources:
            if made is not None and made.copied is not None:
                self._not_made_ahead()
            return
        exclude = source_globs(as_list(test.exclude_sources))
        writable = source_globs(as_list(test.writable))
        for layer, source in enumerate(sources):
            src = Path(test.format(source, quote=False))
            if not src.is_absolute():  # (a suite case's own directory is absolute)
                src = _folder(self.case.test._assay.file or ".") / src
            copied = None
            if made is not None and made.copied is not None:
                if self._copies(test, source) and made.fits(str(src), exclude, writable):
                    copied = made.copied  # (checked as here and as copy_small checks)
                else:  # setup arrived at other sources: not those copied
                    self._not_made_ahead()
                made = None
            if copied is None and _holds_session(src, self.ctx, source):
                raise StageFailed(
                    f"sources: {source!r} holds this run's session directory "
                    f"({self.ctx.stage_root.parent}): each stage dir would get a copy of the "
                    "runs; name the source files or directories, or put sessions elsewhere "
                    "(--prefix, or prefix in the config)"
                )
            try:
                if copied is None and self._copies(test, source):
                    copied = await copy_small(src, self.stage_dir, exclude, writable)
                if copied is not None:
                    tree, digest = copied.tree, copied.digest
                    _no_assay_names(source, tree)  # before any script is written there
                    self.read_only_copies += copied.read_only
                else:
                    tree = await self.ctx.store.source_tree(src, exclude)
                    _no_assay_names(source, tree)
                    link = not copies_needed(self.site.remote)
                    staged = await self.ctx.store.stage(tree, self.stage_dir, writable, link)
                    digest = await self.ctx.store.source_digest(src, exclude, tree)
                    self.linked.extend(staged.linked_paths)
                    self.files.linked.update(rel for rel, _ in staged.linked_paths)
                    if not self.site.remote:  # (a host's own check: RemoteSite)
                        note_changes(staged.linked_paths, self.files.changed)
                    await self.site.stage(self.files, tree, writable)
            except StoreError as exc:
                raise StageFailed(f"sources: {source!r}: {exc}") from None
            self.sources.append(ArtifactUse(SOURCES, layer, None, digest))
            self.inputs.extend(e.path for e in tree.entries if e.type != "dir")

    def _not_made_ahead(self) -> None:
        """The copy made ahead is not what setup stages: the stage dir is made anew, empty
        (nothing but the copy is in it yet)."""
        shutil.rmtree(self.stage_dir)
        fresh_dir(self.stage_dir)
        self.stage_ident = stage_identity(self.stage_dir)

    def _copies(self, test: Test, source: str) -> bool:
        """Whether ``source`` is a suite case's own directory, for a case whose jobs run as
        processes of this machine (batch and remote cases keep the store)."""
        return source == getattr(test, "case_source", None) and self._runs_here()

    def _runs_here(self) -> bool:
        """Whether the case's jobs run as processes of this machine, in its stage dir."""
        return not self.site.remote and self.place.scheduler.runs_here


def code_binds(test: type[Test]) -> bool:
    """Whether making the test's instance runs code of the test's (its class's own
    ``__new__``, ``__init__`` or ``__setattr__``), which :func:`guard.running` must surround:
    else :func:`bind` is assay's own work on the class's plain field values, and the guard's
    saving and restoring (the directory, ``sys.path``, the environment, the umask, fds 0-2:
    seven system calls and copies) would be a cost per case for nothing."""
    return (
        test.__new__ is not object.__new__
        or test.__init__ is not object.__init__
        or test.__setattr__ is not Test.__setattr__
    )


def _may_change_fields(test: type[Test]) -> bool:
    """Fields were checked when the class was defined; only code can have changed them since
    (not assay's own hooks that keep them valid, such as a suite case's inputs)."""
    hooks = test._assay.hooks[("before", "setup")]
    return (
        any(not getattr(h, "keeps_fields_valid", False) for h in hooks)
        or test.__init__ is not object.__init__
    )


@functools.lru_cache(maxsize=256)
def _folder(file: str) -> Path:
    """The directory of a test file (one Path per file, not one per case)."""
    return Path(file).parent


def _holds_session(src: Path, ctx: RunContext, source: str) -> bool:
    """Whether the source ``src`` (which must exist) holds the session's stage root: a
    stat of ``src`` against the stage root's directories, found once per session (the
    first case's setup, once its stage dir is made in the root)."""
    try:
        st = os.stat(src)
    except ValueError:
        st = None
    except OSError as exc:
        if exc.errno not in _NOT_THERE:
            raise
        st = None
    if st is None:
        raise StageFailed(f"sources: {source!r} not found (looked for {src}){resembling(src)}")
    ancestors = ctx.stage_ancestors
    if ancestors is None:
        ancestors = ctx.stage_ancestors = real_ancestors(ctx.stage_root)
    return (st.st_dev, st.st_ino) in ancestors


_NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # as Path.exists


def _no_assay_names(source: str, tree: Tree) -> None:
    """Refuse sources whose top level holds a name assay writes in the stage dir: a symlink
    of that name would take assay's scripts, outputs or download links out of it."""
    taken = sorted(e.path for e in tree.entries if "/" not in e.path and scripts.assay_name(e.path))
    if taken:
        raise StageFailed(
            f"sources: {taken[0]!r} (in {source!r}) is one of the names assay keeps for its own "
            "files in the stage dir (assay-*, .assay-*); rename it"
        )
