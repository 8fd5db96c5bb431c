"""Input opened for reading, and a byte stream cut into batches of decoded lines as they arrive:
what `predict` reads, so that a pipe fed row by row gets answers row by row. The cells of each
batch are parsed by the one reader (nnctl/data/reader.py)."""

from __future__ import annotations

import codecs
import os
import select
import sys
from contextlib import contextmanager
from pathlib import Path

from nnctl.data import reader
from nnctl.errors import DataError

BATCH_LINES = 65536  # lines handed out at once: memory stays flat whatever the input's length
READ_BYTES = 1 << 20


@contextmanager
def open_input(path: str, what: str = "a CSV file"):
    """A binary stream of a file, or of stdin for '-'; DataError when it cannot be read."""
    if path == "-":
        yield getattr(sys.stdin, "buffer", sys.stdin)
        return
    p = Path(path)
    if p.is_dir():
        raise DataError(f"is a folder, expected {what}", source=path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise DataError("no such file", source=path) from None
    except OSError as exc:
        raise DataError(f"cannot read it: {exc.strerror}", source=path) from None
    with fh:
        yield fh


class Lines:
    """Complete, decoded lines from a byte stream, in batches: at most BATCH_LINES at a time, and
    whatever has arrived whenever the input pauses (a pipe fed row by row gets each row at once).
    UTF-8 with an optional BOM; CRLF and lone CR line ends; the line number of each batch's first
    line is kept for messages."""

    def __init__(self, fh, source: str):
        self.fh, self.source = fh, source
        self.fd = _fileno(fh)
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.pending = ""  # an incomplete last line
        self.line = 1  # the number of the next line handed out
        self.eof = False

    def _read(self) -> bytes:
        if self.fd is not None:
            return os.read(self.fd, READ_BYTES)
        read1 = getattr(self.fh, "read1", None)
        return read1(READ_BYTES) if read1 else self.fh.read(READ_BYTES)

    def _paused(self) -> bool:
        """Nothing more can be read right now (a pipe whose writer is between rows)."""
        if self.fd is None:
            return False
        try:
            return not select.select([self.fd], [], [], 0)[0]
        except (OSError, ValueError):
            return False

    def batches(self):
        """(line number of the first line, lines) as they arrive."""
        lines: list[str] = []
        while not self.eof:
            data = self._read()
            if not data:
                self.eof = True
                try:
                    text = self.pending + self.decoder.decode(b"", True)
                except UnicodeDecodeError:
                    raise DataError(f"line {self.line + len(lines)}: not UTF-8 text (it ends inside a "
                                    "character)", source=self.source) from None
                self.pending = ""
                if text:
                    lines.append(text)
            else:
                try:
                    text = self.pending + self.decoder.decode(data)
                except UnicodeDecodeError as exc:
                    seen = self.pending + data[:exc.start].decode("utf-8", "replace")
                    at = self.line + len(lines) + seen.count(chr(10))
                    raise reader.not_utf8(at, self.source, data if at == 1 else b"") from None
                if "\x00" in text:
                    raise DataError("contains NUL bytes; expected a text CSV file", source=self.source)
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                parts = text.split("\n")
                self.pending = parts.pop()
                lines += parts
            while len(lines) >= BATCH_LINES:
                yield self._emit(lines[:BATCH_LINES])
                lines = lines[BATCH_LINES:]
            if lines and (self.eof or self._paused()):
                yield self._emit(lines)
                lines = []

    def _emit(self, lines: list[str]) -> tuple[int, list[str]]:
        first = self.line
        self.line += len(lines)
        return first, lines


def _fileno(fh) -> int | None:
    try:
        return fh.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests' stdin)
        return None
