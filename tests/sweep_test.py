#!/usr/bin/python3
"""Sweep-level tests of the isweep executable (run by ctest through Debian's python3).

  sweep_test.py determinism   same spec on 1 and 2 ranks -> identical result datasets
  sweep_test.py kill-resume   SIGKILL mid-sweep -> file opens (h5dump), resume -> identical results
  sweep_test.py signal        SIGUSR1 to mpirun -> clean stop (exit 75, file closed), resume completes
  sweep_test.py bad-input     bad specs/options -> exit 2, one-line error, no file created or changed
  sweep_test.py stop-rank1    SIGTERM/SIGINT/SIGUSR1 to rank 1 only -> exit 75, resume identical
  sweep_test.py ctrl-c        Ctrl-C (SIGINT to mpirun's process group), SIGTERM to mpirun, Ctrl-C on
                              jobs/local.sh -> no row running, resume identical; exit statuses
  sweep_test.py mpi-error     rank 0 fails reading statuses on resume -> every rank exits with it
  sweep_test.py progress      --progress lines under a pipe, SIGUSR2 status, ETA from file timings

Environment: ISW_EXE (isweep binary), ISW_SOURCE_DIR (source tree).  Each prints what it
measured and exits non-zero on failure.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

EXE = os.environ.get("ISW_EXE", "isweep")
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = os.path.join(SRC, "tests", "specs")
# columns that legitimately differ between runs: who ran a row, where and when
RUN_COLUMNS = {"rank", "host", "start_time", "train_seconds", "eval_seconds"}
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")


def mpirun(np_, *args):
    return ["mpirun", "-np", str(np_), "--oversubscribe", EXE, *args]


def run(cmd, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, **kw)
    return p, time.time() - t0


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def result_datasets(path):
    """{group/name: array} of every result dataset but the run columns."""
    out = {}
    with h5py.File(path, "r") as f:
        for g in f:
            for name, ds in f[g].items():
                if name not in RUN_COLUMNS:
                    out[g + "/" + name] = ds[()]
    return out


def compare(a_path, b_path):
    """List of differences between the result datasets of two files (bitwise, NaN == NaN)."""
    a, b = result_datasets(a_path), result_datasets(b_path)
    diffs = []
    if sorted(a) != sorted(b):
        diffs.append("different datasets: %s vs %s" % (sorted(set(a) - set(b)), sorted(set(b) - set(a))))
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.shape != y.shape:
            diffs.append("%s: shapes %s vs %s" % (k, x.shape, y.shape))
        elif x.dtype.kind == "f":
            if not np.array_equal(x.view(np.uint64), y.view(np.uint64)):
                n = int(np.sum(x.view(np.uint64) != y.view(np.uint64)))
                diffs.append("%s: %d values differ (max abs diff %g)" % (k, n, np.nanmax(np.abs(x - y))))
        elif not np.array_equal(x, y):
            diffs.append("%s: values differ" % k)
    return diffs, len(a)


def statuses(path):
    with h5py.File(path, "r") as f:
        return {g: f[g]["status"][()].tolist() for g in f}


def test_determinism(tmp):
    spec = os.path.join(SPECS, "small.ini")
    one, two = os.path.join(tmp, "np1.h5"), os.path.join(tmp, "np2.h5")
    p1, t1 = run(mpirun(1, "run", spec, "-o", one, "--quiet"))
    p2, t2 = run(mpirun(2, "run", spec, "-o", two, "--quiet"))
    for p, n in ((p1, 1), (p2, 2)):
        if p.returncode != 0:
            fail("run on %d rank(s) exited %d:\n%s" % (n, p.returncode, p.stderr[-3000:]))
    diffs, n = compare(one, two)
    with h5py.File(two, "r") as f:
        ranks = sorted(set(int(r) for g in f for r in f[g]["rank"][()]))
    print("1 rank: %.1f s, 2 ranks: %.1f s; %d result datasets compared; rows written by ranks %s" % (t1, t2, n, ranks))
    if ranks != [0, 1]:
        fail("the 2-rank run did not use both ranks: %s" % ranks)
    if diffs:
        fail("1-rank and 2-rank results differ:\n  " + "\n  ".join(diffs))
    for g, st in statuses(two).items():
        if any(s != 2 for s in st):
            fail("%s: not every row is ok: %s" % (g, st))
    print("determinism: bitwise identical result datasets on 1 and 2 ranks")


def wait_rows_ok(path, at_least, proc, timeout=300):
    """Poll the file being written until at least `at_least` rows are ok."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return -1
        try:
            with h5py.File(path, "r") as f:
                ok = sum(int(np.sum(f[g]["status"][()] == 2)) for g in f)
            if ok >= at_least:
                return ok
        except Exception:
            pass
        time.sleep(0.2)
    return -2


