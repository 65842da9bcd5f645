"""Every command of docs/adding-a-model.md, in order, as a new user would type them.

``pip install -e examples/X`` is done the way pip registers a package (a ``.dist-info`` with
the package's entry points, from its pyproject.toml, and its folder on the path), so the
shared environment is never changed; the study runs use smoke settings on FD001 (the
tutorial's standard-profile run takes minutes; its timing is in the tutorial).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "adding-a-model.md"
SMOKE = ["--profile", "smoke", "--subsets", "FD001", "--seeds", "1", "--executor", "inline", "--offline",
         "--no-report"]


def tutorial_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def register_like_pip(package: Path, site: Path) -> list[str]:
    """What ``pip install -e package`` leaves behind for importlib.metadata; returns the
    entry-point names it registers."""
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    adapters = project["entry-points"]["cmapss_study.adapters"]
    (dist / "entry_points.txt").write_text(
        "[cmapss_study.adapters]\n" + "".join(f"{name} = {target}\n" for name, target in adapters.items()))
    return list(adapters)


@pytest.mark.slow
def test_the_tutorial_commands_take_a_plugin_from_install_to_a_ranked_row(cmapss_dir, tmp_path):
    commands = tutorial_commands()
    assert commands and all(c.startswith(("pip install -e examples/", "python -m ")) for c in commands), commands
    site, path, installed = tmp_path / "site", [], []
    for command in commands:
        words = shlex.split(command)
        if words[:3] == ["pip", "install", "-e"]:
            installed += register_like_pip(ROOT / words[3], site)
            path.append(str(ROOT / words[3]))
            continue
        if words[2:3] == ["study.run"] and "--out" in words:
            words += SMOKE
        words = [word.replace("runs/", f"{tmp_path}/runs/") for word in words]
        # one OpenMP thread: on a busy 2-core CI machine, idle OpenMP workers spin (4x the CPU time)
        env = {**os.environ, "CMAPSS_DATA_DIR": str(cmapss_dir), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(site), *path, str(ROOT)])}
        result = subprocess.run([sys.executable, *words[1:]], cwd=ROOT, capture_output=True, text=True, env=env,
                                timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        if "--list-models" in words:
            for name in installed:
                assert re.search(rf"{re.escape(name)} .*│ yes .*│ package cmapss-study-", result.stdout), result.stdout
        if words[2:3] == ["pytest"]:
            assert " passed" in result.stdout and "failed" not in result.stdout
        if words[2:3] == ["study.rank"]:
            ranked = [line for line in result.stdout.splitlines() if re.match(r"\| \d+ \| .* \(new\) \|", line)]
            assert ranked and all(re.search(r"\) (lower|higher|not distinguishable) \|$", line) for line in ranked), \
                result.stdout
    assert installed == ["sklearn-hgb", "tiny-cnn"]
