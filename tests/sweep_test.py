#!/usr/bin/python3
"""Sweep-level tests of the isweep executable (run by ctest through Debian's python3).

  sweep_test.py determinism   same spec on 1 and 2 ranks -> identical result datasets
  sweep_test.py kill-resume   SIGKILL mid-sweep -> file opens (h5dump), resume -> identical results
  sweep_test.py signal        SIGUSR1 to mpirun -> clean stop (exit 75, file closed), resume completes
  sweep_test.py bad-input     bad specs/options -> exit 2, one-line error, no file created or changed
  sweep_test.py output-special  device node / FIFO / directory as output -> exit 2, left as it was
  sweep_test.py create-kill   SIGKILL during creation -> path holds nothing or a complete file; resume works
  sweep_test.py disk-full     full tmpfs at creation / under --force / during rows -> exit 3 naming ENOSPC
                              (or success), old file byte-identical, no hang, no crash (skips: exit 77)
  sweep_test.py lock          a second writer of a file in use -> exit 2 naming the holder, file untouched
  sweep_test.py stop-rank1    SIGTERM/SIGINT/SIGUSR1 to rank 1 only -> exit 75, resume identical
  sweep_test.py ctrl-c        Ctrl-C (SIGINT to mpirun's process group), SIGTERM to mpirun, Ctrl-C on
                              jobs/local.sh -> no row running, resume identical; exit statuses
  sweep_test.py mpi-error     rank 0 fails reading statuses on resume -> every rank exits with it
  sweep_test.py progress      --progress lines under a pipe, SIGUSR2 status, ETA from file timings
  sweep_test.py stop-queued   SIGUSR1 to every rank while each holds a prefetched config -> the
                              queued configs never start (no row starts after the signal), none
                              left running, exit 75, resume identical
  sweep_test.py backfill      a mixed sweep with teams of 3 on 4 ranks, with EASY backfilling and
                              without (ISW_NO_BACKFILL=1) -> bitwise identical results, all ok
  sweep_test.py batch-kill    rank 0 killed between a batch's data and its statuses -> file opens,
                              that batch's rows pending with their data, resume re-runs exactly the
                              rows not done (earlier batches untouched), results identical
  sweep_test.py dead-rank     SIGKILL to rank 2 of 3 under mpirun --enable-recovery -> the job ends by
                              itself (no hang), a line names the lost rank, the file is closed with no
                              row running, the rest (if any) resumes, results identical; without
                              --enable-recovery mpirun ends the job and --resume completes it

Environment: ISW_EXE (isweep binary), ISW_SOURCE_DIR (source tree).  Each prints what it
measured and exits non-zero on failure.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import stat
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


# Runs whose rows a test watches arrive write a batch every 0.25 s, not every 256 rows or 10 s
# (the defaults): kill.ini ends in about 8 s on 2 ranks.
WATCH = ["--set", "sweep.batch_seconds=0.25"]


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


# A test that must signal a sweep with work left follows rank 0's own count of finished configs
# (its status line every 0.12 s on stderr), not the rows in the file: rows reach the file after a
# batch's fsync, and on a stalled disk (CI once) a whole 8 s run's rows arrived at its end.
PACE = ["--status-every", "0.002"]  # minutes
DONE_RE = re.compile(r"isweep: status at .*?: (\d+)/(\d+) configs done")
PACING_RE = re.compile(r"isweep: (status at |  rank \d+: )")


class Sweep:
    """A sweep run in its own session, stdout and stderr read as they arrive (add PACE to its
    command to use wait_done)."""

    def __init__(self, cmd, env=ENV):
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self.out, self.err = Collector(self.proc.stdout), Collector(self.proc.stderr)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.returncode

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def done(self):
        """(configs done, configs in all) from the newest status line, or (0, 0)."""
        for line in reversed(self.err.lines()):
            m = DONE_RE.match(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        return 0, 0

    def wait_done(self, at_least, timeout=300):
        """Wait until rank 0 counts at least `at_least` configs done and some are left; -1 if
        the sweep ended first, -2 on timeout (the session is killed then)."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                return -1
            done, total = self.done()
            if done >= at_least:
                if done >= total:
                    return -1
                return done
            time.sleep(0.05)
        kill_session(self.proc.pid)
        return -2

    def finish(self, timeout):
        """Wait for the end; (stdout, stderr without the status blocks PACE asks for).  Kills
        the session and fails after `timeout` s."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(self.proc.pid)
            self.proc.wait()
            fail("still running %d s later: it hangs" % timeout)
        self.out.join()
        self.err.join()
        return "".join(self.out.lines()), "".join(l for l in self.err.lines() if not PACING_RE.match(l))


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
    proc = Sweep(mpirun(2, "run", spec, "-o", out, "--quiet", *WATCH, *PACE))
    ok = proc.wait_done(max(2, total // 4))
    if ok < 0:
        fail("the sweep ended before it could be killed (%d); make tests/specs/kill.ini bigger" % ok)
    # SIGKILL mpirun alone: its ranks (each in a process group of its own, in mpirun's
    # session) must die with it rather than go on writing rows as orphans
    os.kill(proc.pid, signal.SIGKILL)
    proc.proc.wait()
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
    print("killed with SIGKILL after %d of %d configs were done, %d rows ok in the file (uninterrupted run: "
          "%.1f s)" % (ok, total, done, t_ref))
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
    proc = Sweep(mpirun(2, "run", spec, "-o", out, *WATCH, *PACE))
    ok = proc.wait_done(3)
    if ok < 0:
        fail("the sweep ended before the signal (%d)" % ok)
    proc.send_signal(signal.SIGUSR1)  # mpirun forwards SIGUSR1 to every rank
    so, se = proc.finish(300)
    st = statuses(out)
    flat = [s for v in st.values() for s in v]
    print("SIGUSR1 after %d configs done: exit %d, statuses now: %d ok, %d pending, %d running"
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


# ---- the results file under every fault, and the lock (issue 8: 2, 3, 4, 5, 8) ----

SKIP = 77  # ctest SKIP_RETURN_CODE of the cases that need a tmpfs mount
TINY = ("--set", "linear-meta.widths=16", "--set", "sweep.seeds=0")  # one config group, < 1 s


def error_lines(text):
    return [l for l in text.splitlines() if l.startswith("isweep: error:")]


def crashed(p):
    """A segfault or abort shows as exit 139/134 from mpirun or in its report."""
    text = (p.stdout or "") + (p.stderr or "")
    return p.returncode in (134, 139) or "Segmentation fault" in text or "signal 11" in text


def node_identity(path):
    st = os.lstat(path)
    return (stat.S_IFMT(st.st_mode), st.st_ino, st.st_rdev)


def test_output_special(tmp):
    """A device node, a FIFO or a directory as output: exit 2, one line, left exactly as it was."""
    spec = os.path.join(SPECS, "small.ini")
    nodes = {}
    dev = os.path.join(tmp, "devnode")
    try:  # a private character device 1,3 (what /dev/null is), never a system path
        os.mknod(dev, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        nodes["character device"] = dev
    except OSError as e:
        print("note: cannot mknod here (%s): device case not run" % e)
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    nodes["FIFO"] = fifo
    folder = os.path.join(tmp, "folder")
    os.mkdir(folder)
    with open(os.path.join(folder, "keep.txt"), "w") as f:
        f.write("keep me\n")
    nodes["directory"] = folder
    before = {k: node_identity(v) for k, v in nodes.items()}
    listing = sorted(os.listdir(tmp))
    for kind, path in nodes.items():
        for opts in ((), ("--force",), ("--resume",)):
            try:
                p, _ = run(mpirun(2, "run", spec, "-o", path, "--quiet", *opts), timeout=180)
            except subprocess.TimeoutExpired:
                fail("%s as output %s: isweep hung" % (kind, " ".join(opts)))
            errs = error_lines(p.stderr)
            if not os.path.lexists(path) or node_identity(path) != before[kind]:
                fail("%s %s as output %s: it was removed or replaced (exit %d)\n%s"
                     % (kind, path, " ".join(opts), p.returncode, p.stderr[-2000:]))
            if crashed(p):
                fail("%s as output %s: crashed (exit %d)\n%s" % (kind, " ".join(opts), p.returncode, p.stderr[-2000:]))
            if p.returncode != 2 or len(errs) != 1 or path not in errs[0]:
                fail("%s as output %s: exit %d, expected 2 and one error line naming it:\n%s"
                     % (kind, " ".join(opts), p.returncode, p.stderr[-2000:]))
            print("%-17s %-9s exit 2, node unchanged: %s" % (kind, " ".join(opts) or "(none)", errs[0]))
    if sorted(os.listdir(tmp)) != listing or os.listdir(folder) != ["keep.txt"]:
        fail("files were left behind: %s" % sorted(set(os.listdir(tmp)) - set(listing)))
    if "character device" in nodes:
        print("the device node is still a character device with st_rdev %d,%d"
              % (os.major(os.lstat(dev).st_rdev), os.minor(os.lstat(dev).st_rdev)))


def temporaries(folder, name):
    return sorted(f for f in os.listdir(folder) if f.startswith("." + name + ".isweep-tmp."))


def check_resumable(out, what):
    """`out` is absent or opens; --resume then completes every row."""
    if os.path.exists(out):
        d = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
        if d.returncode != 0:
            fail("%s: the output path holds a file that does not open:\n%s" % (what, d.stderr[-1000:]))
    p, _ = run(mpirun(2, "run", os.path.join(SPECS, "small.ini"), "-o", out, "--resume", "--quiet", *TINY))
    if p.returncode != 0:
        fail("%s: --resume exited %d:\n%s" % (what, p.returncode, p.stderr[-2000:]))
    flat = [x for v in statuses(out).values() for x in v]
    if flat.count(2) != len(flat):
        fail("%s: --resume left rows not ok: %s" % (what, flat))
    return p


def test_create_kill(tmp):
    """SIGKILL while the file is being created: the path holds nothing or a complete file."""
    spec = os.path.join(SPECS, "small.ini")
    # 1. deterministic: the hook kills rank 0 with half the temporary file written
    out = os.path.join(tmp, "hook.h5")
    env = dict(ENV, ISW_TEST_CREATE_FAULT="kill")
    p = subprocess.run(mpirun(2, "run", spec, "-o", out, "--quiet", *TINY), env=env, capture_output=True,
                       text=True, timeout=300)
    left = temporaries(tmp, "hook.h5")
    print("killed during creation (hook): exit %d, output path %s, temporaries %s"
          % (p.returncode, "exists" if os.path.exists(out) else "absent", left))
    if p.returncode == 0:
        fail("the creation fault hook ISW_TEST_CREATE_FAULT=kill did not kill the run")
    if os.path.exists(out):
        fail("a file killed during its creation was left at the output path")
    if len(left) != 1:
        fail("expected one temporary left by the killed creation, found %s" % left)
    p = check_resumable(out, "after the hook's kill")
    notes = [l for l in p.stderr.splitlines() if "removed" in l and left[0] in l]
    if not notes or temporaries(tmp, "hook.h5"):
        fail("the next run did not remove the leftover temporary with a note:\n" + p.stderr[-2000:])
    print("--resume completed and removed it: " + notes[0])
    # --force killed half-way: the old results file stays, byte for byte; --resume cleans up
    digest = file_digest(out)
    p = subprocess.run(mpirun(2, "run", spec, "-o", out, "--quiet", "--force", *TINY), env=env,
                       capture_output=True, text=True, timeout=300)
    left = temporaries(tmp, "hook.h5")
    if p.returncode == 0 or file_digest(out) != digest or len(left) != 1:
        fail("--force killed during creation: exit %d, old file %s, temporaries %s"
             % (p.returncode, "unchanged" if file_digest(out) == digest else "CHANGED", left))
    p = check_resumable(out, "after a killed --force")
    if file_digest(out) == digest or temporaries(tmp, "hook.h5") or "removed" not in p.stderr:
        fail("--resume after a killed --force did not clean up its temporary:\n" + p.stderr[-2000:])
    print("--force killed during creation: the old file stayed byte-identical; --resume removed %s" % left[0])
    # 2. real kills of the whole job at increasing delays after the file (or its temporary) appears
    for i, delay in enumerate((0, 0, 0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.03)):
        name = "loop%d.h5" % i
        out = os.path.join(tmp, name)
        proc = subprocess.Popen(mpirun(2, "run", spec, "-o", out, "--quiet", *TINY), env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        t0 = time.time()
        while proc.poll() is None and time.time() - t0 < 120:
            if os.path.exists(out) or temporaries(tmp, name):
                break
        if delay:
            time.sleep(delay)
        kill_session(proc.pid)
        proc.wait()
        state = "complete file" if os.path.exists(out) else "nothing"
        check_resumable(out, "kill %d (%.4f s after the file appeared)" % (i, delay))
        if temporaries(tmp, name):
            fail("kill %d: a temporary is left after the next run: %s" % (i, temporaries(tmp, name)))
        print("kill %d at +%.4f s: output path held %s; --resume completed" % (i, delay, state))


def mount_tmpfs(folder, size):
    os.mkdir(folder)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", folder],
                       capture_output=True, text=True)
    if m.returncode != 0:
        print("SKIP: cannot mount a %s tmpfs on %s: %s" % (size, folder, m.stderr.strip()))
        sys.exit(SKIP)


def umount(folder):
    if subprocess.run(["umount", folder], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", folder], capture_output=True)


def fill_up(folder):
    """Write a filler file until the file system is full; returns its size."""
    n = 0
    f = open(os.path.join(folder, "filler"), "wb", buffering=0)
    try:
        while True:
            n += f.write(b"\0" * 4096)
    except OSError:
        pass
    finally:
        f.close()
    return n


def expect_enospc(p, what):
    errs = error_lines(p.stderr)
    if crashed(p):
        fail("%s: crashed (exit %d):\n%s" % (what, p.returncode, p.stderr[-3000:]))
    if p.returncode != 3 or len(errs) != 1 or "No space left on device" not in errs[0] or "ENOSPC" not in errs[0]:
        fail("%s: exit %d, expected 3 and one error line naming ENOSPC:\n%s" % (what, p.returncode, p.stderr[-3000:]))
    print("%s: exit 3: %s" % (what, errs[0]))


def run_bounded(cmd, what, timeout=180):
    """Run with a hang guard (generous: a hang is what is tested, not speed)."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        so, se = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        proc.communicate()
        fail("%s: still running after %d s: hung" % (what, timeout))
    return subprocess.CompletedProcess(cmd, proc.returncode, so, se)


