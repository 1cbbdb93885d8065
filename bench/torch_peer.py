#!/usr/bin/python3
"""torch_peer.py — the PyTorch programs a researcher would write instead of isweep's deq and
maml families, for bench/bench_vs_torch.py; independent implementations (autograd), not
dependencies of isweep.  One thread.

  deq   an unrolled tanh DEQ z_{k+1} = tanh(z_k W^T + x U^T + b), z_0 = 0, yhat = z_N V^T + c,
        MSE, 512 rows, d_x = 16, N steps, Adam (lr 1e-3), full batch.
  maml  second-order MAML on sinusoid regression (bench_maml's and the maml family's
        workload): per meta-step B = 25 fresh tasks y = A sin(x + phi), A ~ U[0.1, 5],
        phi ~ U[0, pi], x ~ U[-5, 5], K = 10 support and 10 query points; the network
        1 -> w -> w -> 1 with ReLU, PyTorch's nn.Linear initialisation; N inner SGD steps of
        lr 0.01 on the support MSE with create_graph=True (exact second order), the mean
        query MSE after them as the meta-loss, backward, Adam (lr 1e-3) on theta.  The tasks
        are batched: per-task parameters are (B, ...) tensors and the layers are bmm, so one
        autograd graph serves the 25 tasks (the fast way to write it; a Python loop over
        tasks is slower).  Timed in CPU time of the process (time.process_time), as
        bench_maml_step; deq in wall time, as bench_deq_step.

Usage: torch_peer.py deq|maml WIDTH N float32|float64 [MIN_SECONDS]
Prints "deq|maml width W N n precision P s_per_step T" (best block mean), or "skipped: ..."
and exit status 0 when torch is missing."""
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

    return best_block_mean(step, min_s)


def maml_step_time(width, n_inner, dtype, min_s, tasks=25, k_shot=10, inner_lr=0.01):
    torch.manual_seed(0)
    w = width

    def linear(fan_in, fan_out):
        bound = 1.0 / fan_in ** 0.5
        weight = (torch.rand(fan_out, fan_in, dtype=dtype) * 2 - 1) * bound
        bias = (torch.rand(fan_out, dtype=dtype) * 2 - 1) * bound
        return weight.requires_grad_(), bias.requires_grad_()

    theta = [*linear(1, w), *linear(w, w), *linear(w, 1)]
    opt = torch.optim.Adam(theta, lr=1e-3)

    def forward(p, x):
        # p: per-task parameters (B, out, in) and (B, out); x (B, M, 1)
        w1, b1, w2, b2, w3, b3 = p
        h = torch.relu(torch.baddbmm(b1.unsqueeze(1), x, w1.transpose(1, 2)))
        h = torch.relu(torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2)))
        return torch.baddbmm(b3.unsqueeze(1), h, w3.transpose(1, 2))

    def mse_per_task(p, x, y):
        return ((forward(p, x) - y) ** 2).mean(dim=(1, 2))  # (B)

    def sample():
        amp = 0.1 + 4.9 * torch.rand(tasks, 1, 1, dtype=dtype)
        phase = torch.pi * torch.rand(tasks, 1, 1, dtype=dtype)
        x = -5.0 + 10.0 * torch.rand(tasks, 2 * k_shot, 1, dtype=dtype)
        y = amp * torch.sin(x + phase)
        return x[:, :k_shot], y[:, :k_shot], x[:, k_shot:], y[:, k_shot:]

    def step():
        xs, ys, xq, yq = sample()
        opt.zero_grad(set_to_none=True)
        phi = [t.unsqueeze(0).expand(tasks, *t.shape) for t in theta]
        for _ in range(n_inner):
            # the sum over tasks: each task's loss depends only on its own slice of phi
            g = torch.autograd.grad(mse_per_task(phi, xs, ys).sum(), phi, create_graph=True)
            phi = [p - inner_lr * gp for p, gp in zip(phi, g)]
        meta_loss = mse_per_task(phi, xq, yq).mean()
        meta_loss.backward()
        opt.step()

    # CPU time of the process, as bench_maml_step measures
    return best_block_mean(step, min_s, time.process_time)


def best_block_mean(step, min_s, clock=time.perf_counter):
    """Best seconds (of clock) per call of step() over blocks of >= 50 ms after 3 warm-up calls."""
    for _ in range(3):
        step()
    best, block, t_all = float("inf"), 1, clock()
    while clock() - t_all < min_s:
        t0 = clock()
        for _ in range(block):
            step()
        per = (clock() - t0) / block
        best = min(best, per)
        if per * block < 0.05:
            block *= 2
    return best


def main():
    if torch is None:
        print("skipped: python3-torch is not installed (jobs/install-deps.sh --with-torch)")
        return 0
    if len(sys.argv) < 5 or sys.argv[1] not in ("deq", "maml") or sys.argv[4] not in ("float32", "float64"):
        print("usage: torch_peer.py deq|maml WIDTH N float32|float64 [MIN_SECONDS]", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    width, n_iters = int(sys.argv[2]), int(sys.argv[3])
    min_s = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    dtype = torch.float32 if sys.argv[4] == "float32" else torch.float64
    t = (deq_step_time if sys.argv[1] == "deq" else maml_step_time)(width, n_iters, dtype, min_s)
    print("%s width %d N %d precision %s s_per_step %.6e" % (sys.argv[1], width, n_iters, sys.argv[4], t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
