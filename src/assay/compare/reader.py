"""One file's bytes, buffered, handed out as blocks, lines and pieces of lines."""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from .tokens import PIECE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

CHUNK = 1 << 20  # bytes read at a time
_BOM = b"\xef\xbb\xbf"


class Reader:
    """One file's bytes, buffered, handed out as blocks, lines and pieces of lines."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.base = 0  # the file offset of buf[0]
        self.eof = False
        if self.fill(3) >= 3 and self.buf.startswith(_BOM):
            self.pos = 3  # a byte order mark is not content

    def fill(self, want: int) -> int:
        """Make ``want`` bytes available after ``pos`` (fewer at the end); how many are."""
        have = len(self.buf) - self.pos
        if have >= want or self.eof:
            return have
        parts = [self.buf[self.pos :]]
        while have < want:
            chunk = self.fh.read(max(CHUNK, want - have))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.base += self.pos
        self.buf, self.pos = b"".join(parts), 0
        return have

    def line(self, limit: int) -> bytes | None:
        """The next line (with its end) if it is at most ``limit`` bytes, else None."""
        have = len(self.buf) - self.pos
        if have <= limit:
            have = self.fill(limit + 1)
        end = self.buf.find(b"\n", self.pos, self.pos + min(have, limit + 1))
        if end >= 0:
            end += 1
        elif have <= limit and self.eof:
            end = self.pos + have
        else:
            return None
        line = self.buf[self.pos : end]
        self.pos = end
        return line

    def piece(self, limit: int) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of the current line, and whether they end it."""
        have = self.fill(limit)
        end = self.buf.find(b"\n", self.pos, self.pos + min(have, limit))
        done = end >= 0 or (have <= limit and self.eof)
        end = end + 1 if end >= 0 else self.pos + min(have, limit)
        piece = self.buf[self.pos : end]
        self.pos = end
        return piece, done

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def seek(self, offset: int) -> None:
        self.fh.seek(offset)
        self.buf, self.pos, self.base, self.eof = b"", 0, offset, False

    def texts(self) -> Iterator[str]:
        """The current line, decoded in pieces, without its line end."""
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        done, held = False, ""
        while not done:
            raw, done = self.piece(PIECE)
            text = held + decoder.decode(raw, final=done)
            if done:
                text = text.rstrip("\r\n")
            else:  # a CR that may end the line stays with the piece that shows whether it does
                kept = text.rstrip("\r")
                text, held = kept, text[len(kept) :]
            yield text