def test_disk_full(tmp):
    """A full disk at creation (1 and 2 ranks, new file and --force over an old one) and during rows."""
    big = os.path.join(SPECS, "kill.ini")
    big_sets = ["--set", "sweep.seeds=0:99"]  # 1,000 rows: chunks of 256 rows, 4 per column
    small = os.path.join(SPECS, "small.ini")
    # a file system with room for the small results file but not for the big one: both
    # sizes are measured first (they follow the layout: chunked row datasets).  The big
    # probe stops once its file is made (ISW_FAULT=after-startup): its rows are not needed.
    sizes = {}
    for name, spec, extra in (("small", small, TINY), ("big", big, big_sets)):
        probe = os.path.join(tmp, "probe-%s.h5" % name)
        env = dict(ENV, ISW_FAULT="after-startup") if name == "big" else ENV
        p = subprocess.run(mpirun(2, "run", spec, "-o", probe, "--quiet", *extra), env=env,
                           capture_output=True, text=True)
        if (p.returncode != 0) != (name == "big") or not os.path.exists(probe):
            fail("the %s probe run failed (exit %d): %s" % (name, p.returncode, p.stderr[-2000:]))
        sizes[name] = os.path.getsize(probe)
    if sizes["big"] < sizes["small"] + 64 * 1024:
        fail("the big results file (%d B) is not clearly larger than the small one (%d B)" % (sizes["big"], sizes["small"]))
    room = (sizes["small"] + (sizes["big"] - sizes["small"]) // 2) // 4096 * 4096
    print("results files: small %d B, big %d B; tmpfs of %d B" % (sizes["small"], sizes["big"], room))
    mnt = os.path.join(tmp, "small-fs")
    mount_tmpfs(mnt, str(room))
    try:
        for np_ in (1, 2):
            out = os.path.join(mnt, "new%d.h5" % np_)
            p = run_bounded(mpirun(np_, "run", big, "-o", out, "--quiet", *big_sets),
                            "full disk at creation, %d rank(s)" % np_)
            expect_enospc(p, "full disk at creation, %d rank(s)" % np_)
            if os.listdir(mnt):
                fail("full disk at creation left files behind: %s" % os.listdir(mnt))
        prev = os.path.join(mnt, "prev.h5")
        p, _ = run(mpirun(2, "run", small, "-o", prev, "--quiet", *TINY))
        if p.returncode != 0:
            fail("the previous results file could not be made: " + p.stderr[-2000:])
        digest = file_digest(prev)
        p = run_bounded(mpirun(2, "run", big, "-o", prev, "--quiet", "--force", *big_sets), "--force on a full disk")
        expect_enospc(p, "--force over a previous results file on a full disk")
        if file_digest(prev) != digest or sorted(os.listdir(mnt)) != ["prev.h5"]:
            fail("--force on a full disk changed the previous results file or left files: %s" % os.listdir(mnt))
        print("the previous results file is byte-identical (sha256 %s...)" % digest[:16])
    finally:
        umount(mnt)
    # the disk fills up after creation: every row's space was allocated (and filled) at creation
    mnt = os.path.join(tmp, "run-fs")
    mount_tmpfs(mnt, "1m")
    try:
        out = os.path.join(mnt, "rows.h5")
        proc = subprocess.Popen(mpirun(2, "run", small, "-o", out, "--quiet"), env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        t0 = time.time()
        while proc.poll() is None and not os.path.exists(out) and time.time() - t0 < 120:
            time.sleep(0.001)
        kill_session(proc.pid)  # rows pending: the resume below writes them on a full disk
        proc.wait()
        if not os.path.exists(out):
            fail("the file to fill up was not made")
        pending = [x for v in statuses(out).values() for x in v].count(0)
        if pending == 0:
            fail("the file to fill up has no pending rows left: nothing would be written on a full disk")
        filled = fill_up(mnt)
        os.truncate(os.path.join(mnt, "filler"), filled - 4096)  # one page: room for the lock file only
        p = run_bounded(mpirun(2, "run", small, "-o", out, "--resume", "--quiet"), "rows on a full disk")
        if crashed(p):
            fail("rows on a full disk: crashed (exit %d):\n%s" % (p.returncode, p.stderr[-3000:]))
        with h5py.File(out, "r") as f:
            flat = [int(x) for g in f for x in f[g]["status"][()]]
        if p.returncode == 0:
            if flat.count(2) != len(flat):
                fail("rows on a full disk: exit 0 but rows not ok: %s" % flat)
            print("rows on a full disk (filler of %d bytes): exit 0, the %d pending rows written, all %d ok, file opens"
                  % (filled, pending, len(flat)))
        else:
            expect_enospc(p, "rows on a full disk")
            print("rows on a full disk: the file still opens (%d rows ok)" % flat.count(2))
    finally:
        umount(mnt)


def lock_holder(out):
    with open(out + ".lock") as f:
        fields = dict(l.split(" ", 1) for l in f.read().splitlines() if " " in l)
    return fields.get("host", "").strip(), int(fields.get("pid", "0")), fields.get("since", "").strip()


def signal_session(sid, sig):
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def test_lock(tmp):
    """A second writer of a file in use is refused (exit 2, holder named, file untouched)."""
    spec = os.path.join(SPECS, "kill.ini")
    out = os.path.join(tmp, "locked.h5")
    proc = Sweep(mpirun(2, "run", spec, "-o", out, "--quiet", *WATCH, *PACE))
    if proc.wait_done(1) < 0:
        fail("the first sweep ended before the second could start")
    try:
        host, pid, since = lock_holder(out)
    except (OSError, ValueError) as e:
        signal_session(proc.pid, signal.SIGCONT)
        host, pid, since = "", 0, ""
        print("no readable lock file beside the results: %s" % e)
    print("first run holds %s.lock: host %s, pid %d, since %s" % (os.path.basename(out), host, pid, since))
    for opts in (("--resume",), ("--force",)):
        signal_session(proc.pid, signal.SIGSTOP)  # the file is quiet while the second one tries
        try:
            digest = file_digest(out)
            p, _ = run(mpirun(2, "run", spec, "-o", out, "--quiet", *opts), timeout=300)
            after = file_digest(out)
        finally:
            signal_session(proc.pid, signal.SIGCONT)
        errs = error_lines(p.stderr)
        if p.returncode != 2 or len(errs) != 1:
            fail("second writer %s: exit %d, expected 2 and one error line:\n%s" % (opts[0], p.returncode, p.stderr[-2000:]))
        for part in (host, "pid %d" % pid, since):
            if not part or part not in errs[0]:
                fail("second writer %s: the error does not name the holder (%r):\n%s" % (opts[0], part, errs[0]))
        if after != digest:
            fail("second writer %s changed the results file" % opts[0])
        print("second writer %s: exit 2, file byte-identical: %s" % (opts[0], errs[0]))
    so, se = proc.finish(900)
    if proc.returncode != 0:
        fail("the first run did not complete normally (exit %d):\n%s" % (proc.returncode, se[-3000:]))
    flat = [x for v in statuses(out).values() for x in v]
    with h5py.File(out, "r") as f:
        runs = int(f.attrs["runs"])
    if flat.count(2) != len(flat) or runs != 1 or os.path.exists(out + ".lock"):
        fail("after the first run: %d of %d rows ok, runs %d, lock file %s"
             % (flat.count(2), len(flat), runs, "left" if os.path.exists(out + ".lock") else "gone"))
    print("first run completed: all %d rows ok, runs = 1, lock file removed" % len(flat))
    # a stale lock (same host, its process gone) is taken over with a note
    out = os.path.join(tmp, "stale.h5")
    child = subprocess.Popen(["true"])
    child.wait()
    with open(out + ".lock", "w") as f:
        f.write("isweep results lock\nhost %s\npid %d\nsince 2000-01-01T00:00:00Z\n" % (socket.gethostname(), child.pid))
    p, _ = run(mpirun(2, "run", os.path.join(SPECS, "small.ini"), "-o", out, "--resume", "--quiet", *TINY))
    notes = [l for l in p.stderr.splitlines() if "took over" in l and str(child.pid) in l]
    if p.returncode != 0 or not notes or os.path.exists(out + ".lock"):
        fail("stale lock: exit %d, lock file %s, stderr:\n%s"
             % (p.returncode, "left" if os.path.exists(out + ".lock") else "gone", p.stderr[-2000:]))
    print("stale lock of dead pid %d: taken over: %s" % (child.pid, notes[0]))
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
        proc = Sweep(mpirun(2, "run", spec, "-o", out, *WATCH, *PACE))
        ok = proc.wait_done(2)
        if ok < 0:
            kill_session(proc.pid)
            fail("%s: the sweep ended before the signal (%d)" % (name, ok))
        os.kill(rank_pids(proc.pid)[1], sig)  # rank 1 only: neither mpirun nor rank 0
        so, se = proc.finish(300)
        flat = flat_statuses(out)
        print("%s to rank 1 after %d of %d configs done: exit %d; now %d ok, %d pending, %d running"
              % (name, ok, total, proc.returncode, flat.count(2), flat.count(0), flat.count(1)))
        if proc.returncode != 75:
            fail("%s to rank 1 only must stop the sweep (exit 75), got %d:\n%s"
                 % (name, proc.returncode, se[-3000:]))
        if flat.count(1) or not flat.count(0):
            fail("%s to rank 1: expected pending rows and none running: %s" % (name, flat))
        resume_and_compare(ref, out, spec, name + " to rank 1")


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
        proc = Sweep(cmd + ["-o", out, *WATCH, *PACE], env=env)
        ok = proc.wait_done(2)
        if ok < 0:
            kill_session(proc.pid)
            fail("%s: the sweep ended before the signal (%d)" % (what, ok))
        t0 = time.time()
        send(proc)
        so, se = proc.finish(120)
        dt = time.time() - t0
        left = [p for p in session_pids(proc.pid) if not is_zombie(p)]
        kill_session(proc.pid)
        flat = flat_statuses(out)
        print("%s after %d configs done: exit %d after %.1f s; now %d ok, %d pending, %d running"
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


def columns(path, names):
    """{group: {name: array}} of the given columns."""
    with h5py.File(path, "r") as f:
        return {g: {n: f[g][n][()] for n in names} for g in f}


def rows_as_reference(path, ref):
    """{group: bool array}: rows whose every result cell equals ref's, bitwise (NaN == NaN)."""
    a, b = result_datasets(path), result_datasets(ref)
    rows = {g: len(v) for g, v in statuses(ref).items()}
    same = {}
    for k in b:
        g = k.split("/")[0]
        x, y = a[k], b[k]
        if k.endswith("/status") or x.ndim == 0 or x.shape[0] != rows[g]:
            continue  # the status itself, or not a per-row column (a dimension scale)
        if x.dtype.kind == "f" and x.dtype.itemsize == 8:
            eq = x.view(np.uint64) == y.view(np.uint64)
        else:
            eq = x == y
        eq = eq.reshape(len(eq), -1).all(axis=1)
        same[g] = eq if g not in same else same[g] & eq
    return same


def test_batch_kill(tmp):
    spec = os.path.join(SPECS, "small.ini")
    ref, _ = reference_file(tmp, spec)
    out = os.path.join(tmp, "batch-killed.h5")
    batch = ["--set", "sweep.batch_rows=4"]
    env = dict(ENV, ISW_FAULT="batch-before-status")
    try:
        p = subprocess.run(mpirun(2, "run", spec, "-o", out, "--quiet", *batch), env=env,
                           capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        fail("the run with ISW_FAULT=batch-before-status did not end within 600 s")
    if p.returncode == 0:
        fail("ISW_FAULT=batch-before-status did not kill the run")
    d = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    if d.returncode != 0:
        fail("h5dump cannot open the file killed between data and statuses:\n" + d.stderr[-2000:])
    names = ("status", "train_seconds", "start_time", "rank", "host")
    before = columns(out, names)
    done, torn = {}, {}
    written = rows_as_reference(out, ref)
    for g, c in before.items():
        st = c["status"]
        done[g] = np.flatnonzero(st >= 2)
        # the killed batch: its data are in the file (every result cell of the row equals the
        # uninterrupted run's) but not its status.  Cells never written hold no defined value
        # (no fill at creation), so equality with the reference is what tells them apart.
        torn[g] = np.flatnonzero((st < 2) & written[g])
    n_done = sum(len(v) for v in done.values())
    n_torn = sum(len(v) for v in torn.values())
    total = sum(len(c["status"]) for c in before.values())
    print("killed between data and statuses (exit %d): %d rows done, %d rows with data but no status, %d rows in all"
          % (p.returncode, n_done, n_torn, total))
    if n_done < 1 or n_torn < 1 or n_done + n_torn >= total:
        fail("expected a complete batch, a batch with data only, and rows left: %d done, %d torn of %d"
             % (n_done, n_torn, total))
    p, t = run(mpirun(2, "run", spec, "-o", out, "--resume", "--quiet", *batch))
    if p.returncode != 0:
        fail("resume after the batch kill exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    after = columns(out, names)
    for g in before:
        b, a = before[g], after[g]
        if not np.all(a["status"] >= 2):
            fail("%s: rows not done after the resume: %s" % (g, a["status"].tolist()))
        for n in ("start_time", "rank", "host", "train_seconds"):
            if not np.array_equal(b[n][done[g]], a[n][done[g]]):
                fail("%s: the resume re-ran rows that were done (column %s changed)" % (g, n))
        if np.any(b["start_time"][torn[g]] == a["start_time"][torn[g]]):
            fail("%s: the resume did not re-run the rows whose status was never written" % g)
    diffs, n = compare(ref, out)
    if diffs:
        fail("results after the batch kill and resume differ from the uninterrupted run:\n  " + "\n  ".join(diffs))
    print("resume in %.1f s re-ran the %d rows not done (done rows untouched); %d result datasets identical"
          % (t, total - n_done, n))


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
    proc = Sweep(mpirun(2, "run", spec, "-o", out, "--progress", "lines", *WATCH))
    # SIGUSR2 until a status block counts 2 configs done (rank 0's count: the file's rows can
    # lag); the ranks catch it from their first progress line on (handlers precede MPI_Init)
    t0, block, done = time.time(), [], -1
    while time.time() - t0 < 300 and proc.proc.poll() is None and not block:
        lines = proc.err.lines()
        if not any("configs done" in l for l in lines):
            time.sleep(0.05)
            continue
        n_heads = sum(l.startswith("isweep: status at") for l in lines)
        proc.send_signal(signal.SIGUSR2)
        t1 = time.time()
        while time.time() - t1 < 5:
            lines = proc.err.lines()
            heads = [i for i, l in enumerate(lines) if l.startswith("isweep: status at")]
            if len(heads) > n_heads:
                h = heads[n_heads]
                rows = [l for l in lines[h + 1:h + 3] if re.match(STATUS_RE, l)]
                if len(rows) == 2:
                    done = int(DONE_RE.match(lines[h]).group(1))
                    if done >= 2:
                        block = rows
                    break
            time.sleep(0.05)
        time.sleep(0.2)
    if not block:
        kill_session(proc.pid)
        fail("no status block with 2 configs done before the sweep ended (last count %d):\n%s"
             % (done, "".join(proc.err.lines())[-3000:]))
    proc.send_signal(signal.SIGUSR1)
    so, _ = proc.finish(300)
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


def test_stop_queued(tmp):
    spec = os.path.join(SPECS, "kill.ini")
    ref, _ = reference_file(tmp, spec)
    out = os.path.join(tmp, "queued.h5")
    proc = Sweep(mpirun(2, "run", spec, "-o", out, *WATCH, *PACE))
    ok = proc.wait_done(2)
    if ok < 0:
        kill_session(proc.pid)
        fail("the sweep ended before the signal (%d)" % ok)
    pids = rank_pids(proc.pid)
    t_signal = time.time()
    for pid in pids.values():  # each rank's stop flag rises now: no config may start after this
        os.kill(pid, signal.SIGUSR1)
    so, se = proc.finish(300)
    with h5py.File(out, "r") as f:
        rows = [(g, i, int(st), float(t)) for g in f
                for i, (st, t) in enumerate(zip(f[g]["status"][()], f[g]["start_time"][()]))]
    late = [(g, i, t - t_signal) for g, i, st, t in rows if st == 2 and t > t_signal + 0.05]
    flat = [st for _, _, st, _ in rows]
    print("SIGUSR1 to ranks %s after %d configs done: exit %d; now %d ok, %d pending, %d running; "
          "rows started after the signal: %s" % (sorted(pids), ok, proc.returncode, flat.count(2),
                                                 flat.count(0), flat.count(1), late))
    if proc.returncode != 75:
        fail("a stopped sweep should exit 75, got %d:\n%s" % (proc.returncode, se[-3000:]))
    if late:
        fail("configs queued on a rank started after the stop signal (seconds after it): %s" % late)
    if flat.count(1) or not flat.count(0):
        fail("expected pending rows and none running: %s" % flat)
    resume_and_compare(ref, out, spec, "stop with queued configs")


def test_backfill(tmp):
    spec = os.path.join(SPECS, "team-mixed.ini")
    files, ranks = {}, {}
    for name, env in (("strict", dict(ENV, ISW_NO_BACKFILL="1")), ("backfill", ENV)):
        out = os.path.join(tmp, name + ".h5")
        t0 = time.time()
        p = subprocess.run(mpirun(4, "run", spec, "-o", out, "--quiet"), env=env, capture_output=True, text=True)
        if p.returncode != 0:
            fail("%s run on 4 ranks exited %d:\n%s" % (name, p.returncode, p.stderr[-3000:]))
        with h5py.File(out, "r") as f:
            ranks[name] = sorted(set(int(r) for g in f for r in f[g]["rank"][()]))
        files[name] = out
        print("%s order on 4 ranks: %.1f s, rows led by ranks %s" % (name, time.time() - t0, ranks[name]))
    for name, out in files.items():
        flat = flat_statuses(out)
        if flat.count(2) != len(flat):
            fail("%s: not every row is ok: %s" % (name, flat))
    diffs, n = compare(files["strict"], files["backfill"])
    if diffs:
        fail("results with and without backfilling differ:\n  " + "\n  ".join(diffs))
    print("backfill: %d result datasets bitwise identical with and without backfilling" % n)


# A dead rank is noticed within seconds here (the defaults are 10 s and 120 s).
ALIVE = ["--set", "sweep.heartbeat=0.5", "--set", "sweep.rank_timeout=10"]


def all_rank_pids(sid, n, timeout=120):
    """{MPI rank: pid} once all n ranks of session `sid` are up."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        pids = rank_pids(sid)
        if len(pids) == n:
            return pids
        time.sleep(0.1)
    fail("only ranks %s of %d found in session %d" % (sorted(rank_pids(sid)), n, sid))


def kill_rank_mid_sweep(spec, out, recovery, rank=2, ranks=3, timeout=600):
    """Start a sweep on `ranks` ranks, SIGKILL `rank` once 3 configs are done; wait for the job to end
    (SIGKILL the session and fail after `timeout` s).  Returns (exit status, stderr, configs done
    at the kill, seconds from the kill to the end)."""
    cmd = ["mpirun", *(["--enable-recovery"] if recovery else []), "-np", str(ranks), "--oversubscribe",
           EXE, "run", spec, "-o", out, "--quiet", *WATCH, *ALIVE, *PACE]
    proc = Sweep(cmd)
    ok = proc.wait_done(3)
    if ok < 0:
        kill_session(proc.pid)
        fail("the sweep ended before rank %d could be killed (%d)" % (rank, ok))
    os.kill(all_rank_pids(proc.pid, ranks)[rank], signal.SIGKILL)
    t_kill = time.time()
    try:
        proc.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        fail("rank %d killed%s: the job still runs %d s later: it hangs"
             % (rank, " under --enable-recovery" if recovery else "", timeout))
    t_end = time.time() - t_kill
    _, se = proc.finish(60)
    return proc.returncode, se, ok, t_end


def test_dead_rank(tmp):
    spec = os.path.join(SPECS, "kill.ini")
    ref, _ = reference_file(tmp, spec)
    total = len(flat_statuses(ref))
    # 1. mpirun --enable-recovery: the others go on; rank 0 notices the silence, hands the dead
    #    rank's configs to the others, closes the file itself and ends the job
    out = os.path.join(tmp, "dead-rank.h5")
    rc, se, ok, t_end = kill_rank_mid_sweep(spec, out, recovery=True)
    lines = [l for l in se.splitlines() if l.startswith("isweep:")]
    flat = flat_statuses(out)  # opens with h5py
    print("--enable-recovery, rank 2 killed after %d of %d configs done: the job ended %.1f s later, exit %d; "
          "rows now %d ok, %d pending, %d running" % (ok, total, t_end, rc, flat.count(2), flat.count(0),
                                                      flat.count(1)))
    for l in lines:
        print("  " + l)
    lost = [l for l in lines if l.startswith("isweep: rank 2 ") and "lost" in l]
    if not lost:
        fail("no line on stderr names the lost rank 2:\n" + se[-3000:])
    if flat.count(1):
        fail("rows left running after the dead rank's job ended: %s" % flat)
    with h5py.File(out, "r") as f:
        end = f.attrs["end_time"]
    end = end.decode() if isinstance(end, bytes) else str(end)
    if not end.strip():
        fail("end_time not written: rank 0 did not close the file")
    if flat.count(2) != total:
        print("%d rows left pending: --resume runs them" % flat.count(0))
        resume_and_compare(ref, out, spec, "after the dead rank")
    else:
        diffs, n = compare(ref, out)
        if diffs:
            fail("results after the dead rank differ from the uninterrupted run:\n  " + "\n  ".join(diffs))
        print("every row ok; %d result datasets identical to the uninterrupted run" % n)
    # 2. without --enable-recovery mpirun ends the whole job; --resume runs what is missing
    out = os.path.join(tmp, "dead-rank-plain.h5")
    rc, se, ok, t_end = kill_rank_mid_sweep(spec, out, recovery=False)
    flat = flat_statuses(out)
    print("plain mpirun, rank 2 killed after %d configs done: exit %d %.1f s later; rows %d ok, %d pending, %d running"
          % (ok, rc, t_end, flat.count(2), flat.count(0), flat.count(1)))
    if rc == 0:
        fail("plain mpirun exited 0 after a rank was killed")
    resume_and_compare(ref, out, spec, "plain mpirun, rank 2 killed")


def main():
    tests = {"determinism": test_determinism, "kill-resume": test_kill_resume,
             "signal": test_signal, "bad-input": test_bad_input,
             "output-special": test_output_special, "create-kill": test_create_kill,
             "disk-full": test_disk_full, "lock": test_lock,
             "stop-rank1": test_stop_rank1, "ctrl-c": test_ctrl_c, "mpi-error": test_mpi_error,
             "progress": test_progress, "stop-queued": test_stop_queued,
             "backfill": test_backfill, "batch-kill": test_batch_kill,
             "dead-rank": test_dead_rank}
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
