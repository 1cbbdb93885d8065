#!/usr/bin/python3
"""Sweeps that grow (issue 11), end to end through the isweep executable.

  grow_test.py one-family   --set sweep.tasks=linear-meta cuts the default spec: notes, one group
  grow_test.py paths        a spec in another folder with a relative data path and output; a resume
                            after the data file changed is refused (exit 2, file byte-identical)
  grow_test.py subgrid      [deq] + [deq.wide] on 2 ranks: the union, each config once, results equal
                            to the same configs of one section listing every width
  grow_test.py extend       first run, --extend with more seeds (1 rank), a new width (2 ranks), a
                            new family: rows kept, history, identical to a from-scratch run by config_id
  grow_test.py extend-refused  every other change: exit 2 naming the line, file byte-identical
  grow_test.py extend-kill  SIGKILL during the extension's start-up and during its run; --extend
                            again completes it, identical to a from-scratch run
  grow_test.py only         --only on 2 ranks: matching configs ok, the rest pending; a second
                            --only run of the file is a resume; the union equals a full run
                            (compared by config_id); plan --only lists the same configs

Environment: ISW_EXE (isweep binary), ISW_SOURCE_DIR (source tree).  Each case prints
what it measured and exits non-zero on failure.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

EXE = os.environ.get("ISW_EXE", "isweep")
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_COLUMNS = {"rank", "host", "start_time", "train_seconds", "eval_seconds"}
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
# a few linear-meta configs of well under a second each
LM = """[sweep]
tasks = linear-meta
seeds = 0:1
train_iters = 2,5
test_iters = 0:10
seed = 7

[linear-meta]
widths = 16,32
tasks = 8
"""


def mpirun(np_, *args):
    return ["mpirun", "-np", str(np_), "--oversubscribe", EXE, *args]


def run(cmd, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, **kw)
    return p, time.time() - t0


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def must(p, what):
    if p.returncode != 0:
        fail("%s exited %d:\n%s" % (what, p.returncode, p.stderr[-3000:]))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def by_config(path):
    """{group: {config_id: {column: value}}} of every result column but the run columns."""
    out = {}
    with h5py.File(path, "r") as f:
        for g in f:
            if not isinstance(f[g], h5py.Group):
                continue
            ids = f[g]["config_id"][()]
            cols = {n: d[()] for n, d in f[g].items() if n not in RUN_COLUMNS and d.shape[:1] == ids.shape}
            out[g] = {int(i): {n: c[r] for n, c in cols.items()} for r, i in enumerate(ids)}
    return out


def same_value(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return False
    if x.dtype.kind == "f":
        return np.array_equal(x.view(np.uint64), y.view(np.uint64))
    return np.array_equal(x, y)


def compare_by_id(a_path, b_path):
    """Differences between two files' result columns, row order ignored (matched by config_id)."""
    a, b = by_config(a_path), by_config(b_path)
    diffs = []
    if sorted(a) != sorted(b):
        return ["groups %s vs %s" % (sorted(a), sorted(b))]
    for g in a:
        if sorted(a[g]) != sorted(b[g]):
            diffs.append("%s: config ids differ (%d vs %d configs)" % (g, len(a[g]), len(b[g])))
            continue
        for cid, row in a[g].items():
            for n, v in row.items():
                if not same_value(v, b[g][cid].get(n)):
                    diffs.append("%s config %016x: %s differs" % (g, cid, n))
    return diffs


