#!/usr/bin/python3
"""Sweeps that grow (issue 11), end to end through the isweep executable.

  grow_test.py one-family   --set sweep.tasks=linear-meta cuts the default spec: notes, one group
  grow_test.py paths        a spec in another folder with a relative data path and output; a resume
                            after the data file changed is refused (exit 2, file byte-identical)
  grow_test.py subgrid      [deq] + [deq.wide] on 2 ranks: the union, each config once, results equal
                            to the same configs of one section listing every width
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
    if len(notes) != 2 or "[deq]" not in notes[0] or "[maml]" not in notes[1]:
        fail("each dropped section must be named in a note on stderr: %s" % notes)
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


CASES = {"subgrid": test_subgrid, "one-family": test_one_family, "paths": test_paths, "only": test_only}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: grow_test.py {%s}" % "|".join(CASES))
    tmp = tempfile.mkdtemp(prefix="isweep-grow-")
    try:
        CASES[sys.argv[1]](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
