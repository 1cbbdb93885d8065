#!/usr/bin/python3
"""A test program for the exec family: behaves as --mode says, then (maybe) writes its result.

  ok          curves train_loss/test_loss = f(width, seed, n) and scalar score; exit 0
  diverged    status "diverged" with a message, NaN and Infinity in the curves
  exit3       prints a line on stderr, exits 3
  segv        dereferences NULL (a real segmentation fault)
  sleep       sleeps far past any timeout
  garbage     writes a result file that is not JSON
  short       writes curves one value short
  undeclared  writes an extra key
  block       waits until the file --flag exists, then behaves as ok (signal/kill tests)
  nowrite     exits 0 without writing a result
  stale       first attempt (no result.json in its folder): writes its result, exits 3;
              later attempts exit 0 without writing (the old result must not count)
Deterministic: the values depend only on the arguments.
"""
import argparse
import json
import math
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--mode", default="ok")
ap.add_argument("--width", type=int, required=True)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--test-iters", required=True)
ap.add_argument("--out", default=os.environ.get("ISWEEP_OUTPUT"))
ap.add_argument("--flag", default="")
ap.add_argument("--tag", default="")
a = ap.parse_args()
iters = [int(x) for x in a.test_iters.split(",")]
print("exec_prog mode %s width %d seed %d in %s" % (a.mode, a.width, a.seed, os.getcwd()))
sys.stdout.flush()
if a.mode == "block":
    while not os.path.exists(a.flag):
        time.sleep(0.05)
    a.mode = "ok"
res = {
    "train_loss": [1.0 / (1 + n) + 0.001 * a.width + 1e-6 * a.seed for n in iters],
    "test_loss": [2.0 / (1 + n) + 0.001 * a.width + 1e-6 * a.seed for n in iters],
    "score": a.width * 0.5,
    "rho": a.width / 64.0,
    "n_params": a.width * 3,
}
if a.mode == "nowrite":
    sys.exit(0)
if a.mode == "stale":
    if os.path.exists("result.json"):
        sys.exit(0)
    with open(a.out, "w") as f:
        json.dump(res, f)
    sys.exit(3)
if a.mode == "exit3":
    print("exec_prog: giving up with status 3", file=sys.stderr)
    sys.exit(3)
if a.mode == "segv":
    print("exec_prog: about to crash", file=sys.stderr)
    sys.stderr.flush()
    import ctypes
    ctypes.string_at(0)
if a.mode == "sleep":
    time.sleep(3600)
if a.mode == "garbage":
    with open(a.out, "w") as f:
        f.write("{ this is not json")
    sys.exit(0)
if a.mode == "short":
    res["test_loss"] = res["test_loss"][:-1]
if a.mode == "undeclared":
    res["surprise"] = 1.0
if a.mode == "diverged":
    res["status"] = "diverged"
    res["message"] = "loss became non-finite at step 7"
    res["train_loss"][-1] = math.nan
    res["test_loss"][-1] = math.inf
with open(a.out, "w") as f:
    json.dump(res, f)
