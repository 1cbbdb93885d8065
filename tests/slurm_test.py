#!/usr/bin/python3
"""SLURM tests of jobs/slurm.sh against a real SLURM started here (tests/slurm/cluster.sh).

Each test starts its own private cluster (munged, slurmctld, two slurmd: nodes n1 and n2 of
2 CPUs each, all on this machine, everything in a temporary folder), runs, and stops it,
checking that no process of the cluster is left.

  slurm_test.py launch      srun --mpi=pmix and mpirun inside an allocation start ranks
                            that see each other (MPI size 2, on one node and on two)
  slurm_test.py resubmit    one node, mpirun: USR1 to the batch shell mid-sweep -> clean
                            stop (exit 75); the same sbatch command again -> resumes, completes
  slurm_test.py requeue     two nodes, srun --mpi=pmix, ISW_REQUEUE=1: USR1 -> clean stop ->
                            the job requeues itself -> resumes under the same job id
  slurm_test.py preempt     two nodes, mpirun: `scontrol requeue` (SIGTERM, then KILL) mid-
                            sweep -> the requeued job resumes and completes
  slurm_test.py timelimit   the time-limit warning itself: --time=1 --signal=B:USR1@55 ->
                            SLURM signals the script before the limit, isweep stops cleanly
  slurm_test.py misc        srun on one node with extra isweep arguments; a whole node
                            (--exclusive, no --ntasks) -> one rank per CPU; usage errors;
                            a USR1 right after the launch is held, then stops isweep cleanly

Environment: ISW_EXE (isweep), ISW_SOURCE_DIR (source tree), ISW_SLURM_HELLO (mpi_hello).
Prints what it measured; exits non-zero on failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# the test reads results files while a job writes them: no HDF5 file locks from the reader
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
import h5py  # noqa: E402
import numpy as np  # noqa: E402

SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXE = os.path.abspath(os.environ.get("ISW_EXE", os.path.join(SRC, "build", "isweep")))
HELLO = os.environ.get("ISW_SLURM_HELLO", "")
CLUSTER = os.path.join(SRC, "tests", "slurm", "cluster.sh")
JOB = os.path.join(SRC, "jobs", "slurm.sh")
SPEC = os.path.join(SRC, "tests", "specs", "slurm.ini")
OK = 2  # status enum value of an ok row
T0 = time.time()


def say(msg):
    print("[%6.1f s] %s" % (time.time() - T0, msg), flush=True)


def fail(msg):
    say("FAIL: " + msg)
    raise SystemExit(1)


# SLURM's final job states (SIGNALING, COMPLETING, REQUEUED... are on the way)
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE", "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED"}


class Cluster:
    """A private SLURM cluster for one test: start on enter, stop (and check) on exit."""

    def __init__(self):
        # short path: unix sockets (munge, PMIx) live under it
        self.dir = tempfile.mkdtemp(prefix="isw-slurm-", dir="/tmp")
        os.chmod(self.dir, 0o755)  # munged wants every folder above its socket searchable
        self.cdir = os.path.join(self.dir, "cluster")
        self.work = os.path.join(self.dir, "work")
        os.mkdir(self.work)
        self.env = dict(os.environ, SLURM_CONF=os.path.join(self.cdir, "slurm.conf"),
                        OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        OPENBLAS_NUM_THREADS="1", ISWEEP=EXE,
                        # the job script holds a stop for this long after the launch
                        # (default 60 s): the tests signal only a running sweep
                        ISW_SIGNAL_GRACE="2")
        self.env.pop("HDF5_USE_FILE_LOCKING", None)
        # a job must not see the oversubscribe setting of the ctest environment
        self.env.pop("OMPI_MCA_rmaps_base_oversubscribe", None)

    def __enter__(self):
        p = subprocess.run(["bash", CLUSTER, "install"], capture_output=True, text=True)
        if p.returncode != 0:
            fail("cannot install SLURM:\n" + p.stderr[-3000:])
        t = time.time()
        p = subprocess.run(["bash", CLUSTER, "start", self.cdir, "--nodes", "2", "--cpus", "2",
                            "--owner", str(os.getpid())], capture_output=True, text=True)
        if p.returncode != 0:
            self.__exit__(RuntimeError, None, None)
            fail("cluster did not start:\n" + p.stderr[-5000:])
        say("cluster up in %.1f s (%s)" % (time.time() - t, p.stderr.strip().splitlines()[-1]))
        return self

    def print_daemon_logs(self):
        logs = os.path.join(self.cdir, "log")
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            print("---- %s (last lines)" % name)
            with open(os.path.join(logs, name), errors="replace") as f:
                print("".join(f.readlines()[-15:]), flush=True)

    def __exit__(self, exc_type, exc, tb):
        t = time.time()
        p = subprocess.run(["bash", CLUSTER, "stop", self.cdir], capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-3000:])
        if p.returncode != 0 or exc_type is not None:
            self.print_daemon_logs()
        shutil.rmtree(self.dir, ignore_errors=True)
        if p.returncode != 0 and exc_type is None:
            fail("the cluster did not stop cleanly")
        say("cluster stopped in %.1f s, nothing left running" % (time.time() - t))
        return False

    # --- SLURM commands -------------------------------------------------------------
    def run(self, cmd, timeout=120, check=True):
        p = subprocess.run(cmd, cwd=self.work, env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            fail("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-3000:]))
        return p

    def sbatch(self, *args, env=None):
        e = dict(self.env, **(env or {}))
        p = subprocess.run(["sbatch", "--parsable", *args], cwd=self.work, env=e,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            fail("sbatch %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr))
        return p.stdout.strip().split(";")[0]

    def job(self, jid):
        """scontrol's view of a job as a dict (JobState, ExitCode, Restarts, NodeList...)."""
        p = self.run(["scontrol", "show", "job", "-o", jid])
        return dict(re.findall(r"(\w+)=(\S*)", p.stdout))

    def wait_job(self, jid, timeout=240, restarts=0):
        """Poll (every 0.3 s) until the job ended after at least `restarts` requeues."""
        t = time.time()
        seen = []
        ended_early = None  # when the job first looked ended with too few restarts
        while time.time() - t < timeout:
            info = self.job(jid)
            st = (info.get("JobState"), info.get("Restarts"))
            if not seen or seen[-1] != st:
                seen.append(st)
            ended = st[0] in ENDED
            if ended and int(st[1] or 0) >= restarts:
                say("job %s: %s (states seen: %s)" % (jid, info.get("JobState"),
                                                     " -> ".join("%s/r%s" % s for s in seen)))
                return info
            if ended and ended_early is None:
                ended_early = time.time()
            elif not ended:
                ended_early = None
            if ended_early is not None and time.time() - ended_early > 10:
                fail("job %s ended (%s) without being requeued %d time(s):\n%s"
                     % (jid, st, restarts, self.log(jid)[-4000:]))
            time.sleep(0.3)
        self.run(["scancel", jid], check=False)
        fail("job %s did not end in %d s; states seen: %s\n%s" % (jid, timeout, seen, self.log(jid)[-3000:]))

    def log(self, jid):
        path = os.path.join(self.work, "isweep-%s.log" % jid)
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()