def statuses(path):
    with h5py.File(path, "r") as f:
        return {g: dict(zip(f[g]["config_id"][()].tolist(), f[g]["status"][()].tolist())) for g in f
                if isinstance(f[g], h5py.Group)}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_one_family(tmp):
    out = os.path.join(tmp, "lm.h5")
    sets = ["--set", "sweep.tasks=linear-meta", "--set", "linear-meta.widths=32", "--set", "sweep.seeds=0"]
    p, t = run(mpirun(2, "run", "-o", out, "--quiet", *sets))
    notes = [l for l in p.stderr.splitlines() if l.startswith("isweep: note: left out section")]
    print("default spec cut to linear-meta: exit %d in %.1f s; notes: %s" % (p.returncode, t, notes))
    must(p, "the one-family run")
    import re
    with open(os.path.join(SRC, "jobs", "default.ini")) as f:  # the embedded default spec
        dropped = [s for s in re.findall(r"^\[([^\]]+)\]", f.read(), re.M) if s not in ("sweep", "linear-meta")]
    if len(notes) != len(dropped) or any("[%s]" % s not in n for s, n in zip(dropped, notes)):
        fail("each dropped section %s must be named in a note on stderr: %s" % (dropped, notes))
    with h5py.File(out, "r") as f:
        groups = sorted(k for k in f if isinstance(f[k], h5py.Group))
        st = f["linear-meta"]["status"][()].tolist()
    if groups != ["linear-meta"] or set(st) != {2}:
        fail("the file must hold only linear-meta, every row ok: %s %s" % (groups, st))
    p, _ = run(mpirun(1, "run", "-o", out, "--quiet", "--resume", *sets))
    must(p, "a resume of the cut")
    p, _ = run([EXE, "plan", "--set", "sweep.tasks=deq"])
    must(p, "plan of the default spec cut to deq")
    rows = [l for l in p.stdout.splitlines() if not l.startswith("#")]
    if not rows or any(l.split()[1] != "deq" for l in rows):
        fail("plan --set sweep.tasks=deq lists only deq configs")
    print("plan cut to deq: %d configs, all deq" % len(rows))


def test_paths(tmp):
    folder = os.path.join(tmp, "study")
    os.mkdir(folder)
    rng = np.random.default_rng(3)
    with h5py.File(os.path.join(folder, "data.h5"), "w") as f:
        f["X"] = rng.standard_normal((40, 3))
        f["y"] = rng.standard_normal(40)
    spec = os.path.join(folder, "spec.ini")
    write(spec, "[sweep]\ntasks = deq\nwidths = 4\ntrain_iters = 2\ntest_iters = 0:4\noutput = out.h5\n"
                "[deq]\ndataset = file\ndata_file = data.h5\nsteps = 20\n")
    elsewhere = os.path.join(tmp, "cwd")
    os.mkdir(elsewhere)
    p, t = run(mpirun(1, "run", spec, "--quiet"), cwd=elsewhere)
    print("spec in %s run from %s: exit %d in %.1f s; folder now holds %s; cwd holds %s"
          % (folder, elsewhere, p.returncode, t, sorted(os.listdir(folder)), sorted(os.listdir(elsewhere))))
    must(p, "the run of a spec in another folder")
    out = os.path.join(folder, "out.h5")
    if not os.path.exists(out) or os.listdir(elsewhere):
        fail("the output must be made beside the spec, nothing in the current folder")
    with h5py.File(out, "r") as f:
        canon = f.attrs["spec_canonical"]
        canon = canon.decode() if isinstance(canon, bytes) else canon
        st = f["deq"]["status"][()].tolist()
    line = [l for l in canon.splitlines() if l.startswith("deq.data_file.content = ")]
    print("canonical: %s; statuses %s" % (line, st))
    if not line or len(line[0].split("= ")[1]) != 16 or set(st) != {2}:
        fail("the canonical spec must carry the data file's 16-digit content hash and every row be ok")
    with h5py.File(os.path.join(folder, "data.h5"), "r+") as f:
        f["X"][0, 0] += 1.0
    before = sha(out)
    p, _ = run(mpirun(1, "run", spec, "--resume", "--quiet"), cwd=elsewhere)
    err = [l for l in p.stderr.splitlines() if "error" in l]
    print("resume after the data changed: exit %d: %s" % (p.returncode, err))
    if p.returncode != 2 or not any("deq.data_file.content" in l for l in err) or sha(out) != before:
        fail("a resume after the data file changed must exit 2 naming the content line, file byte-identical")


