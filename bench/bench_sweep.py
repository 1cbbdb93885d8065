#!/usr/bin/python3
"""Sweep-level benchmark (ctest label `bench`): run a heterogeneous sweep of >= 200
configs on 2 ranks and report, from that one run,
  - the measured makespan vs the ideal (sum of config wall times / ranks),
  - the share of rank-time spent in HDF5 calls (printed by isweep),
  - how well the cost model predicted config times (rank correlation, spread of time/cost).
Usage: bench_sweep.py [SPEC] (default bench/sweep-hetero.ini); env ISW_EXE, NP (default 2).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

EXE = os.environ.get("ISW_EXE", "isweep")
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NP = int(os.environ.get("NP", "2"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1")


def ranks_of(x):
    r = np.empty(len(x))
    r[np.argsort(x)] = np.arange(len(x))
    return r


def main():
    spec = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "bench", "sweep-hetero.ini")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.h5")
        t0 = time.time()
        p = subprocess.run(["mpirun", "-np", str(NP), "--oversubscribe", EXE, "run", spec, "-o", out],
                           env=ENV, capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode != 0:
            print(p.stderr[-3000:])
            sys.exit(1)
        m = re.search(r"HDF5 I/O: ([0-9.]+) s summed over (\d+) ranks = ([0-9.]+)% of ([0-9.]+) rank-seconds",
                      p.stdout)
        plan = subprocess.run([EXE, "plan", spec, "--ranks", str(NP)], env=ENV, capture_output=True, text=True)
        with h5py.File(out, "r") as f:
            rows = []
            for g in f:
                d = f[g]
                secs = d["train_seconds"][()] + d["eval_seconds"][()]
                start = d["start_time"][()]
                rows += list(zip([g] * len(secs), d["config_id"][()], secs, start))
        cost = {}
        for line in plan.stdout.splitlines():
            if line.startswith("#"):
                continue
            parts = line.split()
            cost[int(parts[3], 16)] = float(parts[8])  # predicted GFLOP
    secs = np.array([r[2] for r in rows])
    start = np.array([r[3] for r in rows])
    n = len(rows)
    ideal = secs.sum() / NP
    span = (start + secs).max() - start.min()
    pred = np.array([cost.get(int(r[1]), np.nan) for r in rows])
    ok = np.isfinite(pred) & (secs > 0)
    rho = np.corrcoef(ranks_of(pred[ok]), ranks_of(secs[ok]))[0, 1]
    rate = pred[ok] * 1e9 / secs[ok]
    print("heterogeneous sweep: %d configs on %d ranks, config times %.3f .. %.3f s (sum %.1f s)"
          % (n, NP, secs.min(), secs.max(), secs.sum()))
    print("%-44s %10s" % ("measure", "value"))
    print("%-44s %10.2f" % ("ideal makespan: sum of config times / ranks (s)", ideal))
    print("%-44s %10.2f" % ("measured makespan: first start to last end (s)", span))
    print("%-44s %10.2f" % ("measured wall time of mpirun (s)", wall))
    print("%-44s %10.3f" % ("makespan / ideal", span / ideal))
    print("%-44s %10.3f" % ("mpirun wall / ideal", wall / ideal))
    if m:
        print("%-44s %9.2f%%" % ("HDF5 share of rank-time", float(m.group(3))))
    print("%-44s %10.3f" % ("cost model: rank correlation pred vs time", rho))
    print("%-44s %10.3g" % ("cost model: achieved flop/s median", np.median(rate)))
    print("%-44s %10.3g" % ("cost model: flop/s 10%..90% spread (ratio)", np.percentile(rate, 90) / np.percentile(rate, 10)))


if __name__ == "__main__":
    main()
