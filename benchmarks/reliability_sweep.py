"""A sweep of bad inputs and faults through the command lines (issue 17): for each case, the
exit status, whether a traceback was printed, and the start of the message. Not part of the
test suite (it takes a few minutes); tests/test_reliability.py holds the cheap checks, and
the cases that need a simulated fault (a full disk, an unreadable file as root).

    python benchmarks/reliability_sweep.py [WORKDIR]    # writes WORKDIR/results.json
"""
import json, os, shutil, subprocess, sys, tempfile, time, zipfile, signal
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
W = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="reliability-sweep-"))
shutil.rmtree(W, ignore_errors=True); W.mkdir(parents=True)
sys.path.insert(0, str(ROOT))
from study.data.synthetic import write_synthetic
SYN = write_synthetic(W / "syn")
ENV = {**os.environ, "PYTHONPATH": f"{ROOT/'tests/fake_plugin'}:{ROOT/'tests/reliability_plugin'}"}
ENV.pop("CMAPSS_DATA_DIR", None)
results = []

def run(label, args, module="study.run", env=None, expect=None):
    p = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                       env={**ENV, **(env or {})}, timeout=300)
    text = " ".join((p.stdout + p.stderr).split())
    err = [l for l in (p.stdout + p.stderr).splitlines() if "Error" in l or "error" in l or "Warning" in l]
    msg = " ".join(" ".join(err).split())[:150] if err else text[-150:]
    results.append((label, p.returncode, "Traceback" in text, msg))
    print(f"{p.returncode:>4} {'TB' if 'Traceback' in text else '  '} {label}: {msg}", flush=True)
    return p

def data_copy(name):
    d = W / f"data{len(results)}"
    shutil.copytree(SYN, d)
    return d

def base(data, out, *extra, models="test-constant"):
    return ["--profile", "smoke", "--models", models, "--subsets", "FD001", "--seeds", "1", "--data-dir", str(data),
            "--out", str(out), "--offline", "--allow-unverified-data", "--executor", "inline", "--no-report", *extra]

# options
run("--out is a file", base(SYN, ROOT / "README.md"))
(W / "afile").write_text("x")
run("--data-dir is a non-zip file", base(W / "afile", W / "o1"))
run("--data-dir missing, offline", base(W / "nope", W / "o1"))
run("--profile unknown", base(SYN, W / "o1", "--profile", "huge"))
run("--seeds abc", base(SYN, W / "o1", "--seeds", "abc"))
run("--seeds 0", base(SYN, W / "o1", "--seeds", "0"))
run("--workers abc", base(SYN, W / "o1", "--workers", "abc"))
run("--workers -1", base(SYN, W / "o1", "--workers", "-1"))
run("--executor bogus", base(SYN, W / "o1", "--executor", "bogus"))
run("--time-limit nan", base(SYN, W / "o1", "--time-limit", "nan"))
run("--time-limit 0", base(SYN, W / "o1", "--time-limit", "0"))
run("--time-limit abc", base(SYN, W / "o1", "--time-limit", "abc"))
run("--set malformed", base(SYN, W / "o1", "--set", "test-constant"))
run("--set unknown param", base(SYN, W / "o1", "--set", "test-constant.nope=1"))
run("--set other model", base(SYN, W / "o1", "--set", "xgboost.max_depth=1"))
run("--set negative trees", base(SYN, W / "o1", "--set", "xgboost.n_estimators=-3", models="xgboost"))
run("--set zero depth lstm layers", base(SYN, W / "o1", "--set", "lstm.num_layers=0", models="lstm"))
run("--set dropout 2", base(SYN, W / "o1", "--set", "lstm.dropout=2", models="lstm"))
run("--set lr as text", base(SYN, W / "o1", "--set", "lstm.lr=fast", models="lstm"))
run("--set ensemble 0", base(SYN, W / "o1", "--set", "transformer.ensemble=0", models="transformer"))
run("--set rocket kernels 10", base(SYN, W / "o1", "--set", "sktime-rocket.num_kernels=10", models="sktime-rocket"))
run("--chronos-model without chronos", base(SYN, W / "o1", "--chronos-model", "/x"))
run("--models empty", base(SYN, W / "o1", "--models", ""))
run("--models only commas", base(SYN, W / "o1", "--models", ",,"))
run("--models duplicated", base(SYN, W / "o1", "--models", "test-constant,test-constant"))
run("--models unknown", base(SYN, W / "o1", "--models", "nope"))
run("--subsets empty", base(SYN, W / "o1", "--subsets", ""))
run("--subsets duplicated", base(SYN, W / "o1", "--subsets", "FD001,FD001"))
run("--subsets unknown", base(SYN, W / "o1", "--subsets", "FD009"))
run("--mlflow unsupported scheme", base(SYN, W / "o1", "--mlflow", "foo://bar"))
run("--mlflow file store", base(SYN, W / "o1", "--mlflow", str(W / "mlruns")))
run("--mlflow unreachable server", base(SYN, W / "o1", "--mlflow", "http://127.0.0.1:9"))
run("--mlflow sqlite in missing folder", base(SYN, W / "o1", "--mlflow", "sqlite:////proc/x/y.db"))
run("--executor ray with bad address", base(SYN, W / "o1", "--executor", "ray", "--ray-address", "127.0.0.1:1"))