def test_only(tmp):
    spec = os.path.join(tmp, "lm.ini")
    write(spec, LM)
    part, full = os.path.join(tmp, "part.h5"), os.path.join(tmp, "full.h5")
    expr = "width<=16,train_iters!=5"
    p, _ = run([EXE, "plan", spec, "--only", expr])
    must(p, "plan --only")
    planned = sorted(l.split()[3] for l in p.stdout.splitlines() if not l.startswith("#"))
    p, t1 = run(mpirun(2, "run", spec, "-o", part, "--only", expr, "--quiet"))
    must(p, "run --only on 2 ranks")
    st = statuses(part)["linear-meta"]
    ok = sorted("%016x" % i for i, s in st.items() if s == 2)
    pending = [i for i, s in st.items() if s == 0]
    print("--only %s on 2 ranks: %.1f s, %d ok, %d pending; plan --only listed %d" % (expr, t1, len(ok),
                                                                                        len(pending), len(planned)))
    if ok != planned or len(ok) != 2 or len(pending) != 6:
        fail("--only must run exactly the configs plan --only lists (width 16, N 2: 2 seeds), others pending")
    with h5py.File(part, "r") as f:
        w, n = f["linear-meta"]["width"][()], f["linear-meta"]["train_iters"][()]
        s = f["linear-meta"]["status"][()]
    if any((s[i] == 2) != (w[i] <= 16 and n[i] != 5) for i in range(len(s))):
        fail("the ok rows must be exactly the matching ones")
    p, t2 = run(mpirun(2, "run", spec, "-o", part, "--only", "width>16", "--quiet"))
    must(p, "a second --only run of the file (a resume)")
    p, t3 = run(mpirun(2, "run", spec, "-o", part, "--only", "train_iters=5", "--quiet"))
    must(p, "a third --only run of the file (a resume)")
    with h5py.File(part, "r") as f:
        runs = int(f.attrs["runs"])
    p, _ = run(mpirun(1, "run", spec, "-o", full, "--quiet"))
    must(p, "the full run")
    diffs = compare_by_id(part, full)
    print("after --only width>16 (%.1f s) and --only train_iters=5 (%.1f s): runs = %d, statuses %s; "
          "%d differences from a full run" % (t2, t3, runs, sorted(set(statuses(part)["linear-meta"].values())),
                                             len(diffs)))
    if runs != 3 or set(statuses(part)["linear-meta"].values()) != {2} or diffs:
        fail("three --only runs must be one file (runs 3), all ok, identical to a full run:\n  " + "\n  ".join(diffs))
    before = sha(part)
    p, _ = run(mpirun(1, "run", spec, "-o", part, "--only", "colour=red"))
    err = [l for l in p.stderr.splitlines() if l.startswith("isweep:")]
    print("--only colour=red: exit %d, %s" % (p.returncode, err))
    if p.returncode != 2 or len(err) != 1 or "unknown parameter 'colour'" not in err[0] or sha(part) != before:
        fail("an unknown parameter in --only is exit 2 with one line, file untouched")


def test_subgrid(tmp):
    head = "[sweep]\ntasks = deq\ntrain_iters = 2\ntest_iters = 0:3\nseeds = 0:1\nseed = 5\n"
    sub, one = os.path.join(tmp, "sub.ini"), os.path.join(tmp, "one.ini")
    write(sub, head + "[deq]\nwidths = 2,4\nsteps = 30\n[deq.wide]\nwidths = 4,8\nseeds = 0\n")
    write(one, head + "[deq]\nwidths = 2,4,8\nsteps = 30\n")
    a, b = os.path.join(tmp, "sub.h5"), os.path.join(tmp, "one.h5")
    p, t = run(mpirun(2, "run", sub, "-o", a, "--quiet"))
    must(p, "the sub-grid run")
    p, _ = run(mpirun(1, "run", one, "-o", b, "--quiet"))
    must(p, "the one-section run")
    sa, sb = by_config(a)["deq"], by_config(b)["deq"]
    with h5py.File(a, "r") as f:
        ids = f["deq"]["config_id"][()].tolist()
        pairs = sorted(zip(f["deq"]["width"][()].tolist(), f["deq"]["seed"][()].tolist()))
    print("[deq] widths 2,4 seeds 0,1 + [deq.wide] widths 4,8 seed 0 on 2 ranks: %.1f s, %d rows %s"
          % (t, len(ids), pairs))
    if len(ids) != 5 or len(set(ids)) != 5 or pairs != [(2, 0), (2, 1), (4, 0), (4, 1), (8, 0)]:
        fail("the union must hold each (width, seed) once: 5 rows")
    diffs = [cid for cid in sa if cid not in sb or any(not same_value(v, sb[cid][n]) for n, v in sa[cid].items())]
    print("%d of 5 configs differ from the same configs of the one-section grid" % len(diffs))
    if diffs:
        fail("a config must give the same results whichever section made it")


def history(path):
    with h5py.File(path, "r") as f:
        h = f.attrs["history"]
        return int(f.attrs["runs"]), [(int(r["configs_added"]), int(r["configs_total"])) for r in h]


def old_rows(path):
    """{column: array} of every dataset of the linear-meta group (run columns included), as it stands."""
    with h5py.File(path, "r") as f:
        return {n: d[()] for n, d in f["linear-meta"].items()}


