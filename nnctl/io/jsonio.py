"""JSON that every reader accepts: non-finite numbers (a float32 loss that overflowed) become null.

`json.dumps` writes NaN and Infinity, which are not JSON; with `allow_nan=False` it refuses them
and a finished run would be lost at the last step. nnctl writes null in their place, everywhere
it writes JSON: the model file's `meta`, checkpoints, and `--json` documents.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None (NumPy scalars and arrays as lists)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # NumPy scalars and arrays
        return finite(obj.tolist())
    return obj


def dumps(obj: Any, **kw) -> str:
    return json.dumps(finite(obj), allow_nan=False, **kw)


def dumps_private(obj: Any, **kw) -> str:
    """JSON for files that only nnctl reads back (a checkpoint's state, a sweep's config):
    Infinity is kept, because early stopping's `best` starts there and must come back exact."""
    return json.dumps(obj, **kw)
