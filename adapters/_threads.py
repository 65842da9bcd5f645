"""Thread limits for library calls on a shared CPU machine.

With two cores shared by other jobs, OpenMP/torch thread pools that spin while waiting made
library fits 10-40x slower (a Darts TFT step 2.1 s vs 0.05 s; AutoGluon DirectTabular 76 s
vs 7 s); one thread per library call avoids that.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def limited_threads(n: int | None) -> Iterator[None]:
    """Limit torch intra-op threads and OpenMP/BLAS pools to ``n`` inside the block
    (None: leave them as they are)."""
    if not n:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)
