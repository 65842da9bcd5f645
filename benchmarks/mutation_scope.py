"""The scope of the mutation run (benchmarks/mutation.sh) and its summary.

Which functions are measured: those whose bugs change the study's numbers (scoring, the
protocol, parsing and verifying the data, result keys and the store, the leaderboard's
aggregation, the trial's seeding, the shared trainer's selection). Left out, because a bug
there changes no number: the protocol card's wording, markdown formatting, thread counts,
device choice and mixed precision (the study ran in fp32).

    python benchmarks/mutation_scope.py globs [MODULE...]     mutmut name patterns to run
    python benchmarks/mutation_scope.py pending [MODULE...]   in-scope mutants not checked yet
    python benchmarks/mutation_scope.py summary [MODULE...]   counts per module (markdown)
    python benchmarks/mutation_scope.py survivors [MODULE...] surviving mutants, each with its changed lines
"""
from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

MUTANTS = Path("mutants")

SCOPE: dict[str, tuple[str, list[str]]] = {
    "scoring": ("study/data/scoring.py", ["study.data.scoring.x*"]),
    "protocol": ("study/data/protocol.py", [
        "study.data.protocol.x_*", "study.data.protocol.xǁEngineSetǁ*", "study.data.protocol.xǁ_Normaliserǁ*",
        *(f"study.data.protocol.xǁProtocolǁ{name}__mutmut_*" for name in ("__post_init__", "as_dict", "hash"))]),
    "cmapss": ("study/data/cmapss.py", ["study.data.cmapss.x*"]),
    "results": ("study/records/store.py", ["study.records.store.x*"]),
    "leaderboard": ("study/records/leaderboard.py", [
        f"study.records.leaderboard.x_{name}__mutmut_*" for name in ("leaderboard", "predictions_frame", "ranks")]),
    # which rows count (moved out of leaderboard.py): measured with it before the move
    "selection": ("study/records/selection.py", [
        f"study.records.selection.x_{name}__mutmut_*" for name in (
            "current_rows", "row_config", "study_rows", "configs_from", "remember_configs")]),
    "trial": ("study/execution/trial.py", ["study.execution.trial.x*"]),
    "trainer": ("adapters/_torch/trainer.py", [
        "adapters._torch.trainer.xǁTrainConfigǁfrom_params__mutmut_*",
        *(f"adapters._torch.trainer.x_{name}__mutmut_*" for name in ("seed_torch", "_scheduler", "train_regressor",
                                                                     "predict_windows"))]),
}

#: mutmut's exit codes, as its ``stats.status_by_exit_code`` reads them
STATUS = {0: "survived", 1: "killed", 3: "killed", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


def modules(args: list[str]) -> list[str]:
    unknown = sorted(set(args) - set(SCOPE))
    if unknown:
        sys.exit(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(SCOPE)}")
    return args or list(SCOPE)


def results(module: str) -> dict[str, int | None]:
    """In-scope mutant name -> mutmut's exit code (None: not checked yet)."""
    path, patterns = SCOPE[module]
    meta = MUTANTS / f"{path}.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: code for name, code in codes.items() if any(fnmatch.fnmatchcase(name, p) for p in patterns)}


def summary(names: list[str]) -> str:
    lines = ["| module | mutants | killed | survived | timeout | no tests | not checked | score |",
             "|---|---|---|---|---|---|---|---|"]
    total: Counter = Counter()
    for module in names:
        counts = Counter(STATUS.get(code, "suspicious") for code in results(module).values())
        counts["mutants"] = sum(counts.values())
        total.update(counts)
        lines.append(_line(module, counts))
    lines.append(_line("**all**", total))
    return "\n".join(lines)


def _line(label: str, c: Counter) -> str:
    checked = c["killed"] + c["survived"] + c["timeout"] + c["no tests"]
    score = f"{100 * (c['killed'] + c['timeout']) / checked:.1f} %" if checked else "-"
    return (f"| {label} | {c['mutants']} | {c['killed']} | {c['survived']} | {c['timeout']} | {c['no tests']} | "
            f"{c['not checked']} | {score} |")


def main(argv: list[str]) -> None:
    command, names = argv[0], modules(argv[1:])
    if command == "globs":
        print("\n".join(p for module in names for p in SCOPE[module][1]))
    elif command == "pending":
        print("\n".join(n for module in names for n, code in results(module).items() if code is None))
    elif command == "survivors":
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        for module in names:
            for name, code in results(module).items():
                if STATUS.get(code) in ("survived", "no tests"):
                    diff = get_diff_for_mutant(name, path=SCOPE[module][0]).splitlines()[3:]
                    changed = [line.strip() for line in diff if line[:1] in "+-"]
                    print(f"{name} ({STATUS[code]}):", " | ".join(changed))
    elif command == "summary":
        print(summary(names))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:] or ["help"])
