"""Times locating, verifying, parsing and preparing all four subsets (target: <= 3 s warm).

Run: python benchmarks/bench_data.py [--data-dir DIR] [--repeats N]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from study.data import fetch
from study.data.cmapss import SUBSETS, files_of, load_subset, verify_file
from study.data.protocol import Protocol, prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = fetch.locate(args.data_dir, offline=True)
    for repeat in range(args.repeats):
        timings = {"verify": 0.0, "load (verify+parse)": 0.0, "prepare": 0.0}
        start_all = time.perf_counter()
        for subset in SUBSETS:
            t0 = time.perf_counter()
            for name in files_of(subset):
                verify_file(folder / name)
            timings["verify"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            raw = load_subset(folder, subset)
            timings["load (verify+parse)"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            prepared, _ = prepare(raw, Protocol())
            prepared.train.windows()
            timings["prepare"] += time.perf_counter() - t0
        total = time.perf_counter() - start_all - timings["verify"]
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
        print(f"run {repeat + 1}: all four subsets ready in {total:.2f} s ({parts})")


if __name__ == "__main__":
    main()
