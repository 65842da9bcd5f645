"""Thread limits for library calls: a trial uses no more CPU threads than its share.

With two cores shared by other jobs, OpenMP/torch thread pools that spin while waiting made
library fits 10-40x slower (a Darts TFT step 2.1 s vs 0.05 s; AutoGluon DirectTabular 76 s
vs 7 s): each trial keeps to the share the runner gives it (cores / parallel trials,
``TrialContext.threads``). ``study.contract.adapter.Adapter`` applies it around every fit and predict.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def limited_threads(n: int | None, torch: bool = False) -> Iterator[None]:
    """Limit torch intra-op threads and OpenMP/BLAS pools to ``n`` inside the block (None:
    leave them as they are). ``torch``: import torch first when it is not loaded yet, so a
    library that imports it inside the block starts within the limit too."""
    if not n:
        yield
        return
    from threadpoolctl import threadpool_limits

    if torch and "torch" not in sys.modules:
        import torch as _  # noqa: F401  (its thread pool is sized below, before the library's first call)
    module = sys.modules.get("torch")
    before = module.get_num_threads() if module is not None else None
    if module is not None:
        module.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if module is not None and before is not None:
            module.set_num_threads(before)
