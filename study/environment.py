"""Facts about the machine and package versions, recorded in run.json."""
from __future__ import annotations

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


def machine() -> dict[str, object]:
    """CPU, memory, OS and Python of this machine."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info
