#!/usr/bin/python3
"""bench_vs_torch.py — isweep's deq training step against the PyTorch peer
(bench/torch_peer.py) on the same workload (unrolled tanh DEQ, 512 rows, d_x = 16, N = 10,
Adam), float32 and float64, single core (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)),
the two programs interleaved, min of 3 rounds.  Prints the ratio table (isweep time per step
/ PyTorch time per step), the GEMM floor (the step's matrix products alone, timed by
bench_deq_step ... gemm, over PyTorch's step), the measured single-core sgemm and dgemm
rates and the load average at the start and end.  A benchmark (ctest label bench): it
asserts nothing; it prints "skipped" when python3-torch is missing.  maml has no float32 path yet and is not
in the table.

Usage: bench_vs_torch.py --step BENCH_DEQ_STEP --gemm BENCH_GEMM_RATE [--rounds 3]
       [--min-seconds 1] [--widths 16,64,256,1024]"""
import argparse
import os
import subprocess
import sys

try:
    import torch  # optional: python3-torch
except ImportError:
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def seconds(cmd):
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench_vs_torch: %s exited %d: %s" % (cmd[0], p.returncode, p.stderr.strip()))
    return float(p.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", required=True)
    ap.add_argument("--gemm", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-seconds", default="1")
    ap.add_argument("--widths", default="16,64,256,1024")
    a = ap.parse_args()
    if torch is None:
        print("bench_vs_torch: skipped (python3-torch is not installed: jobs/install-deps.sh --with-torch)")
        return 0
    print("load average at start: %.2f %.2f %.2f (%d cores)" % (os.getloadavg() + (os.cpu_count(),)))
    p = subprocess.run([a.gemm], env=ENV, capture_output=True, text=True, check=True)
    rates = dict((l.split()[0], float(l.split()[1])) for l in p.stdout.splitlines())
    widths = [int(w) for w in a.widths.split(",")]
    best = {}
    for r in range(a.rounds):
        for w in widths:
            for prec in ("float64", "float32"):
                for who, cmd in (("isweep", [a.step, str(w), "10", prec, a.min_seconds]),
                                 ("gemm", [a.step, str(w), "10", prec, a.min_seconds, "gemm"]),
                                 ("torch", [sys.executable, os.path.join(HERE, "torch_peer.py"), "deq",
                                            str(w), "10", prec, a.min_seconds])):
                    t = seconds(cmd)
                    key = (who, w, prec)
                    best[key] = min(best.get(key, float("inf")), t)
    print("single-core sgemm %.2f GFLOP/s, dgemm %.2f GFLOP/s (512x1024x1024)" % (rates["sgemm"], rates["dgemm"]))
    print("deq step, 512 rows, d_x = 16, N = 10, unrolled tanh, Adam; min of %d rounds, ms per step" % a.rounds)
    print("GEMM floor: the step's matrix products alone (bench_deq_step ... gemm: same shapes and layouts)"
          " over PyTorch's step")
    print("| workload | isweep f64 ms | torch f64 ms | vs PyTorch float64 | isweep f32 ms | torch f32 ms | "
          "vs PyTorch float32 | isweep f32 GFLOP/s (of sgemm) | GEMM floor f64 | GEMM floor f32 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in widths:
        i64, t64 = best[("isweep", w, "float64")], best[("torch", w, "float64")]
        i32, t32 = best[("isweep", w, "float32")], best[("torch", w, "float32")]
        g64, g32 = best[("gemm", w, "float64")], best[("gemm", w, "float32")]
        gf = 6.0 * 10 * 512 * w * w / i32 / 1e9
        print("| deq width %d | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %.1f (%.0f %%) | %.2f | %.2f |"
              % (w, 1e3 * i64, 1e3 * t64, i64 / t64, 1e3 * i32, 1e3 * t32, i32 / t32, gf,
                 100 * gf / rates["sgemm"], g64 / t64, g32 / t32))
    print("| maml | not measured: maml has no float32 path yet | | | | | | |")
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
