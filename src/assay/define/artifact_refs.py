"""How a test names the layers of an artifact, and what can be checked about them before
anything runs.

A layer is a path (a directory or an archive; relative to the test's file),
``store:NAME[@V|#TAG]`` (a version in the artifact store) or ``dep:TEST/path`` (a file a
dependency produced). The store and dependency layers are resolved when the case runs
(:mod:`assay.run.artifacts`); path layers are checked when the test is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.archive_names import is_archive

DEP_PREFIX = "dep:"
STORE_PREFIX = "store:"


def layer_list(layers: str | Sequence[str]) -> list[str]:
    """An artifact's layers as a list (one path may be given alone)."""
    return [layers] if isinstance(layers, str) else list(layers)


def check_layers(name: str, layers: Sequence[Path]) -> list[str]:
    """What is wrong with path layers before anything runs (missing paths, odd files)."""
    problems = []
    if not layers:
        problems.append(f"artifact {name!r} has no layers; give a directory or an archive")
    for layer in layers:
        try:
            layer.stat()
        except (FileNotFoundError, NotADirectoryError):
            problems.append(f"artifact {name!r}: {layer} does not exist")
            continue
        except (OSError, ValueError) as exc:  # a name too long, no access, a NUL...
            reason = getattr(exc, "strerror", None) or str(exc)
            problems.append(f"artifact {name!r}: {layer} cannot be looked at: {reason}")
            continue
        if layer.is_file() and not is_archive(layer):
            problems.append(
                f"artifact {name!r}: {layer} is neither a directory nor an archive "
                "(.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .tar.zst, .zip)"
            )
    return problems