def session_pids(sid):
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(p) for p, s in (l.split() for l in out.splitlines()) if int(s) == sid]


def is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True  # gone


def kill_session(sid):
    """SIGKILL every process of session `sid` and wait until none is left."""
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    t0 = time.time()
    while time.time() - t0 < 30:
        alive = [p for p in session_pids(sid) if not is_zombie(p)]
        if not alive:
            return
        time.sleep(0.05)
    fail("processes of the killed sweep are still alive: %s" % alive)


def test_kill_resume(tmp):
    spec = os.path.join(SPECS, "kill.ini")
    ref, out = os.path.join(tmp, "ref.h5"), os.path.join(tmp, "killed.h5")
    p, t_ref = run(mpirun(2, "run", spec, "-o", ref, "--quiet"))
    if p.returncode != 0:
        fail("uninterrupted run exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    total = sum(len(s) for s in statuses(ref).values())
    proc = subprocess.Popen(mpirun(2, "run", spec, "-o", out, "--quiet"), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    ok = wait_rows_ok(out, max(2, total // 4), proc)
    if ok < 0:
        fail("the sweep ended before it could be killed (%d); make tests/specs/kill.ini bigger" % ok)
    # SIGKILL mpirun alone: its ranks (each in a process group of its own, in mpirun's
    # session) must die with it rather than go on writing rows as orphans
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.time()
    while time.time() - t0 < 10 and [p for p in session_pids(proc.pid) if not is_zombie(p)]:
        time.sleep(0.05)
    orphans = [p for p in session_pids(proc.pid) if not is_zombie(p)]
    kill_session(proc.pid)
    if orphans:
        fail("ranks %s outlived their killed mpirun" % orphans)
    print("ranks died with mpirun within %.2f s" % (time.time() - t0))
    st = statuses(out)
    done = sum(s == 2 for v in st.values() for s in v)
    print("killed with SIGKILL after %d of %d rows were ok (uninterrupted run: %.1f s)" % (done, total, t_ref))
    if done >= total:
        fail("every row was already ok when killed")
    d = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    if d.returncode != 0:
        fail("h5dump cannot open the killed file:\n" + d.stderr[-2000:])
    print("h5dump -H opens the killed file (exit 0)")
    p, t_res = run(mpirun(2, "run", spec, "-o", out, "--resume", "--quiet"))
    if p.returncode != 0:
        fail("resume exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    diffs, n = compare(ref, out)
    if diffs:
        fail("resumed results differ from the uninterrupted run:\n  " + "\n  ".join(diffs))
    with h5py.File(out, "r") as f:
        runs = int(f.attrs["runs"])
    print("resume ran in %.1f s; %d result datasets identical to the uninterrupted run; runs attribute = %d"
          % (t_res, n, runs))
    if runs != 2:
        fail("runs attribute should be 2 after one resume, is %d" % runs)


def test_signal(tmp):
    spec = os.path.join(SPECS, "kill.ini")
    out = os.path.join(tmp, "stopped.h5")
    proc = subprocess.Popen(mpirun(2, "run", spec, "-o", out), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ok = wait_rows_ok(out, 3, proc)
    if ok < 0:
        fail("the sweep ended before the signal (%d)" % ok)
    proc.send_signal(signal.SIGUSR1)  # mpirun forwards SIGUSR1 to every rank
    so, se = proc.communicate(timeout=300)
    st = statuses(out)
    flat = [s for v in st.values() for s in v]
    print("SIGUSR1 after %d ok rows: exit %d, statuses now: %d ok, %d pending, %d running"
          % (ok, proc.returncode, flat.count(2), flat.count(0), flat.count(1)))
    if proc.returncode != 75:
        fail("a stopped sweep should exit 75, got %d:\n%s" % (proc.returncode, se[-3000:]))
    if flat.count(1):
        fail("rows left 'running' after a clean stop")
    with h5py.File(out, "r") as f:
        end = f.attrs["end_time"]
    end = end.decode() if isinstance(end, bytes) else str(end)
    if not end.strip():
        fail("end_time not written: the file was not closed cleanly")
    if "--resume" not in so:
        fail("the stop message should tell how to resume; stdout was:\n" + so[-2000:])
    p, _ = run(mpirun(2, "run", spec, "-o", out, "--resume", "--quiet"))
    flat = [s for v in statuses(out).values() for s in v]
    if p.returncode != 0 or flat.count(2) != len(flat):
        fail("resume after the stop did not complete (exit %d): %s" % (p.returncode, p.stderr[-2000:]))
    print("clean stop: end_time %s; resume completed all %d rows" % (end, len(flat)))


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_bad_input(tmp):
    good = os.path.join(SPECS, "small.ini")
    out = os.path.join(tmp, "bad.h5")
    bad_spec = os.path.join(tmp, "bad.ini")
    with open(bad_spec, "w") as f:
        f.write("[sweep]\ntasks = linear-meta\nwidths = 16\ntrain_iters = 0\ntest_iters = 0:4\n")
    cases = [
        ("bad spec value", mpirun(1, "run", bad_spec, "-o", out), bad_spec + ":4:"),
        ("missing spec file", mpirun(1, "run", os.path.join(tmp, "nope.ini"), "-o", out), "nope.ini"),
        ("bad override", mpirun(1, "run", good, "-o", out, "--set", "linear-meta.tasks=abc"), "--set"),
        ("unknown option", mpirun(1, "run", good, "-o", out, "--frobnicate"), "--frobnicate"),
        ("bad spec on 2 ranks", mpirun(2, "run", bad_spec, "-o", out), bad_spec + ":4:"),
    ]
    for name, cmd, expect in cases:
        p, _ = run(cmd)
        errs = [l for l in p.stderr.splitlines() if l.startswith("isweep: error:")]
        if p.returncode != 2:
            fail("%s: exit %d, expected 2\n%s" % (name, p.returncode, p.stderr[-2000:]))
        if len(errs) != 1 or expect not in errs[0]:
            fail("%s: expected one 'isweep: error:' line naming %r, got:\n%s" % (name, expect, p.stderr))
        if os.path.exists(out):
            fail("%s: an output file was created" % name)
        print("%-22s exit 2: %s" % (name, errs[0]))
    # an existing file is never overwritten without --resume/--force, nor resumed with another spec
    p, _ = run(mpirun(1, "run", good, "-o", out, "--quiet"))
    if p.returncode != 0:
        fail("good run failed: " + p.stderr[-2000:])
    before = file_digest(out)
    for name, cmd in (("existing output", mpirun(1, "run", good, "-o", out)),
                      ("resume, other spec", mpirun(1, "run", good, "-o", out, "--resume",
                                                    "--set", "linear-meta.tasks=17"))):
        p, _ = run(cmd)
        errs = [l for l in p.stderr.splitlines() if l.startswith("isweep: error:")]
        if p.returncode != 2 or len(errs) != 1:
            fail("%s: exit %d, stderr:\n%s" % (name, p.returncode, p.stderr[-2000:]))
        if file_digest(out) != before:
            fail("%s: the existing results file was modified" % name)
        print("%-22s exit 2, file untouched: %s" % (name, errs[0]))
    p, _ = run(mpirun(1, "run", good, "-o", out, "--resume", "--quiet"))
    if p.returncode != 0:
        fail("resume of a finished sweep should succeed and run nothing: " + p.stderr[-2000:])
    print("resume of a finished sweep: exit 0")


def rank_pids(sid, timeout=60):
    """{MPI rank: pid} of the isweep ranks in session `sid` (from their environment)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        found = {}
        for pid in session_pids(sid):
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if b"OMPI_COMM_WORLD_RANK" in env and os.path.basename(argv0) == os.path.basename(EXE).encode():
                found[int(env[b"OMPI_COMM_WORLD_RANK"])] = pid
        if found:
            return found
        time.sleep(0.1)
    fail("no isweep rank found in session %d" % sid)


def flat_statuses(path):
    return [s for v in statuses(path).values() for s in v]


def reference_file(tmp, spec):
    ref = os.path.join(tmp, "ref.h5")
    p, t = run(mpirun(2, "run", spec, "-o", ref, "--quiet"))
    if p.returncode != 0:
        fail("uninterrupted run exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    return ref, t


def resume_and_compare(ref, out, spec, what):
    p, t = run(mpirun(2, "run", spec, "-o", out, "--resume", "--quiet"))
    if p.returncode != 0:
        fail("%s: resume exited %d:\n%s" % (what, p.returncode, p.stderr[-3000:]))
    diffs, n = compare(ref, out)
    if diffs:
        fail("%s: resumed results differ from the uninterrupted run:\n  " % what + "\n  ".join(diffs))
    print("%s: resume completed in %.1f s; %d result datasets identical to the uninterrupted run"
          % (what, t, n))


def test_stop_rank1(tmp):
    spec = os.path.join(SPECS, "kill.ini")
    ref, t_ref = reference_file(tmp, spec)
    total = len(flat_statuses(ref))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        name = signal.Signals(sig).name
        out = os.path.join(tmp, "rank1-%s.h5" % name)
        proc = subprocess.Popen(mpirun(2, "run", spec, "-o", out), env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        ok = wait_rows_ok(out, 2, proc)
        if ok < 0:
            kill_session(proc.pid)
            fail("%s: the sweep ended before the signal (%d)" % (name, ok))
        os.kill(rank_pids(proc.pid)[1], sig)  # rank 1 only: neither mpirun nor rank 0
        try:
            so, se = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            fail("%s to rank 1: the sweep did not end within 300 s" % name)
        flat = flat_statuses(out)
        print("%s to rank 1 after %d of %d rows ok: exit %d; now %d ok, %d pending, %d running"
              % (name, ok, total, proc.returncode, flat.count(2), flat.count(0), flat.count(1)))
        if proc.returncode != 75:
            fail("%s to rank 1 only must stop the sweep (exit 75), got %d:\n%s"
                 % (name, proc.returncode, se[-3000:]))
        if flat.count(1) or not flat.count(0):
            fail("%s to rank 1: expected pending rows and none running: %s" % (name, flat))
        resume_and_compare(ref, out, spec, name + " to rank 1")


def wait_exit(proc, timeout):
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        fail("still running %d s after the signal" % timeout)


# the grace the README tells users of raw mpirun to give (seconds between SIGTERM and SIGKILL)
GRACE = ["--mca", "odls_base_sigkill_timeout", "5"]


def test_ctrl_c(tmp):
    spec = os.path.join(SPECS, "kill.ini")
    ref, _ = reference_file(tmp, spec)
    cases = [
        ("Ctrl-C on mpirun", ["mpirun", "-np", "2", "--oversubscribe", *GRACE, EXE, "run", spec],
         lambda p: os.killpg(p.pid, signal.SIGINT), 1),
        ("SIGTERM to mpirun", ["mpirun", "-np", "2", "--oversubscribe", *GRACE, EXE, "run", spec],
         lambda p: os.kill(p.pid, signal.SIGTERM), 1),
        ("Ctrl-C on jobs/local.sh", ["bash", os.path.join(SRC, "jobs", "local.sh"), spec],
         lambda p: os.killpg(p.pid, signal.SIGINT), 75),
    ]
    env = dict(ENV, NP="2", ISWEEP=EXE)
    for i, (what, cmd, send, expect) in enumerate(cases):
        out = os.path.join(tmp, "case%d.h5" % i)
        proc = subprocess.Popen(cmd + ["-o", out], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        ok = wait_rows_ok(out, 2, proc)
        if ok < 0:
            kill_session(proc.pid)
            fail("%s: the sweep ended before the signal (%d)" % (what, ok))
        t0 = time.time()
        send(proc)
        so, se = wait_exit(proc, 120)
        dt = time.time() - t0
        left = [p for p in session_pids(proc.pid) if not is_zombie(p)]
        kill_session(proc.pid)
        flat = flat_statuses(out)
        print("%s after %d ok rows: exit %d after %.1f s; now %d ok, %d pending, %d running"
              % (what, ok, proc.returncode, dt, flat.count(2), flat.count(0), flat.count(1)))
        if left:
            fail("%s: processes %s outlived the launcher" % (what, left))
        if flat.count(1):
            fail("%s: rows left 'running':\n%s" % (what, se[-3000:]))
        if proc.returncode != expect:
            fail("%s: exit %d, expected %d:\n%s" % (what, proc.returncode, expect, se[-3000:]))
        resume_and_compare(ref, out, spec, what)


def test_mpi_error(tmp):
    spec = os.path.join(SPECS, "small.ini")
    out = os.path.join(tmp, "fault.h5")
    p, _ = run(mpirun(2, "run", spec, "-o", out, "--quiet"))
    if p.returncode != 0:
        fail("first run exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    env = dict(ENV, ISW_FAULT="resume-status-read")
    try:
        p = subprocess.run(mpirun(2, "run", spec, "-o", out, "--resume", "--quiet"), env=env,
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        fail("a failed status read on rank 0 hangs the ranks (no exit within 120 s)")
    errs = [l for l in p.stderr.splitlines() if l.startswith("isweep: error:")]
    print("status read fails on rank 0: exit %d; %s" % (p.returncode, errs))
    if p.returncode != 3:
        fail("expected exit 3 (I/O error), got %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    if len(errs) != 1 or "status" not in errs[0]:
        fail("expected one 'isweep: error:' line about the status read:\n" + p.stderr[-3000:])
    if "MPI_ABORT" in p.stderr or "MPI_Abort" in p.stderr:
        fail("the ranks aborted instead of ending together:\n" + p.stderr[-3000:])
    flat = flat_statuses(out)
    if flat.count(2) != len(flat):
        fail("the failed resume changed rows: %s" % flat)


class Collector:
    """Reads a pipe in a thread; lines() is what arrived so far."""

    def __init__(self, pipe):
        import threading
        self._lines, self._lock = [], threading.Lock()
        self._t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._t.start()

    def _read(self, pipe):
        for line in pipe:
            with self._lock:
                self._lines.append(line)

    def lines(self):
        with self._lock:
            return list(self._lines)

    def join(self):
        self._t.join(timeout=60)


def plan_costs(spec):
    """{(task, row): (predicted flops, team)} from `isweep plan` on 2 ranks."""
    p = subprocess.run([EXE, "plan", spec, "--ranks", "2"], env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        fail("plan failed: " + p.stderr)
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("#"):
            continue
        f = line.split()
        out[(f[1], int(f[2]))] = (float(f[8]) * 1e9, int(f[7]))
    return out


STATUS_RE = r"isweep:\s+rank (\d+): (?:(\S+) row (\d+) config ([0-9a-f]{16}) \((.*)\) running for (\S+)|idle)"


def test_progress(tmp):
    import re
    small, spec = os.path.join(SPECS, "small.ini"), os.path.join(SPECS, "kill.ini")
    # 1. lines under a pipe: a line at once, with done/total and "ETA ?" before any result
    n = len(plan_costs(small))
    p, _ = run(mpirun(2, "run", small, "-o", os.path.join(tmp, "lines.h5"), "--progress", "lines"))
    prog = [l for l in p.stderr.splitlines() if "configs done" in l]
    print("--progress lines, stderr a pipe: exit %d, %d progress lines; first: %s"
          % (p.returncode, len(prog), prog[:1]))
    if p.returncode != 0:
        fail("run with --progress lines exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    if "\r" in p.stderr:
        fail("--progress lines wrote a carriage return")
    if not prog or not re.search(r"\b0/%d configs done" % n, prog[0]) or "ETA ?" not in prog[0]:
        fail("the first progress line must say 0/%d configs done and ETA ?: %s" % (n, prog[:2]))
    if not re.search(r"\b%d/%d configs done" % (n, n), prog[-1]):
        fail("the last progress line must say %d/%d configs done: %s" % (n, n, prog[-1:]))
    p, _ = run(mpirun(1, "run", small, "-o", os.path.join(tmp, "none.h5"), "--progress", "none"))
    if p.returncode != 0 or "configs done" in p.stderr:
        fail("--progress none: exit %d, stderr:\n%s" % (p.returncode, p.stderr[-2000:]))
    p, _ = run(mpirun(1, "run", small, "-o", os.path.join(tmp, "bad.h5"), "--progress", "fancy"))
    if p.returncode != 2 or "--progress" not in p.stderr:
        fail("--progress fancy should be a usage error (exit 2), got %d: %s" % (p.returncode, p.stderr))
    # 2. SIGUSR2 to mpirun: a status block listing every rank, busy ones with their config
    out = os.path.join(tmp, "status.h5")
    proc = subprocess.Popen(mpirun(2, "run", spec, "-o", out, "--progress", "lines"), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    err = Collector(proc.stderr)
    ok = wait_rows_ok(out, 2, proc)
    if ok < 0:
        kill_session(proc.pid)
        fail("the sweep ended before SIGUSR2 (%d)" % ok)
    proc.send_signal(signal.SIGUSR2)
    t0 = time.time()
    block = []
    while time.time() - t0 < 120 and len(block) < 2:
        lines = err.lines()
        heads = [i for i, l in enumerate(lines) if l.startswith("isweep: status at")]
        if heads:
            block = [l for l in lines[heads[0] + 1:heads[0] + 3] if re.match(STATUS_RE, l)]
        time.sleep(0.2)
    proc.send_signal(signal.SIGUSR1)
    so, _ = proc.communicate(timeout=300)
    err.join()
    print("SIGUSR2: status block:\n  " + "  ".join(block))
    if proc.returncode != 75:
        fail("the sweep stopped by SIGUSR1 should exit 75, got %d" % proc.returncode)
    ranks = sorted(int(re.match(STATUS_RE, l).group(1)) for l in block)
    if ranks != [0, 1]:
        fail("the status block must list ranks 0 and 1 once each: %s" % block)
    with h5py.File(out, "r") as f:
        for l in block:
            m = re.match(STATUS_RE, l)
            if m.group(2):
                cid = "%016x" % int(f[m.group(2)]["config_id"][int(m.group(3))])
                if cid != m.group(4):
                    fail("status line names config %s for row %s, the file has %s" % (m.group(4), m.group(3), cid))
    if not any(re.match(STATUS_RE, l).group(2) for l in block):
        fail("no rank was listed as busy: %s" % block)
    # 3. resume: the ETA's rate comes from the ok rows' timings in the file; --status-every
    costs = plan_costs(spec)
    with h5py.File(out, "r") as f:
        g = f["linear-meta"]
        st, sec = g["status"][()], g["train_seconds"][()] + g["eval_seconds"][()]
        okrows = [i for i in range(len(st)) if st[i] == 2]
        flops = sum(costs[("linear-meta", i)][0] for i in okrows)
        rank_s = sum(sec[i] * costs[("linear-meta", i)][1] for i in okrows)
    expect = flops / rank_s
    p, _ = run(mpirun(2, "run", spec, "-o", out, "--resume", "--progress", "lines", "--status-every", "0.02"))
    m = re.search(r"ETA from the file's timings: ([0-9.e+-]+) flop/s per rank \((\d+) ok rows", p.stderr)
    print("resume: expected rate %.4g flop/s per rank from %d ok rows; printed: %s"
          % (expect, len(okrows), m.group(0) if m else None))
    if p.returncode != 0:
        fail("resume exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    if not m or int(m.group(2)) != len(okrows) or abs(float(m.group(1)) / expect - 1) > 0.01:
        fail("the resumed run must calibrate its ETA from the file's timings:\n" + p.stderr[-3000:])
    first = [l for l in p.stderr.splitlines() if "configs done" in l][0]
    if "ETA ?" in first:
        fail("with the file's timings the first ETA is known: %s" % first)
    if "isweep: status at" not in p.stderr:
        fail("--status-every 0.02 printed no status block:\n" + p.stderr[-3000:])
    print("first progress line of the resumed run: %s" % first)


def main():
    tests = {"determinism": test_determinism, "kill-resume": test_kill_resume,
             "signal": test_signal, "bad-input": test_bad_input,
             "stop-rank1": test_stop_rank1, "ctrl-c": test_ctrl_c, "mpi-error": test_mpi_error,
             "progress": test_progress}
    if len(sys.argv) != 2 or sys.argv[1] not in tests:
        print(__doc__)
        sys.exit(2)
    tmp = tempfile.mkdtemp(prefix="isweep-sweep-")
    try:
        tests[sys.argv[1]](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