# --- the results file ------------------------------------------------------------------
def rows(path):
    """(status array, rank array) of every row of every group, or (None, None) if unreadable."""
    try:
        with h5py.File(path, "r") as f:
            st = np.concatenate([f[g]["status"][()] for g in f])
            rk = np.concatenate([f[g]["rank"][()] for g in f])
            return st, rk
    except Exception:
        return None, None


def attrs(path):
    with h5py.File(path, "r") as f:
        a = {k: f.attrs[k] for k in f.attrs}
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()}


# Jobs whose rows the test watches arrive write a batch every 0.25 s, not every 256 rows or
# 10 s (the defaults): slurm.ini ends in a few seconds.
WATCH = ["--set", "sweep.batch_seconds=0.25"]


# A job the test interrupts mid-sweep is paced by rank 0's own count of finished configs, its
# status line in the job's log every 0.3 s, not by the rows in the file: rows reach the file
# after a batch's fsync, and on a stalled disk a whole run's rows can arrive at its end.
PACE = ["--status-every", "0.005"]  # minutes
DONE_RE = re.compile(r"^isweep: status at .*?: (\d+)/(\d+) configs done", re.M)


def wait_done(cl, jid, at_least, timeout=180):
    """Wait until the job's log counts `at_least` configs done with some left; the job must
    still run.  The log is read every 0.05 s and its end line tells a job that ended; scontrol
    (seconds a call on a loaded machine: a fresh root once let most of a sweep go by between
    two looks) is asked only when the log has not grown for 5 s."""
    t = time.time()
    size, grown, seen = -1, t, []
    while time.time() - t < timeout:
        log = cl.log(jid)
        now = time.time()
        if len(log) != size:
            size, grown = len(log), now
        ended = re.search(r"^isweep-slurm: ---- job %s end" % jid, log, re.M)
        if not ended and now - grown >= 5:
            ended = cl.job(jid).get("JobState") in ENDED
            grown = time.time()
        counts = DONE_RE.findall(log)
        if counts and (not seen or seen[-1][1] != counts[-1][0]):
            seen.append((round(now - t, 2), counts[-1][0]))
        if ended:
            fail("job %s ended before it could be interrupted (configs done as seen at s: %s)\n%s"
                 % (jid, seen, log[-3000:]))
        if counts and at_least <= int(counts[-1][0]) < int(counts[-1][1]):
            return int(counts[-1][0])
        time.sleep(0.05)
    fail("fewer than %d configs done after %d s (seen at s: %s)" % (at_least, timeout, seen))


