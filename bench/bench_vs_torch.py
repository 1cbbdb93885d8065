#!/usr/bin/python3
"""bench_vs_torch.py — isweep's deq training step and maml meta-step against the PyTorch
peers (bench/torch_peer.py) on the same workloads, float32 and float64, single core
(OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)), the programs interleaved (every round
runs every workload, precision and program once), min of 3 rounds.  Prints the ratio table
(isweep time per step / PyTorch time per step, against PyTorch float64 and float32, for
both isweep precisions), the measured single-core sgemm and dgemm rates and the load
average at the start and end; for deq also the GEMM floor (the step's matrix products alone,
timed by bench_deq_step ... gemm at the same shapes and layouts, over PyTorch's step) and the
lower bound "f64 GEMMs at dgemm peak": the step's GEMM flops (deq_step_flops) at the measured
large-dgemm rate, over PyTorch's float64 step.  A benchmark (ctest label bench): it asserts nothing; it
prints "skipped" when python3-torch is missing.

The same work on both sides:
  deq   bench_deq_step vs torch_peer.py deq: unrolled tanh DEQ, 512 rows full batch,
        d_x = 16, N = 10, loss + gradient + Adam per step.
  maml  bench_maml_step vs torch_peer.py maml: per meta-step, B = 25 fresh sinusoid tasks
        drawn, K = 10 support and 10 query points each, the 1 -> w -> w -> 1 ReLU network,
        N inner SGD steps (lr 0.01), the exact second-order meta-gradient (isweep: the
        R-operator; PyTorch: create_graph=True) of the mean query MSE, one Adam step
        (lr 1e-3) on theta.  Same shapes, same number of tasks, same N; neither side
        evaluates.  (w, N) in {40, 128} x {1, 5}.  Both sides time the process's CPU time
        (the deq rows wall time), so a loaded machine slows the maml rows less.

Usage: bench_vs_torch.py --step BENCH_DEQ_STEP --maml-step BENCH_MAML_STEP --gemm BENCH_GEMM_RATE
       [--rounds 3] [--min-seconds 1] [--widths 16,64,256,1024] [--maml 40:1,40:5,128:1,128:5]"""
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


def deq_step_flops(h, n, rows=512, d=16, k=1):
    """The GEMM flops of one unrolled deq step (bench_deq_step's step_gemms): XU, N - 1 forward
    products (z_0 = 0), the head (yhat, dV, dY V), N - 1 backward dz products, dW over the
    (N - 1) rows-stacked states, dU."""
    return 2 * rows * h * d + 3 * (n - 1) * 2 * rows * h * h + 3 * 2 * rows * h * k + 2 * h * d * rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", required=True)
    ap.add_argument("--maml-step", required=True)
    ap.add_argument("--gemm", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-seconds", default="1")
    ap.add_argument("--widths", default="16,64,256,1024")
    ap.add_argument("--maml", default="40:1,40:5,128:1,128:5")
    a = ap.parse_args()
    if torch is None:
        print("bench_vs_torch: skipped (python3-torch is not installed: jobs/install-deps.sh --with-torch)")
        return 0
    print("load average at start: %.2f %.2f %.2f (%d cores)" % (os.getloadavg() + (os.cpu_count(),)))
    p = subprocess.run([a.gemm], env=ENV, capture_output=True, text=True, check=True)
    rates = dict((l.split()[0], float(l.split()[1])) for l in p.stdout.splitlines())
    # (family, width, N): the rows of the table, deq first
    work = [("deq", int(w), 10) for w in a.widths.split(",") if w]
    work += [("maml", int(c.split(":")[0]), int(c.split(":")[1])) for c in a.maml.split(",") if c]
    exe = {"deq": a.step, "maml": a.maml_step}
    peer = os.path.join(HERE, "torch_peer.py")
    best = {}
    for r in range(a.rounds):
        for fam, w, n in work:
            for prec in ("float64", "float32"):
                cmds = [("isweep", [exe[fam], str(w), str(n), prec, a.min_seconds]),
                        ("torch", [sys.executable, peer, fam, str(w), str(n), prec, a.min_seconds])]
                if fam == "deq":
                    cmds.insert(1, ("gemm", [a.step, str(w), str(n), prec, a.min_seconds, "gemm"]))
                for who, cmd in cmds:
                    t = seconds(cmd)
                    key = (who, fam, w, n, prec)
                    best[key] = min(best.get(key, float("inf")), t)
    print("single-core sgemm %.2f GFLOP/s, dgemm %.2f GFLOP/s (512x1024x1024)" % (rates["sgemm"], rates["dgemm"]))
    print("deq: step of 512 rows, d_x = 16, N = 10, unrolled tanh, Adam; maml: meta-step of B = 25 "
          "tasks, K = 10, second order, relu, Adam; min of %d rounds, ms per step" % a.rounds)
    print("| workload | isweep f64 ms | isweep f32 ms | torch f64 ms | torch f32 ms | isweep f64 / torch f64 | "
          "isweep f32 / torch f64 | isweep f64 / torch f32 | isweep f32 / torch f32 | isweep f32 GFLOP/s (of sgemm) | "
          "GEMM floor f64 | GEMM floor f32 | f64 GEMMs at dgemm peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for fam, w, n in work:
        i64, i32 = best[("isweep", fam, w, n, "float64")], best[("isweep", fam, w, n, "float32")]
        t64, t32 = best[("torch", fam, w, n, "float64")], best[("torch", fam, w, n, "float32")]
        name = "deq width %d" % w if fam == "deq" else "maml (%d, N=%d)" % (w, n)
        if fam == "deq":
            gf = 6.0 * 10 * 512 * w * w / i32 / 1e9
            rate = "%.1f (%.0f %%)" % (gf, 100 * gf / rates["sgemm"])
            floor = "%.2f | %.2f" % (best[("gemm", fam, w, n, "float64")] / t64, best[("gemm", fam, w, n, "float32")] / t32)
            peak = "%.2f" % (deq_step_flops(w, n) / (rates["dgemm"] * 1e9) / t64)
        else:
            rate, floor, peak = "-", "- | -", "-"
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |"
              % (name, 1e3 * i64, 1e3 * i32, 1e3 * t64, 1e3 * t32, i64 / t64, i32 / t64, i64 / t32,
                 i32 / t32, rate, floor, peak))
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
