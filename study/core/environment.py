"""Facts about the machine and package versions, recorded in run.json."""
from __future__ import annotations

import functools
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

KEY_PACKAGES = ("numpy", "pandas", "scikit-learn", "torch", "xgboost", "xgboost-cpu", "sktime",
                "darts", "autogluon.timeseries", "autogluon.tabular", "chronos-forecasting",
                "transformers", "mamba-ssm", "mambapy", "ray", "mlflow")


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that can change results (absent ones omitted)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def available_cores() -> int:
    """CPU cores this process may run on (affinity-aware, so containers are sized right)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS / Windows
        return max(1, os.cpu_count() or 1)


#: CPU instruction-set flags that change numerical results or which precisions work: torch
#: picks other kernels with AVX-512 than with AVX2 alone (the same trial differs in its last
#: digits, sometimes by more than a seed's noise for a network), and oneDNN runs bfloat16
#: layers only with native bfloat16 support.
NUMERICS_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_facts() -> dict[str, object]:
    """The CPU model and which of ``NUMERICS_FLAGS`` it has (Linux ``/proc/cpuinfo``; elsewhere
    the model as the platform names it and no flags)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == "model name":
                    model = value.strip()
                elif name.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {"cpu_model": model, "cpu_flags": [flag for flag in NUMERICS_FLAGS if flag in flags]}


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); without it oneDNN
    refuses bfloat16 LSTM layers (\"could not create a primitive descriptor\")."""
    return any(flag in cpu_facts()["cpu_flags"] for flag in ("avx512_bf16", "amx_bf16"))


def machine() -> dict[str, object]:
    """CPU (model and the flags that change numerics), memory, OS and Python of this machine."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        **cpu_facts(),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info