# data
def damaged(label, name, edit, code=None):
    d = data_copy(label.replace(" ", "_").replace("/", "_"))
    p = d / name
    p.write_bytes(edit(p.read_bytes()))
    run(label, base(d, W / "o1"))

def cell(line_no, value):
    def edit(b):
        lines = b.decode().splitlines()
        cells = lines[line_no].split(); cells[-1] = value; lines[line_no] = " ".join(cells)
        return ("\n".join(lines) + "\n").encode()
    return edit

for name in ("train_FD001.txt", "test_FD001.txt", "RUL_FD001.txt"):
    for v in ("inf", "-inf", "NaN", "1e999", "abc"):
        damaged(f"{v} in {name}", name, cell(3, v))
damaged("train: extra column", "train_FD001.txt", lambda b: b.replace(b"\n", b" 1\n", 1))
damaged("train: missing column", "train_FD001.txt", lambda b: b"\n".join([b" ".join(b.split(b"\n")[0].split()[:-1])] + b.split(b"\n")[1:]))
damaged("train: empty", "train_FD001.txt", lambda b: b"")
damaged("train: not UTF-8", "train_FD001.txt", lambda b: b[:50] + b"\xff\xfe" + b[50:])
damaged("train: fractional cycle", "train_FD001.txt", lambda b: b.replace(b"1 2 ", b"1 2.5 ", 1))
damaged("train: engines out of order", "train_FD001.txt", lambda b: b.replace(b"\n1 ", b"\n3 ", 1))
damaged("test: cycles skip", "test_FD001.txt", lambda b: b.replace(b"1 3 ", b"1 4 ", 1))
damaged("RUL: negative", "RUL_FD001.txt", cell(2, "-4"))
damaged("RUL: fractional", "RUL_FD001.txt", cell(2, "4.5"))
damaged("RUL: one value too few", "RUL_FD001.txt", lambda b: b"\n".join(b.split(b"\n")[1:]))
damaged("RUL: two values on a line", "RUL_FD001.txt", lambda b: b.replace(b"\n", b" 3\n", 1))
d = data_copy("trainisdir"); (d / "train_FD001.txt").unlink(); (d / "train_FD001.txt").mkdir()
run("train file is a folder", base(d, W / "o1"))
run("data not matching NASA's checksums, without --allow-unverified-data", ["--profile", "smoke", "--models", "xgboost", "--subsets", "FD001",
    "--data-dir", str(data_copy("x") ), "--out", str(W / "o1"), "--offline", "--no-report"])
d = data_copy("missingone"); (d / "test_FD003.txt").unlink()
run("a file missing, offline", base(d, W / "o1"))
run("a file missing, online, download fails", [a for a in base(d, W / "o1") if a != "--offline"],
    env={"CMAPSS_MIRRORS": "file:///nonexistent/x.zip"})
z = W / "zipdir"; z.mkdir()
with zipfile.ZipFile(z / "CMAPSSData.zip", "w") as h:
    for f in SYN.iterdir(): h.write(f, f"CMAPSSData/{f.name}")
run("zip with modified members", base(z, W / "o1"))
z2 = W / "zipdir2"; z2.mkdir(); (z2 / "CMAPSSData.zip").write_bytes(b"PK\x03\x04garbage")
run("corrupt zip", base(z2, W / "o1"))
z3 = W / "zipdir3"; z3.mkdir()
with zipfile.ZipFile(z3 / "CMAPSSData.zip", "w") as h: h.writestr("readme.txt", "x")
run("zip without the files", base(z3, W / "o1"))

# run folder
good = W / "good"
run("baseline run", base(SYN, good))
def folder(label, damage, module="study.run", args=None):
    out = W / f"case{len(results)}"
    shutil.copytree(good, out)
    damage(out)
    run(label, args(out) if args else base(SYN, out, "--seeds", "2"), module=module)
    return out
