#!/usr/bin/python3
"""End-to-end tests of the exec family (run by ctest through Debian's python3).

  exec_test.py numpy NP      the numpy example on NP ranks: every ok row's curves equal, bitwise,
                             the result file the program wrote; 1 vs 2 ranks identical (NP = 2)
  exec_test.py failures NP   each failure kind -> its status and message, the other rows finish
  exec_test.py signal        SIGUSR1 to mpirun while programs run -> exit 75, rows pending, no
                             program left (ps); resume completes
  exec_test.py kill          SIGKILL of mpirun while programs run -> no program left (ps)
  exec_test.py torch         deq_torch.py's gradients vs finite differences, then
                             jobs/exec-torch-deq.ini shortened; exit 77 (skipped) without torch

Environment: ISW_EXE (isweep binary), ISW_SOURCE_DIR (source tree).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import h5py
import numpy as np

EXE = os.environ.get("ISW_EXE", "isweep")
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = os.path.join(SRC, "tests", "exec_prog.py")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
SKIP = 77


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def mpirun(np_, *args):
    return ["mpirun", "-np", str(np_), "--oversubscribe", EXE, *args]


def run(cmd, timeout=900, cwd=None):
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return p


def rows(path):
    """The exec group as a dict of arrays (strings decoded)."""
    out = {}
    with h5py.File(path, "r") as f:
        g = f["exec"]
        for k, ds in g.items():
            v = ds[()]
            if v.dtype.kind == "S":
                v = np.array([x.decode() for x in v])
            out[k] = v
    return out


def tagged(tag):
    """pids of live processes whose command line holds tag (zombies excluded)."""
    p = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True)
    out = []
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and tag in parts[2] and not parts[1].startswith("Z") and "ps -eo" not in parts[2]:
            out.append(int(parts[0]))
    return out


def wait_for(cond, what, limit=300):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > limit:
            fail("timed out after %d s waiting for %s" % (limit, what))
        time.sleep(0.2)


def write_spec(d, body):
    path = os.path.join(d, "spec.ini")
    with open(path, "w") as f:
        f.write(body)
    return path


NUMPY_SPEC = """[sweep]
tasks = exec
seeds = 0,1
test_iters = 0,1,2,5,10,20
output = %(out)s
[exec]
command = /usr/bin/python3 %(src)s/examples/linear_meta_numpy.py --width {width}
command_2 = --train-iters {train_iters} --test-iters {test_iters} --seed {seed}
command_3 = --tasks 8 --support 16 --query 4 --out {output}
widths = 8,32,64
train_iters = 2,5
curves = train_loss, test_loss
scalars = rho, n_params
cost = width^2 * train_iters
timeout = 600
"""


def check_against_program(out):
    """Every ok row equals, bitwise, the result.json its program left in its workdir."""
    r = rows(out)
    n_ok = 0
    for i, cid in enumerate(r["config_id"]):
        if r["status"][i] != 2:
            fail("row %d is not ok: status %d, message %r" % (i, r["status"][i], r["message"][i]))
        with open(os.path.join(out + ".runs", "%016x" % cid, "result.json")) as f:
            res = json.load(f)
        for k in ("train_loss", "test_loss"):
            a, b = np.array(res[k], dtype=float), r[k][i]
            if not np.array_equal(a.view(np.uint64), b.view(np.uint64)):
                fail("row %d %s: file %s, program %s" % (i, k, b, a))
        if r["rho"][i] != res["rho"] or r["n_params"][i] != res["n_params"]:
            fail("row %d rho/n_params differ" % i)
        n_ok += 1
    return n_ok


def test_numpy(np_):
    d = tempfile.mkdtemp(prefix="isw_exec_")
    out = os.path.join(d, "r%d.h5" % np_)
    spec = write_spec(d, NUMPY_SPEC % {"out": out, "src": SRC})
    p = run(mpirun(np_, "run", spec))
    print(p.stdout[-1500:], p.stderr[-1500:])
    if p.returncode != 0:
        fail("exit status %d" % p.returncode)
    n = check_against_program(out)
    print("%d rows equal, bitwise, what the program wrote" % n)
    r = rows(out)
    rho = r["rho"]
    if not np.allclose(rho, r["width"] / 32.0):
        fail("rho %s is not width / (8 * 4)" % rho)
    if np_ == 2:
        out1 = os.path.join(d, "r1.h5")
        p = run(mpirun(1, "run", spec, "-o", out1))
        if p.returncode != 0:
            fail("1-rank run: exit status %d: %s" % (p.returncode, p.stderr[-800:]))
        r1 = rows(out1)
        for k in ("config_id", "train_loss", "test_loss", "rho", "n_params", "status"):
            a, b = r1[k], r[k]
            same = np.array_equal(a.view(np.uint64), b.view(np.uint64)) if a.dtype.kind == "f" else np.array_equal(a, b)
            if not same:
                fail("%s differs between 1 and 2 ranks" % k)
        print("1 and 2 ranks: identical config_id, curves, rho, n_params, status")
    shutil.rmtree(d)
    print("PASS")


FAIL_SPEC = """[sweep]
tasks = exec
test_iters = 0,1,5
output = %(out)s
[exec]
command = /usr/bin/python3 %(prog)s --mode {mode}
command_2 = --width {width} --seed {seed} --test-iters {test_iters} --out {output} --tag %(tag)s
widths = 4,8
train_iters = 5
mode = ok,diverged,exit3,segv,sleep,garbage,short,undeclared,nowrite,stale
curves = train_loss, test_loss
scalars = score, rho, n_params
timeout = 20
grace = 1
"""

# mode -> (status, regular expression the message must match)
EXPECT = {
    "ok": (2, r"^$"),
    "diverged": (3, r"^loss became non-finite at step 7$"),
    "exit3": (4, r"^exit status 3; log r\.h5\.runs/[0-9a-f]{16}/stderr\.log: exec_prog: giving up with status 3$"),
    "segv": (4, r"^killed by signal 11 \(Segmentation fault\); log r\.h5\.runs/[0-9a-f]{16}/stderr\.log: "
                r"exec_prog: about to crash$"),
    "sleep": (4, r"^timeout after 20 s; log r\.h5\.runs/[0-9a-f]{16}/stderr\.log$"),
    "garbage": (4, r"^malformed result file \(line 1: .*\); log r\.h5\.runs/[0-9a-f]{16}/stderr\.log$"),
    "short": (4, r"^curve 'test_loss' has 2 values where test_iters has 3; log r\.h5\.runs/[0-9a-f]{16}/stderr\.log$"),
    "nowrite": (4, r"^no result file \(No such file or directory\); log r\.h5\.runs/[0-9a-f]{16}/stderr\.log$"),
    "stale": (4, r"^exit status 3; log r\.h5\.runs/[0-9a-f]{16}/stderr\.log$"),
    "undeclared": (4, r"^undeclared key 'surprise' in the result file \(declare it in curves or scalars\); "
                      r"log r\.h5\.runs/[0-9a-f]{16}/stderr\.log$"),
}


def test_failures(np_):
    d = tempfile.mkdtemp(prefix="isw_exec_")
    out = os.path.join(d, "r.h5")
    tag = "isw-fail-" + uuid.uuid4().hex
    spec = write_spec(d, FAIL_SPEC % {"out": out, "prog": PROG, "tag": tag})
    p = run(mpirun(np_, "run", spec))
    print(p.stdout[-600:], p.stderr[-600:])
    if p.returncode != 0:
        fail("exit status %d (failed rows are data, the sweep must finish)" % p.returncode)
    r = rows(out)
    for i, mode in enumerate(r["mode"]):
        st, pat = EXPECT[mode]
        print("%-10s width %d: status %d message %r" % (mode, r["width"][i], r["status"][i], r["message"][i]))
        if r["status"][i] != st:
            fail("mode %s: status %d, expected %d" % (mode, r["status"][i], st))
        if not re.match(pat, r["message"][i]):
            fail("mode %s: message %r does not match %r" % (mode, r["message"][i], pat))
        if st == 4 and not (np.all(np.isnan(r["train_loss"][i])) and np.isnan(r["score"][i])):
            fail("mode %s: a failed row keeps values" % mode)
        if mode == "ok" and not (r["train_loss"][i][0] == 1.0 + 0.001 * r["width"][i] and r["score"][i] == r["width"][i] * 0.5):
            fail("ok row values are not what the program wrote")
        if mode == "diverged" and not (np.isnan(r["train_loss"][i][2]) and np.isnan(r["test_loss"][i][2])):
            fail("diverged row: NaN/Infinity not stored as NaN")
    if tagged(tag):
        fail("programs left running: %s" % tagged(tag))
    print("no program left running")
    # retry the failed rows: the stale program exits 0 without a new result this time
    p = run(mpirun(np_, "run", spec, "--resume", "--retry-failed"))
    if p.returncode != 0:
        fail("retry: exit status %d: %s" % (p.returncode, p.stderr[-800:]))
    r = rows(out)
    for i, mode in enumerate(r["mode"]):
        if mode != "stale":
            continue
        print("stale retry width %d: status %d message %r" % (r["width"][i], r["status"][i], r["message"][i]))
        if r["status"][i] != 4 or not r["message"][i].startswith(
                "no new result file (result.json is from an earlier attempt)"):
            fail("a result file left by an earlier attempt was taken for the retry's")
    shutil.rmtree(d)
    print("PASS")


BLOCK_SPEC = """[sweep]
tasks = exec
test_iters = 0,1
output = %(out)s
[exec]
command = /usr/bin/python3 %(prog)s --mode block --flag %(flag)s
command_2 = --width {width} --seed {seed} --test-iters {test_iters} --out {output} --tag %(tag)s
widths = 1,2,3,4
train_iters = 5
seeds = 0,1
curves = train_loss, test_loss
scalars = score, rho, n_params
grace = 2
"""


def start_blocked(np_, d, tag):
    out = os.path.join(d, "r.h5")
    flag = os.path.join(d, "go")
    spec = write_spec(d, BLOCK_SPEC % {"out": out, "prog": PROG, "flag": flag, "tag": tag})
    proc = subprocess.Popen(mpirun(np_, "run", spec), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    def running():
        if proc.poll() is not None:
            fail("isweep exited with %d before the programs ran: %s" % (proc.returncode, proc.communicate()[1][-800:]))
        return len(tagged(tag)) >= np_
    wait_for(running, "%d programs to run" % np_)
    return proc, out, flag, spec


def test_signal():
    d = tempfile.mkdtemp(prefix="isw_exec_")
    tag = "isw-sig-" + uuid.uuid4().hex
    proc, out, flag, spec = start_blocked(2, d, tag)
    print("programs running: %s" % tagged(tag))
    proc.send_signal(signal.SIGUSR1)
    so, se = proc.communicate(timeout=300)
    print(so[-600:], se[-600:])
    if proc.returncode != 75:
        fail("exit status %d after SIGUSR1, expected 75 (stopped)" % proc.returncode)
    left = tagged(tag)
    if left:
        fail("programs left running after the stop: %s" % left)
    st = rows(out)["status"].tolist()
    print("statuses after the stop: %s" % st)
    if any(s not in (0, 2) for s in st) or st.count(0) < 2:
        fail("rows must be pending (0) or ok (2), the stopped ones pending: %s" % st)
    open(flag, "w").close()
    p = run(mpirun(2, "run", spec, "--resume"))
    if p.returncode != 0:
        fail("resume: exit status %d: %s" % (p.returncode, p.stderr[-800:]))
    st = rows(out)["status"].tolist()
    print("statuses after resume: %s" % st)
    if st != [2] * len(st):
        fail("resume did not complete every row")
    shutil.rmtree(d)
    print("PASS")


def test_kill():
    d = tempfile.mkdtemp(prefix="isw_exec_")
    tag = "isw-kill-" + uuid.uuid4().hex
    proc, out, flag, spec = start_blocked(2, d, tag)
    pids = tagged(tag)
    print("programs running: %s; SIGKILL to mpirun %d" % (pids, proc.pid))
    proc.kill()
    proc.communicate(timeout=300)
    wait_for(lambda: not tagged(tag), "the programs to die with isweep", limit=120)
    print("no program left after SIGKILL of mpirun")
    shutil.rmtree(d)
    print("PASS")


def test_torch():
    try:
        import torch  # noqa: F401  # optional: python3-torch
    except ImportError:
        print("SKIP: torch is not importable (jobs/install-deps.sh --with-torch installs it)")
        sys.exit(SKIP)
    for solver in ("fixed", "anderson"):
        p = run(["/usr/bin/python3", os.path.join(SRC, "examples", "deq_torch.py"), "--width", "8",
                 "--train-iters", "5", "--test-iters", "0", "--check-grad", "--solver", solver])
        err = json.loads(p.stdout)
        print("deq_torch.py %s: max relative error against finite differences %s" % (solver, err))
        if not (err["unrolled"] < 1e-5 and err["implicit"] < 1e-5):
            fail("a gradient of deq_torch.py disagrees with finite differences")
    d = tempfile.mkdtemp(prefix="isw_exec_")
    out = os.path.join(d, "torch.h5")
    spec = os.path.join(SRC, "jobs", "exec-torch-deq.ini")
    p = run(mpirun(2, "run", spec, "-o", out, "--set", "exec.widths=8,32", "--set", "exec.steps=40",
                   "--set", "exec.seeds=0"), timeout=1800, cwd=SRC)  # the spec's paths are from the repo root
    print(p.stdout[-3000:], p.stderr[-1500:])
    if p.returncode != 0:
        fail("exit status %d" % p.returncode)
    r = rows(out)
    if not np.all(r["status"] == 2):
        fail("rows not ok: %s" % list(zip(r["status"], r["message"])))
    for i in range(len(r["status"])):
        tl = r["train_loss"][i]
        if not np.all(np.isfinite(tl)):
            fail("row %d: non-finite train loss %s" % (i, tl))
    shutil.rmtree(d)
    print("PASS")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "numpy":
        test_numpy(int(sys.argv[2]))
    elif what == "failures":
        test_failures(int(sys.argv[2]))
    elif what == "signal":
        test_signal()
    elif what == "kill":
        test_kill()
    elif what == "torch":
        test_torch()
    else:
        fail("unknown test %s" % what)