def test_extend(tmp):
    spec = os.path.join(tmp, "lm.ini")
    write(spec, LM)
    grown, scratch = os.path.join(tmp, "grown.h5"), os.path.join(tmp, "scratch.h5")
    p, t0 = run(mpirun(1, "run", spec, "-o", grown, "--quiet", "--set", "sweep.seeds=0:1", "--set",
                       "linear-meta.widths=16"))
    must(p, "the first run (width 16, seeds 0-1)")
    before = old_rows(grown)
    p, t1 = run(mpirun(1, "run", spec, "-o", grown, "--extend", "--set", "sweep.seeds=0:3", "--set",
                       "linear-meta.widths=16"))
    must(p, "--extend with seeds 2-3 on 1 rank")
    note1 = [l for l in p.stderr.splitlines() if "--extend:" in l]
    mid = old_rows(grown)
    p, t2 = run(mpirun(2, "run", spec, "-o", grown, "--extend", "--set", "sweep.seeds=0:3", "--quiet"))
    must(p, "--extend with width 32 on 2 ranks")
    after = old_rows(grown)
    n0, n1 = len(before["config_id"]), len(mid["config_id"])
    kept = all(same_value(before[k], after[k][:n0]) for k in before if k != "test_iters") and \
        all(same_value(mid[k], after[k][:n1]) for k in mid if k != "test_iters")
    runs, hist = history(grown)
    print("extend: first run %d configs (%.1f s); +seeds 2-3 on 1 rank (%.1f s, %s); +width 32 on 2 ranks "
          "(%.1f s): %d rows; earlier rows kept every column (run columns included): %s; runs %d, history %s"
          % (n0, t0, t1, note1, t2, len(after["config_id"]), kept, runs, hist))
    if n0 != 4 or n1 != 8 or len(after["config_id"]) != 16 or not kept:
        fail("rows already in the file must keep their data, ids and positions; new ones come at the end")
    if runs != 3 or hist != [(4, 4), (4, 8), (8, 16)]:
        fail("runs must count 3 runs and history record each creation and extension with the configs added")
    p, t3 = run(mpirun(2, "run", spec, "-o", scratch, "--quiet", "--set", "sweep.seeds=0:3"))
    must(p, "the from-scratch run of the larger spec")
    diffs = compare_by_id(grown, scratch)
    print("from-scratch run of the larger spec on 2 ranks (%.1f s): %d differences by config_id" % (t3, len(diffs)))
    if diffs:
        fail("the extended file must hold the from-scratch results:\n  " + "\n  ".join(diffs[:20]))
    with h5py.File(grown, "r") as g, h5py.File(scratch, "r") as s:
        same_canon = g.attrs["spec_canonical"] == s.attrs["spec_canonical"]
    if not same_canon:
        fail("the file's canonical spec must become the extended one")
    # a family added: deq joins the file as a new group
    p, t4 = run(mpirun(2, "run", spec, "-o", grown, "--extend", "--quiet", "--set", "sweep.seeds=0:3", "--set",
                       "sweep.tasks=linear-meta,deq", "--set", "deq.widths=2", "--set", "deq.steps=20",
                       "--set", "deq.seeds=0"))
    must(p, "--extend with a new family")
    st = statuses(grown)
    print("+ family deq (%.1f s): groups %s" % (t4, {g: len(v) for g, v in st.items()}))
    if sorted(st) != ["deq", "linear-meta"] or len(st["deq"]) != 2 or set(st["deq"].values()) != {2}:
        fail("an added family must become a new group of the file, run to ok")


def test_extend_refused(tmp):
    spec = os.path.join(tmp, "lm.ini")
    write(spec, LM)
    out = os.path.join(tmp, "r.h5")
    must(run(mpirun(1, "run", spec, "-o", out, "--quiet"))[0], "the first run")
    before = sha(out)
    cases = [(["--set", "linear-meta.tasks=16"], "linear-meta.tasks = 8"),
             (["--set", "sweep.seeds=0"], "linear-meta.seeds = 0,1"),
             (["--set", "linear-meta.widths=32"], "linear-meta.widths = 16,32"),
             (["--set", "sweep.test_iters=0:12"], "linear-meta.test_iters"),
             (["--set", "sweep.seed=8"], "sweep.seed = 7"),
             (["--set", "sweep.tasks=deq", "--set", "deq.widths=2"], "linear-meta.")]
    for sets, line in cases:
        p, _ = run(mpirun(1, "run", spec, "-o", out, "--extend", *sets))
        err = [l for l in p.stderr.splitlines() if l.startswith("isweep: error")]
        print("--extend %s: exit %d: %s" % (" ".join(sets), p.returncode, err[:1]))
        if p.returncode != 2 or len(err) != 1 or line not in err[0] or "cannot extend" not in err[0]:
            fail("a change other than added values or families must be refused, exit 2, naming '%s'" % line)
        if sha(out) != before or [f for f in os.listdir(tmp) if ".isweep-tmp." in f]:
            fail("a refused extension must leave the file byte-identical and no temporary")
    print("file byte-identical (sha256 %s...) after %d refusals" % (before[:12], len(cases)))


