"""Where two resolved configs differ: what a resumed run or a resumed sweep checks before going on."""

from __future__ import annotations


def differences(a, b, ignore=frozenset(), labels: tuple[str, str] = ("was", "now"), path: tuple = ()) -> list[str]:
    """Every leaf at which `a` and `b` differ, in key order, as 'key.path (was A, now B)' with
    `labels` naming the two sides; dict keys and list items are compared one by one, and a key
    path in `ignore` (a tuple of keys) is skipped with everything under it."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if (*path, k) not in ignore:
                out += differences(a.get(k), b.get(k), ignore, labels, (*path, k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, ignore, labels, (*path, i))
        return out
    if a == b:
        return []
    return [f"{'.'.join(map(str, path))} ({labels[0]} {a!r}, {labels[1]} {b!r})"]


def first_difference(a, b, ignore=frozenset(), labels: tuple[str, str] = ("was", "now")) -> str | None:
    """The first of `differences`, or None when the configs agree."""
    found = differences(a, b, ignore, labels)
    return found[0] if found else None
