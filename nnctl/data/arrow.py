"""pyarrow as nnctl uses it (the `arrow` extra), set up once wherever it is first imported: it
leaves SIGINT and SIGTERM to nnctl (signals.keep_from_pyarrow), and it allocates with the system's
malloc, which gives freed buffers back (its default pool, mimalloc, kept 10-20 MB of a 2M-row
parse for the rest of the run)."""

from __future__ import annotations

import os
import threading

from nnctl import signals
from nnctl.data import parallel

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


def use_threads() -> bool:
    """Whether a pyarrow read may use pyarrow's own threads: not in a parse pool's thread (the
    pool's threads are the parallelism), and not under a cap on address space, where Arrow fails
    to start its threads ('Failed to launch worker thread') before any allocation fails."""
    return threading.current_thread() is threading.main_thread() and not parallel.address_space_capped()
