"""The digests made before a run's first case starts (a stage directory's name, a test
file's key, a recorded text's), from Python's builtin hash modules.

:mod:`hashlib` loads OpenSSL's libcrypto for its ``sha256`` (a large shared library,
milliseconds of every run before its first case); the builtin modules make the same digests
of these few short texts. Long inputs (the store's files) keep hashlib's: OpenSSL is faster
there, and by then it is loaded off the path to the first case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same constructors, as far as a caller can tell
    from hashlib import blake2b, sha256
else:
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:  # 3.12 renamed it; a build without it: hashlib's
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    try:
        from _blake2 import blake2b  # (what hashlib.blake2b is, without importing hashlib)
    except ImportError:  # a build without it: hashlib's
        from hashlib import blake2b

__all__ = ["blake2b", "sha256"]