for content in (b'{"config": ', b"[1,2]", b'"s"', b"\xff\xfe", b"", b'{"configs": [1], "previous_runs": "x", "config": 3}'):
    folder(f"run.json = {content[:12]!r}", lambda o, c=content: (o / "run.json").write_bytes(c))
    folder(f"report, run.json = {content[:12]!r}", lambda o, c=content: (o / "run.json").write_bytes(c),
           module="study.report", args=lambda o: [str(o)])
bad_rows = [b'{"key":"k","model":"m","seed":0,"status":"ok"}', b"[1]", b"3", b"{oops", b"\xff\xfe{}",
            b'{"key":"k","model":"m","subset":"FD001","seed":0,"status":"ok","rmse":Infinity,"units":[1],"y_true":[1],"y_pred":[1]}',
            b'{"key":1,"model":"m","subset":"FD001","seed":0,"status":"ok"}', b'{"key":"k","model":"m","subset":"FD001","seed":true,"status":"ok"}']
for row in bad_rows:
    folder(f"trials.jsonl + {row[:25]!r}", lambda o, r=row: open(o / "trials.jsonl", "ab").write(r + b"\n"))
folder("report with a bad row", lambda o: open(o / "trials.jsonl", "ab").write(b"[1]\n"), module="study.report",
       args=lambda o: [str(o)])
folder("torn last line", lambda o: open(o / "trials.jsonl", "ab").write(b'{"key": "ab'))
folder("complete last row without newline", lambda o: (o / "trials.jsonl").write_bytes((o / "trials.jsonl").read_bytes().rstrip(b"\n")))
folder("trials.jsonl is a folder", lambda o: ((o / "trials.jsonl").unlink(), (o / "trials.jsonl").mkdir()))
folder("leaderboard.csv is a folder", lambda o: ((o / "leaderboard.csv").unlink(), (o / "leaderboard.csv").mkdir()))
folder("run.json is a folder", lambda o: ((o / "run.json").unlink(), (o / "run.json").mkdir()))
folder("trials.jsonl emptied", lambda o: (o / "trials.jsonl").write_bytes(b""))
folder("stale .lock file from a dead run", lambda o: (o / ".lock").write_text('{"pid": 999999}'))
run("report: folder missing", [str(W / "nope")], module="study.report")
run("report: a file", [str(W / "afile")], module="study.report")
(W / "emptydir").mkdir()
run("report: empty folder", [str(W / "emptydir")], module="study.report")
run("report: --writeup missing", [str(good), "--writeup", str(W / "nope.md")], module="study.report")
run("report: --baseline without results", [str(good), "--baseline", "xgboost"], module="study.report")
run("compare: folder missing", [str(good), "--against", str(W / "nope")], module="study.compare")
run("compare: nothing shared", [str(good), "--against", str(ROOT / "reports/study")], module="study.compare")

# concurrency and signals
holder = subprocess.Popen([sys.executable, "-c", f"from study.core.lock import run_folder_lock\nimport time\nwith run_folder_lock({str(good)!r}, 'python -m study.run (the first)'):\n print('held', flush=True); time.sleep(60)"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
holder.stdout.readline()
run("second writer, same folder", base(SYN, good))
run("report while a run writes", [str(good)], module="study.report")
holder.kill(); holder.wait()
run("writer after the holder was killed", base(SYN, good))

def descendants(pid):
    """Every live process below ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return [str(c) for c in found]


def signalled(label, sig, models="test-sleeps", extra=()):
    out = W / label.replace(" ", "_")
    args = [a for a in base(SYN, out, *extra, models=models) if a not in ("--executor", "inline")]
    p = subprocess.Popen([sys.executable, "-m", "study.run", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    time.sleep(6)
    workers = descendants(p.pid)  # forkserver, resource tracker, the trial's worker
    os.kill(p.pid, sig)
    out_text = p.communicate(timeout=60)[0]
    time.sleep(2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    text = " ".join(out_text.split())
    results.append((label, p.returncode, "Traceback" in text, f"{text[-110:]} | {len(workers)} child processes before, {len(alive)} left"))
    print(f"{p.returncode:>4} {'TB' if 'Traceback' in text else '  '} {label}: {text[-110:]} | {len(workers)} child processes before, {len(alive)} left", flush=True)

signalled("SIGINT mid-trial", signal.SIGINT)
signalled("SIGTERM mid-trial", signal.SIGTERM)
signalled("SIGKILL mid-trial", signal.SIGKILL)
run("time limit 2 s on a hanging trial", [a for a in base(SYN, W / "tl", "--time-limit", "2", models="test-sleeps") if a not in ("--executor", "inline")])
run("a crashing trial (abort)", [a for a in base(SYN, W / "cr", models="test-crashes") if a not in ("--executor", "inline")])
json.dump(results, open(W / "results.json", "w"), indent=1)
print(len(results), "cases;", sum(r[2] for r in results), "with a traceback")