KILL_LM = LM.replace("widths = 16,32\ntasks = 8", "widths = 64:512:x2\ntasks = 32")


def wait_ok(path, n, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with h5py.File(path, "r") as f:
                if int(np.sum(f["linear-meta"]["status"][()] == 2)) >= n:
                    return True
        except (OSError, KeyError):
            pass
        time.sleep(0.2)
    return False


def test_extend_kill(tmp):
    spec = os.path.join(tmp, "k.ini")
    write(spec, KILL_LM)
    out, scratch = os.path.join(tmp, "k.h5"), os.path.join(tmp, "scratch.h5")
    small = ["--set", "sweep.seeds=0", "--set", "linear-meta.widths=64,128"]
    big = ["--set", "sweep.seeds=0:3"]
    must(run(mpirun(2, "run", spec, "-o", out, "--quiet", *small))[0], "the first run")
    before = sha(out)
    # 1. SIGKILL while the extended copy is made (ISW_TEST_EXTEND_FAULT=kill)
    env = dict(ENV, ISW_TEST_EXTEND_FAULT="kill")
    p = subprocess.run(mpirun(2, "run", spec, "-o", out, "--extend", "--quiet", *big), env=env,
                       capture_output=True, text=True)
    left = [f for f in os.listdir(tmp) if ".isweep-tmp." in f]
    print("SIGKILL in the extension's start-up: exit %d; file unchanged: %s; temporaries left: %s"
          % (p.returncode, sha(out) == before, left))
    if p.returncode == 0 or sha(out) != before or len(left) != 1:
        fail("a kill before the rename must leave the old file byte-identical (and a half temporary)")
    # 2. --extend again, SIGKILL mid-run once some new rows are ok
    proc = subprocess.Popen(mpirun(2, "run", spec, "-o", out, "--extend", "--quiet", *big), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    got = wait_ok(out, 6, 240)  # the first run's 4 and 2 new ones
    os.killpg(proc.pid, 9)
    _, err = proc.communicate()
    notes = [l for l in err.splitlines() if "removed" in l]
    st = statuses(out)["linear-meta"]
    print("SIGKILL mid-run of the extension (after %s ok rows): %d rows, statuses %s; notes %s"
          % (">= 6" if got else "?", len(st), sorted(st.values()), notes))
    if not got or len(st) != 32:
        fail("the extended file must be in place (32 rows) when its run is killed")
    if [f for f in os.listdir(tmp) if ".isweep-tmp." in f]:
        fail("the next run must remove the killed extension's temporary")
    # 3. --extend again completes it; identical to a from-scratch run
    p, t = run(mpirun(2, "run", spec, "-o", out, "--extend", "--quiet", *big))
    must(p, "--extend after the kills")
    must(run(mpirun(2, "run", spec, "-o", scratch, "--quiet", *big))[0], "the from-scratch run")
    diffs = compare_by_id(out, scratch)
    runs, hist = history(out)
    print("--extend again: %.1f s, statuses %s, runs %d, history %s; %d differences from scratch"
          % (t, sorted(set(statuses(out)["linear-meta"].values())), runs, hist, len(diffs)))
    if set(statuses(out)["linear-meta"].values()) != {2} or diffs or [a for a, _ in hist] != [4, 28]:
        fail("--extend after the kills must complete the sweep with the from-scratch results, one extension recorded")


CASES = {"extend": test_extend, "extend-refused": test_extend_refused, "extend-kill": test_extend_kill,
         "subgrid": test_subgrid, "one-family": test_one_family, "paths": test_paths, "only": test_only}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: grow_test.py {%s}" % "|".join(CASES))
    tmp = tempfile.mkdtemp(prefix="isweep-grow-")
    try:
        CASES[sys.argv[1]](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
