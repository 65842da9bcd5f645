"""Friction of each library adapter: import time, adapter size, install size, workarounds.

    python benchmarks/friction.py [--out reports/friction.csv] [--repeats 2]

For every registered adapter: the import time of its library in a fresh interpreter (best of
``--repeats``), the adapter module's lines of code (no blanks or comment-only lines), the
number of format conversions and workarounds (from its ``tags``), and the installed size of
the library's dependency closure (every distribution reachable through ``Requires-Dist``,
extras not followed). Fit/predict time, memory and warnings are per-trial row fields.
"""
from __future__ import annotations

import argparse
import csv
import inspect
import re
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = ["model", "library", "adapter_loc", "conversions", "import_seconds", "install_mb", "workarounds"]


def import_seconds(modules: list[str], repeats: int) -> float:
    """Best wall time to import ``modules`` in a fresh interpreter."""
    code = ("import time; t = time.perf_counter()\n" + "".join(f"import {m}\n" for m in modules)
            + "print(time.perf_counter() - t)")
    best = float("inf")
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                             env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
        if out.returncode != 0:
            return float("nan")
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


def lines_of_code(path: Path) -> int:
    """Non-blank lines that are not comment-only."""
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#"))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=None)
def _dist_size(name: str) -> int:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return 0
    total = 0
    for file in dist.files or []:
        try:
            total += Path(dist.locate_file(file)).stat().st_size
        except OSError:
            pass
    return total


@lru_cache(maxsize=None)
def _requirements(name: str) -> tuple[str, ...]:
    from packaging.requirements import Requirement

    try:
        requires = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return ()
    found = []
    for text in requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra, or not for this platform
        found.append(_canonical(req.name))
    return tuple(found)


def closure(roots: list[str]) -> set[str]:
    """Every installed distribution reachable from ``roots`` through their requirements."""
    seen: set[str] = set()
    stack = [_canonical(r) for r in roots]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(_requirements(name))
    return {n for n in seen if _dist_size(n) > 0}


def distributions_of(modules: list[str]) -> list[str]:
    """Distribution names providing the top-level packages of ``modules``."""
    mapping = metadata.packages_distributions()
    names = []
    for module in modules:
        names.extend(mapping.get(module.split(".")[0], []))
        if module.startswith("autogluon."):  # namespace package: the distribution is named after the module
            names.append(module)
    return sorted({_canonical(n) for n in names})


def friction_rows(repeats: int = 2, models: list[str] | None = None) -> list[dict]:
    """One row per adapter (see the module docstring)."""
    from study.contract.registry import all_adapters

    rows = []
    for name, cls in all_adapters().items():
        if models and name not in models:
            continue
        tags = cls.tags
        modules = list(tags.get("import_modules") or [d.split("[")[0] for d in tags.get("python_dependencies", [])])
        dists = distributions_of(modules)
        size = sum(_dist_size(d) for d in closure(dists)) / 2**20
        start = time.perf_counter()
        seconds = import_seconds(modules, repeats) if modules else 0.0
        print(f"{name}: import {seconds:.1f} s, closure {size:.0f} MB ({time.perf_counter() - start:.0f} s)",
              file=sys.stderr)
        rows.append({
            "model": name, "library": tags.get("library", ""),
            "adapter_loc": lines_of_code(Path(inspect.getsourcefile(cls))),
            "conversions": tags.get("conversions", ""), "import_seconds": round(seconds, 2),
            "install_mb": round(size, 1), "workarounds": " | ".join(tags.get("workarounds", [])),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "friction.csv")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", help="comma-separated adapter names (default: all)")
    args = parser.parse_args(argv)
    rows = friction_rows(args.repeats, args.models.split(",") if args.models else None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
