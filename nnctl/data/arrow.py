"""pyarrow as nnctl uses it (the `arrow` extra), set up once wherever it is first imported: it
leaves SIGINT and SIGTERM to nnctl (signals.keep_from_pyarrow), and it allocates with the system's
malloc, which gives freed buffers back (its default pool, mimalloc, kept 10-20 MB of a 2M-row
parse for the rest of the run)."""

from __future__ import annotations

import os

from nnctl import signals

_ready = False


def pyarrow():
    """The pyarrow module, set up; ImportError when the extra is not installed."""
    global _ready
    if not _ready:  # Arrow's C++ reads its default pool's name once, when it first allocates
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    import pyarrow as pa

    if not _ready:
        signals.keep_from_pyarrow()
        _ready = True
    return pa
