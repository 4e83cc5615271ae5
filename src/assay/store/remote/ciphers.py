"""AES-GCM first on the OpenSSH client's pipe to a store agent, unless the user chose.

OpenSSH's first choice, chacha20-poly1305, costs the ssh client and sshd about 1.6 times
the CPU of AES-GCM on a machine with AES instructions (300 MB through the loopback sshd:
0.60-0.64 s against 0.39-0.40 s of the client's CPU), and a push is bound by the CPU of
the four processes it keeps busy. So assay asks for the same six ciphers OpenSSH offers by
default, AES-GCM first, as its asyncssh connections do (docs/remote.md) — but only when no
ssh configuration file ssh reads (nor any file those include) names ``Ciphers``: a choice
made there, a system's crypto policy included, stands.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

# OpenSSH's default list (since 6.9), reordered: every ssh since 6.5 knows all six.
GCM_FIRST = (
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes128-ctr,aes192-ctr,aes256-ctr"
)
_MAX_FILES = 256  # configuration files read at most (Include loops, huge globs)


def cipher_options(config: str | None, options: Sequence[str] = ()) -> list[str]:
    """``["-o", "Ciphers=..."]`` for the ssh command line, or nothing when the user named
    ciphers (in ``options``, or in the configuration ssh reads: ``config`` as ``-F``, else
    ``~/.ssh/config`` and ``/etc/ssh/ssh_config``)."""
    if any(option.split("=", 1)[0].strip().lower() == "ciphers" for option in options):
        return []
    if names_ciphers(config):
        return []
    return ["-o", f"Ciphers={GCM_FIRST}"]


def names_ciphers(config: str | None) -> bool:
    """Whether a configuration file ssh reads, or one it includes, has a ``Ciphers`` line
    (for any host: a choice made anywhere there is left alone). A file that exists but
    cannot be read counts as naming them."""
    user_dir = os.path.expanduser("~/.ssh")
    if config is not None:
        todo = [(config, user_dir)]
    else:
        todo = [(os.path.join(user_dir, "config"), user_dir), ("/etc/ssh/ssh_config", "/etc/ssh")]
    seen: set[str] = set()
    while todo:
        path, base = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if len(seen) > _MAX_FILES:
            return True
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            continue
        except OSError:
            return True
        for line in text.splitlines():
            words = line.strip().replace("=", " ", 1).split()
            if not words or words[0].startswith("#"):
                continue
            keyword = words[0].lower()
            if keyword == "ciphers":
                return True
            if keyword == "include":
                for pattern in words[1:]:
                    pattern = os.path.expanduser(pattern.strip('"'))
                    if not os.path.isabs(pattern):
                        pattern = os.path.join(base, pattern)
                    todo.extend((found, base) for found in sorted(glob.glob(pattern)))
    return False
