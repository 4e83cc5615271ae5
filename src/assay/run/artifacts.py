"""Artifacts of a session: builds and reference data unpacked once, shared by every case.

A test names its artifacts as layers (``{"build": ["solver.tar.gz", "delta.tar.gz"]}``):
the first layer is the base, the others are unpacked on top, in order. The same layers
requested by a hundred cases are unpacked once per session, in a worker thread so the
event loop keeps driving the other cases. A single directory layer is used where it is,
without a copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import AssayError
from assay.spec.test import DependencyInfo

if TYPE_CHECKING:
    from assay.archives import Limits


class ArtifactError(AssayError):
    """An artifact layer is missing or cannot be unpacked."""


DEP_PREFIX = "dep:"


def layer_list(layers: str | Sequence[str]) -> list[str]:
    return [layers] if isinstance(layers, str) else list(layers)


def resolve_layers(
    name: str,
    layers: str | Sequence[str],
    base: Path,
    dependencies: Sequence[DependencyInfo] = (),
) -> tuple[Path, ...]:
    """Absolute layer paths. Relative paths are relative to ``base`` (the test's directory);
    ``dep:TEST/path`` is a file that the dependency TEST produced in its stage dir."""
    out = []
    for text in layer_list(layers):
        if text.startswith(DEP_PREFIX):
            test, _, rel = text[len(DEP_PREFIX) :].partition("/")
            found = [d for d in dependencies if d.test == test]
            if len(found) != 1:
                raise ArtifactError(
                    f"artifact {name!r}: {text!r} needs exactly one case of {test!r} among this "
                    f"case's dependencies, found {len(found)}; add {test!r} to depends_on"
                )
            out.append(found[0].stage_dir / rel)
        else:
            path = Path(text)
            out.append(path if path.is_absolute() else base / path)
    return tuple(out)


def check_layers(name: str, layers: Sequence[Path]) -> list[str]:
    """What is wrong with a layer list before anything runs (missing paths, odd files)."""
    problems = []
    if not layers:
        problems.append(f"artifact {name!r} has no layers; give a directory or an archive")
    for layer in layers:
        if not layer.exists():
            problems.append(f"artifact {name!r}: {layer} does not exist")
        elif layer.is_file() and not _is_archive(layer):
            problems.append(
                f"artifact {name!r}: {layer} is neither a directory nor an archive "
                "(.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .tar.zst, .zip)"
            )
    return problems


class SessionArtifacts:
    """Materialises layer lists under ``root``, once each per session."""

    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.root = root
        self.limits = limits
        self._pending: dict[str, asyncio.Task[Path]] = {}

    async def get(self, name: str, layers: Sequence[Path]) -> Path:
        """The directory holding ``layers`` stacked in order."""
        problems = check_layers(name, layers)
        if problems:
            raise ArtifactError("; ".join(problems))
        if len(layers) == 1 and layers[0].is_dir():
            return layers[0]
        key = _key(layers)
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(asyncio.to_thread(self._build, name, tuple(layers), key))
            self._pending[key] = task
        # Shielded: one case being cancelled must not cancel the unpacking others await.
        return await asyncio.shield(task)

    def _build(self, name: str, layers: tuple[Path, ...], key: str) -> Path:
        from assay.archives import Limits, copy_tree, unpack  # tarfile, zipfile: only when used

        target = self.root / f"{name}-{key}"
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            for layer in layers:
                if layer.is_dir():
                    copy_tree(layer, partial)
                else:
                    unpack(layer, partial, self.limits or Limits())
        except AssayError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ArtifactError(f"artifact {name!r}: {exc}") from None
        partial.rename(target)
        return target


def _is_archive(path: Path) -> bool:
    from assay.archives import is_archive

    return is_archive(path)


def _key(layers: Sequence[Path]) -> str:
    """Same files (by path, size and modification time) -> same key."""
    digest = hashlib.blake2b(digest_size=6)
    for layer in layers:
        info = layer.stat()
        digest.update(f"{layer.resolve()}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()
