"""The display writes to a dup of fd 1 of its own; test code, imported into assay's
process, can close it (``os.close`` of its number; ``os.closerange(3, 1024)`` before the
guard refused it), and the next file opened then takes its number. The display's lines
must not go into that file, and must still reach the terminal (fd 1, which the guard puts
back). A real process: fd 1 a real file, the display made as ``assay run`` makes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, sys
from assay import guard
from assay.ui import PlainDisplay, display_stream

out_path, users_path = sys.argv[1:]
fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.dup2(fd, 1)
os.close(fd)
display = PlainDisplay(display_stream())
display._write("before")
number = display.stream.fileno()
with guard.running():  # test code, as a test file's import runs
    os.close(number)  # (os.closerange(3, 1024) is refused by the guard: by number, then)
users = os.open(users_path, os.O_WRONLY | os.O_APPEND)  # takes the display's old number
assert users == number, (users, number)
display._write("after")
os.close(users)
raw = display.stream.buffer.raw
print("lost", getattr(raw, "lost", "?"), file=sys.stderr)
try:
    display.stream.close()
except OSError as exc:  # (the old stream: its number closed by then)
    print("close:", exc, file=sys.stderr)
"""


def test_a_display_whose_descriptor_test_code_closed_writes_into_no_file_that_reuses_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "terminal"
    users = tmp_path / "journal"
    users.write_text("the user's own\n")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), str(users)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert users.read_text() == "the user's own\n"  # nothing of the display's in it
    assert out.read_text().splitlines() == ["before", "after"]  # the terminal got both
    assert "lost 1" in done.stderr
