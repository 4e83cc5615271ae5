"""Whether a case's store inputs on this machine are links or private copies.

As root, a case sees its inputs as read-only hard links into the store only where it
provably cannot write through them (:func:`assay.schedulers.local_exec.links_safe`):
elsewhere (a container without ``CAP_SETPCAP``, a seccomp profile that refuses the drop)
they are private copies, and the run says so once, with why, the cost and the fix.
"""

from __future__ import annotations

from assay.schedulers.local_exec import links_safe

WARNING = (
    "running as root, assay cannot drop CAP_DAC_OVERRIDE/CAP_FOWNER for its cases here "
    "(the kernel refuses: no CAP_SETPCAP, or a seccomp filter), so a case could write "
    "through a read-only link into the store; its store inputs (sources, artifacts) are "
    "copied into each stage dir instead of linked, which costs time and disk for large "
    "inputs. To link them again, give the container CAP_SETPCAP or run assay as a "
    "non-root user "
    "(ASSAY_ROOT_CAPS=keep keeps the links and lets cases write through them)"
)

_warned = False


def copies_needed(remote: bool) -> bool:
    """Whether the store inputs of a case whose files are on this machine (``remote``:
    on an SSH host, whose script drops them itself) must be copies; the first yes warns."""
    global _warned
    if remote or links_safe():
        return False
    if not _warned:
        _warned = True
        from assay.results.recorder import warn_on_stderr  # lazy: only where it is needed

        warn_on_stderr(WARNING)
    return True
