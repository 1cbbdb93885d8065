#!/usr/bin/python3
"""torch_peer.py — the PyTorch program a researcher would write instead of isweep's deq
family, for bench/bench_vs_torch.py: an unrolled tanh DEQ z_{k+1} = tanh(z_k W^T + x U^T + b),
z_0 = 0, yhat = z_N V^T + c, MSE, 512 rows, d_x = 16, N steps, Adam (lr 1e-3), full batch,
one thread.  An independent implementation (autograd), not a dependency of isweep.

Usage: torch_peer.py deq WIDTH N float32|float64 [MIN_SECONDS]
Prints "deq width W N n precision P s_per_step T" (best block mean), or "skipped: ..." and
exit status 0 when torch is missing."""
import sys
import time

try:
    import torch  # optional: python3-torch
except ImportError:
    torch = None


def deq_step_time(width, n_iters, dtype, min_s):
    torch.manual_seed(0)
    rows, d_x = 512, 16
    x = torch.randn(rows, d_x, dtype=dtype)
    y = torch.randn(rows, 1, dtype=dtype)
    w = torch.randn(width, width, dtype=dtype)
    w = (0.5 * w / torch.linalg.matrix_norm(w, 2)).requires_grad_()
    u = (torch.randn(width, d_x, dtype=dtype) / d_x ** 0.5).requires_grad_()
    b = torch.zeros(width, dtype=dtype, requires_grad=True)
    v = (torch.randn(1, width, dtype=dtype) / width ** 0.5).requires_grad_()
    c = torch.zeros(1, dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([w, u, b, v, c], lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        xu = torch.addmm(b, x, u.t())
        z = torch.tanh(xu)
        for _ in range(n_iters - 1):
            z = torch.tanh(torch.addmm(xu, z, w.t()))
        loss = torch.mean((torch.addmm(c, z, v.t()) - y) ** 2)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    best, block, t_all = float("inf"), 1, time.perf_counter()
    while time.perf_counter() - t_all < min_s:
        t0 = time.perf_counter()
        for _ in range(block):
            step()
        per = (time.perf_counter() - t0) / block
        best = min(best, per)
        if per * block < 0.05:
            block *= 2
    return best


def main():
    if torch is None:
        print("skipped: python3-torch is not installed (jobs/install-deps.sh --with-torch)")
        return 0
    if len(sys.argv) < 5 or sys.argv[1] != "deq" or sys.argv[4] not in ("float32", "float64"):
        print("usage: torch_peer.py deq WIDTH N float32|float64 [MIN_SECONDS]", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    width, n_iters = int(sys.argv[2]), int(sys.argv[3])
    min_s = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    dtype = torch.float32 if sys.argv[4] == "float32" else torch.float64
    t = deq_step_time(width, n_iters, dtype, min_s)
    print("deq width %d N %d precision %s s_per_step %.6e" % (width, n_iters, sys.argv[4], t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
