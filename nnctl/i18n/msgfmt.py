"""Compile nnctl's .po catalogs to .mo (GNU gettext's binary format), as `msgfmt` does.

`python -m nnctl.i18n.msgfmt` rewrites every locale/*/LC_MESSAGES/nnctl.mo from its .po. The .mo
files are committed (so an install needs no build step) and tests/tools/test_i18n.py checks each
is what this module makes from its .po.
"""

from __future__ import annotations

import ast
import struct
from pathlib import Path


def parse_po(text: str) -> dict[str, str]:
    """msgid → msgstr of a .po file's entries (plain entries only: nnctl's catalogs use no plurals
    or contexts); the header (msgid "") is kept, untranslated entries are dropped."""
    entries: dict[str, str] = {}
    key = None
    parts: dict[str, list[str]] = {}

    def flush():
        if "msgid" in parts:
            mid, mstr = "".join(parts["msgid"]), "".join(parts.get("msgstr", []))
            if mstr:
                entries[mid] = mstr

    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            flush()
            parts, key = {"msgid": []}, "msgid"
            line = line[len("msgid "):]
        elif line.startswith("msgstr "):
            key = "msgstr"
            parts["msgstr"] = []
            line = line[len("msgstr "):]
        parts[key].append(ast.literal_eval(line))
    flush()
    return entries


def mo_bytes(entries: dict[str, str]) -> bytes:
    """The .mo image: header, sorted original and translated string tables, then the strings."""
    keys = sorted(entries)
    ids = [k.encode() for k in keys]
    strs = [entries[k].encode() for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n  # header, then the two tables of (length, offset)
    offsets, data = [], b""
    for s in ids + strs:
        offsets.append((len(s), start + len(data)))
        data += s + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
    tables = b"".join(struct.pack("<2I", length, off) for length, off in offsets)
    return header + tables + data


def compile_all(root: Path | None = None) -> list[Path]:
    root = root or Path(__file__).parent / "locale"
    written = []
    for po in sorted(root.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        mo.write_bytes(mo_bytes(parse_po(po.read_text(encoding="utf-8"))))
        written.append(mo)
    return written


if __name__ == "__main__":
    for path in compile_all():
        print(path)