ONE_NODE, TWO_NODES = r"n[12]", r"n\[1-2\]"  # how SLURM names the nodes of a job


def check_log(log, jid, nodes, ntasks, launcher):
    """The provenance lines of every run in the log: job id, nodes (a regex), commit, date."""
    version = subprocess.run([EXE, "--version"], capture_output=True, text=True,
                             env=dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
                                      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")).stdout.strip()
    m = re.search(r"\(git ([^)]*)\)", version)
    if not m:
        fail("isweep --version does not name a commit: %r" % version)
    commit = m.group(1)
    need = [
        r"^isweep-slurm: ---- job %s \(isweep\) start \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" % jid,
        r"^isweep-slurm: job_id=%s " % jid,
        r"^isweep-slurm: nodes=%s num_nodes=\d+ ntasks=%d " % (nodes, ntasks),
        r"^isweep-slurm: commit=%s$" % re.escape(commit),
        r"^isweep-slurm: date=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ",
        r"^isweep-slurm: launch: %s" % re.escape(launcher),
        r"^isweep-slurm: ---- job %s end \d{4}-\d\d-\d\dT\S+ exit \d+ ----$" % jid,
    ]
    for pat in need:
        if not re.search(pat, log, re.M):
            fail("log of job %s lacks a line matching %r:\n%s" % (jid, pat, log[-4000:]))
    in_git = subprocess.run(["git", "-C", SRC, "rev-parse", "HEAD"], capture_output=True).returncode == 0
    if in_git and not re.search(r"^[0-9a-f]{40}(-dirty)?$", commit):
        fail("the source tree is a git checkout but the commit logged is %r, not a git hash" % commit)
    return commit


def check_report(log, out):
    """After a complete sweep the job wrote the report: summary.md and the CSV files."""
    d = out[:-3] + ".report"
    missing = [f for f in ("summary.md", "curves.csv", "points.csv")
               if not os.path.isfile(os.path.join(d, f)) or not os.path.getsize(os.path.join(d, f))]
    if missing or "isweep-slurm: report: " not in log:
        fail("the job should have written the report in %s (missing %s):\n%s" % (d, missing, log[-3000:]))
    say("report written: %s (%s)" % (d, " ".join(sorted(os.listdir(d)))))


def check_complete(path, runs, mpi_size):
    st, rk = rows(path)
    a = attrs(path)
    if st is None or not np.all(st == OK):
        fail("not every row is ok in %s: %s" % (path, st))
    if int(a["runs"]) != runs:
        fail("runs attribute should be %d, is %s" % (runs, a["runs"]))
    if int(a["mpi_size"]) != mpi_size:
        fail("mpi_size attribute should be %d, is %s" % (mpi_size, a["mpi_size"]))
    if sorted(set(int(r) for r in rk)) != list(range(mpi_size)):
        fail("rows were written by ranks %s, expected all of 0..%d" % (sorted(set(rk)), mpi_size - 1))
    if not str(a.get("end_time", "")).strip():
        fail("end_time not written: the file was not closed")
    say("%s: %d rows ok, runs=%d, mpi_size=%d, rows by ranks %s"
        % (os.path.basename(path), len(st), runs, mpi_size, sorted(set(int(r) for r in rk))))


def check_stopped(path, some_ok=True):
    """After a clean stop: file closed, some rows ok, some pending, none running."""
    st, _ = rows(path)
    if st is None:
        fail("cannot read %s after the stop" % path)
    n_ok, n_pending, n_running = int(np.sum(st == OK)), int(np.sum(st == 0)), int(np.sum(st == 1))
    if n_running:
        fail("%d rows left 'running' after a clean stop" % n_running)
    if not ((0 < n_ok or not some_ok) and n_ok < len(st)):
        fail("a stopped sweep should have some rows ok and some not: %d ok of %d" % (n_ok, len(st)))
    end = str(attrs(path).get("end_time", "")).strip()
    if not end:
        fail("end_time not written: the file was not closed cleanly")
    return n_ok, n_pending, len(st)


# --- the tests -------------------------------------------------------------------------
def hello_ranks(out, size, n_nodes):
    lines = [l for l in out.splitlines() if l.startswith("rank ")]
    got = sorted(tuple(l.split()[1::2]) for l in lines)  # (rank, size, sum, node)
    want_sum = str(size * (size - 1) // 2)
    if len(lines) != size or any(g[1] != str(size) or g[2] != want_sum for g in got):
        fail("expected %d ranks of an MPI world of size %d (allreduce sum %s), got:\n%s"
             % (size, size, want_sum, out))
    nodes = sorted(set(g[3] for g in got))
    if len(nodes) != n_nodes or not all(re.fullmatch(r"n[12]", n) for n in nodes):
        fail("ranks ran on nodes %s, expected %d of n1, n2" % (nodes, n_nodes))
    return "; ".join("rank %s on %s" % (g[0], g[3]) for g in got)


def test_launch(cl):
    if not HELLO or not os.access(HELLO, os.X_OK):
        fail("ISW_SLURM_HELLO does not name the mpi_hello binary: %r" % HELLO)
    for cmd, nodes in ((["srun", "--mpi=pmix", "-N2", "-n2", HELLO], 2),
                       (["srun", "--mpi=pmix", "-N1", "-n2", HELLO], 1),
                       (["salloc", "-N2", "-n2", "mpirun", HELLO], 2),
                       (["salloc", "-N1", "-n2", "mpirun", HELLO], 1)):
        t = time.time()
        p = cl.run(cmd, timeout=60)
        say("%-40s MPI size 2, %s (%.1f s)" % (" ".join(cmd[:-1]), hello_ranks(p.stdout, 2, nodes),
                                               time.time() - t))
    p = cl.run(["srun", "--mpi=list"], check=False)
    if "pmix" not in p.stdout + p.stderr:
        fail("srun --mpi=list does not offer pmix:\n" + p.stdout + p.stderr)


def test_resubmit(cl):
    out = os.path.join(cl.work, "single.h5")
    args = ["-N1", "-n2", JOB, SPEC, out, *WATCH, *PACE]
    j1 = cl.sbatch(*args)
    ok = wait_done(cl, j1, 3)
    cl.run(["scancel", "--batch", "--signal=USR1", j1])
    say("job %s: %d configs done, sent USR1 to its batch shell (scancel --batch)" % (j1, ok))
    info = cl.wait_job(j1)
    log1 = cl.log(j1)
    if info["ExitCode"] != "75:0":
        fail("a stopped job should exit 75, got %s (%s):\n%s" % (info["ExitCode"], info["JobState"], log1[-4000:]))
    for s in ("received SIGUSR1", "starting: %s is new" % out, "stopped early with configs left (exit 75)"):
        if s not in log1:
            fail("log of the stopped job lacks %r:\n%s" % (s, log1[-4000:]))
    n_ok, n_pending, total = check_stopped(out)
    say("stopped cleanly: exit 75, %d ok, %d pending of %d, file closed" % (n_ok, n_pending, total))
    if int(attrs(out)["runs"]) != 1:
        fail("runs should be 1 after the first job")
    check_log(log1, j1, ONE_NODE, 2, "mpirun -np 2")

    with h5py.File(out, "r") as f:  # when each row that is ok now started
        before = {g: (f[g]["status"][()] == OK, f[g]["start_time"][()]) for g in f}
    j2 = cl.sbatch(*args)  # the very same command
    info = cl.wait_job(j2)
    log2 = cl.log(j2)
    if info["JobState"] != "COMPLETED" or info["ExitCode"] != "0:0":
        fail("the resubmitted job should complete, got %s %s:\n%s" % (info["JobState"], info["ExitCode"], log2[-4000:]))
    if "resuming: %s exists" % out not in log2:
        fail("the resubmitted job's log should say it resumed:\n" + log2[-4000:])
    with h5py.File(out, "r") as f:
        for g, (was_ok, t0) in before.items():
            t1 = f[g]["start_time"][()]
            if not np.array_equal(t0[was_ok], t1[was_ok]):
                fail("%s: rows that were ok before the resume were run again" % g)
            if np.any(t1[~was_ok] <= np.max(t0[was_ok], initial=0)):
                fail("%s: rows left by the first job were not run by the second" % g)
    commit = check_log(log2, j2, ONE_NODE, 2, "mpirun -np 2")
    check_complete(out, runs=2, mpi_size=2)
    check_report(log2, out)
    say("resubmitted job %s resumed %d configs and completed; logs name job, nodes, commit %s, date"
        % (j2, total - n_ok, commit[:12]))


def test_requeue(cl):
    out = os.path.join(cl.work, "multi.h5")
    jid = cl.sbatch("-N2", "--ntasks-per-node=1", JOB, SPEC, out, *WATCH, *PACE,
                    env={"ISW_LAUNCHER": "srun", "ISW_REQUEUE": "1"})
    ok = wait_done(cl, jid, 3)
    cl.run(["scancel", "--batch", "--signal=USR1", jid])
    say("job %s: %d configs done, sent USR1 to its batch shell" % (jid, ok))
    info = cl.wait_job(jid, restarts=1)
    log = cl.log(jid)
    if info["JobState"] != "COMPLETED" or info["ExitCode"] != "0:0" or info["Restarts"] != "1":
        fail("the self-requeued job should complete after one restart, got %s %s restarts=%s:\n%s"
             % (info["JobState"], info["ExitCode"], info["Restarts"], log[-5000:]))
    for s in ("received SIGUSR1", "exit 75", "requeueing job %s (restart 1" % jid,
              "start", "restart 1 ----", "resuming: %s exists" % out, "every config ran (exit 0)"):
        if s not in log:
            fail("log lacks %r:\n%s" % (s, log[-5000:]))
    if len(re.findall(r"^isweep-slurm: ---- job %s \(isweep\) start" % jid, log, re.M)) != 2:
        fail("the log should hold both runs of the job (open-mode=append):\n" + log[-5000:])
    check_log(log, jid, TWO_NODES, 2, "srun --mpi=pmix --ntasks=2")
    check_complete(out, runs=2, mpi_size=2)
    check_report(log, out)
    say("job %s stopped, requeued itself, resumed on nodes %s and completed" % (jid, info["NodeList"]))


def test_preempt(cl):
    out = os.path.join(cl.work, "preempt.h5")
    jid = cl.sbatch("-N2", "--ntasks-per-node=1", JOB, SPEC, out, *WATCH, *PACE)
    ok = wait_done(cl, jid, 3)
    cl.run(["scontrol", "requeue", jid])
    say("job %s: %d configs done, requeued by the administrator (scontrol requeue)" % (jid, ok))
    info = cl.wait_job(jid, restarts=1)
    log = cl.log(jid)
    if info["JobState"] != "COMPLETED" or info["ExitCode"] != "0:0":
        fail("the requeued job should complete, got %s %s:\n%s" % (info["JobState"], info["ExitCode"], log[-5000:]))
    if "resuming: %s exists" % out not in log or "restart 1 ----" not in log:
        fail("the requeued run should resume:\n" + log[-5000:])
    check_log(log, jid, TWO_NODES, 2, "mpirun -np 2")
    check_complete(out, runs=2, mpi_size=2)
    say("job %s was requeued mid-sweep, resumed on %s and completed" % (jid, info["NodeList"]))


def test_timelimit(cl):
    out = os.path.join(cl.work, "timelimit.h5")
    # 20x the configs of slurm.ini (about 80 s on 2 ranks): more than the minute the job
    # is given.  slurmctld checks for the warning every 30 s: it comes 5 to 35 s in.
    jid = cl.sbatch("-N1", "-n2", "--time=1", "--signal=B:USR1@55", JOB, SPEC, out, "--set", "sweep.seeds=0:59", *WATCH)
    info = cl.wait_job(jid, timeout=200)
    log = cl.log(jid)
    m = re.search(r"received SIGUSR1 at (\S+):", log)
    if not m:
        fail("the time-limit warning never reached the script (state %s):\n%s" % (info["JobState"], log[-4000:]))
    if info["JobState"] == "TIMEOUT" or info["ExitCode"] != "75:0":
        fail("the job should stop on the warning with exit 75 before the limit, got %s %s:\n%s"
             % (info["JobState"], info["ExitCode"], log[-4000:]))
    n_ok, n_pending, total = check_stopped(out)
    say("warning USR1 at %s (run time %s of the 1-minute limit): exit 75, %d ok, %d pending of %d, file closed"
        % (m.group(1), info.get("RunTime"), n_ok, n_pending, total))


def test_misc(cl):
    out = os.path.join(cl.work, "srun1.h5")
    jid = cl.sbatch("-N1", "-n2", JOB, SPEC, out, "--set", "sweep.seeds=0", "--quiet",
                    env={"ISW_LAUNCHER": "srun"})
    info = cl.wait_job(jid)
    log = cl.log(jid)
    if info["JobState"] != "COMPLETED":
        fail("srun on one node: %s %s\n%s" % (info["JobState"], info["ExitCode"], log[-4000:]))
    check_log(log, jid, ONE_NODE, 2, "srun --mpi=pmix --ntasks=2")
    if "--set sweep.seeds=0 --quiet" not in log:
        fail("extra arguments were not passed to isweep run:\n" + log[-3000:])
    check_complete(out, runs=1, mpi_size=2)
    # Whole node without --ntasks: one rank per CPU
    out = os.path.join(cl.work, "exclusive.h5")
    jid = cl.sbatch("-N1", "--exclusive", JOB, SPEC, out, "--set", "sweep.seeds=0", "--quiet",
                    env={"ISW_REPORT": "0"})
    info = cl.wait_job(jid)
    if info["JobState"] != "COMPLETED":
        fail("--exclusive job: %s\n%s" % (info["JobState"], cl.log(jid)[-3000:]))
    check_complete(out, runs=1, mpi_size=2)
    if os.path.exists(out[:-3] + ".report"):
        fail("ISW_REPORT=0 should skip the report")
    # usage errors: exit 2 with a message, no file (three one-CPU jobs at once)
    jobs = []
    for args, expect in (((), "usage: sbatch jobs/slurm.sh SPEC OUT"),
                         ((os.path.join(cl.work, "nope.ini"), "x.h5"), "is not a readable file"),
                         ((SPEC, "x.h5"), "ISW_LAUNCHER=bogus")):
        jobs.append((cl.sbatch("-N1", "-n1", JOB, *args,
                               env={"ISW_LAUNCHER": "bogus"} if expect.startswith("ISW_") else None),
                     expect))
    for jid, expect in jobs:
        info = cl.wait_job(jid)
        log = cl.log(jid)
        if info["ExitCode"] != "2:0" or expect not in log:
            fail("usage error %r: exit %s, log:\n%s" % (expect, info["ExitCode"], log))
        say("usage error -> exit 2: %s" % [l for l in log.splitlines() if "error" in l][0])
    if os.path.exists(os.path.join(cl.work, "x.h5")):
        fail("a usage error created an output file")
    # A stop that comes while isweep starts is held for ISW_SIGNAL_GRACE s, then passed on
    out = os.path.join(cl.work, "early.h5")
    jid = cl.sbatch("-N1", "-n2", JOB, SPEC, out, "--set", "sweep.seeds=0:29", env={"ISW_SIGNAL_GRACE": "5"})
    t = time.time()
    while "isweep-slurm: launch:" not in cl.log(jid):
        if time.time() - t > 60:
            fail("job %s never launched isweep:\n%s" % (jid, cl.log(jid)))
        time.sleep(0.05)
    cl.run(["scancel", "--batch", "--signal=USR1", jid])
    info = cl.wait_job(jid)
    log = cl.log(jid)
    if info["ExitCode"] != "75:0" or "holding the stop until 5 s after the launch" not in log:
        fail("a USR1 right after the launch should be held, then stop isweep cleanly (exit 75); got %s:\n%s"
             % (info["ExitCode"], log[-4000:]))
    n_ok, n_pending, total = check_stopped(out, some_ok=False)
    say("USR1 right after the launch: held 5 s, then a clean stop (exit 75, %d ok, %d pending of %d)"
        % (n_ok, n_pending, total))
    # Outside SLURM
    p = subprocess.run(["bash", JOB, SPEC, "x.h5"], capture_output=True, text=True,
                       env={k: v for k, v in cl.env.items() if not k.startswith("SLURM_JOB")})
    if p.returncode != 2 or "not inside a SLURM job" not in p.stderr:
        fail("run outside SLURM: exit %d, %s" % (p.returncode, p.stderr))


TESTS = {"launch": test_launch, "resubmit": test_resubmit, "requeue": test_requeue,
         "preempt": test_preempt, "timelimit": test_timelimit, "misc": test_misc}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in TESTS:
        print(__doc__)
        sys.exit(2)
    if os.geteuid() != 0:
        fail("these tests start SLURM daemons and need root")
    with Cluster() as cl:
        TESTS[sys.argv[1]](cl)
    say("PASS %s" % sys.argv[1])


if __name__ == "__main__":
    main()
