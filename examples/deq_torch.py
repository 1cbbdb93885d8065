#!/usr/bin/python3
"""A deep equilibrium model in PyTorch (CPU): an isweep `exec` example (Debian python3-torch).

State z (width W), input x (D = 16):  z_{k+1} = f(z_k) = tanh(W z_k + U x + b), z_0 = 0;
output y = V z + c; MSE loss on the `teacher` data of isweep's SCIENCE.md (a fixed random
two-layer tanh network plus noise; 256 training and 1024 test samples, seeded).

Training (Adam, full batch) runs the forward solver for N = --train-iters iterations:
  --solver fixed      fixed-point iteration
  --solver anderson   Anderson acceleration (memory 5), N iterations
and backpropagates either
  --grad unrolled     through the N iterations (autograd)
  --grad implicit     as if z_N were the fixed point: u = dL/dz + J_f^T u solved by
                      fixed-point iteration in a backward hook, then one f step carries u to θ
Evaluation: the loss at every n of --test-iters (one pass of max(n) iterations), and the
relative fixed-point residual |f(z_n) - z_n| / |f(z_n)| on the test set.
Writes the isweep result file (JSON): train_loss, test_loss, residual (aligned with
--test-iters), rho = n_params / n_train, n_params.
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import torch  # optional: python3-torch
except ImportError:
    sys.exit("deq_torch.py needs PyTorch: jobs/install-deps.sh --with-torch installs Debian's python3-torch")

D_IN, N_TRAIN, N_TEST, NOISE = 16, 256, 1024, 0.1


def teacher(seed):
    """(x_train, y_train, x_test, y_test) of the teacher task, seeded."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(32, D_IN, generator=g, dtype=torch.float64) / math.sqrt(D_IN)
    w2 = torch.randn(1, 32, generator=g, dtype=torch.float64) / math.sqrt(32)
    x = torch.randn(N_TRAIN + N_TEST, D_IN, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ w1.T) @ w2.T + NOISE * torch.randn(N_TRAIN + N_TEST, 1, generator=g, dtype=torch.float64)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


class DEQ(torch.nn.Module):
    def __init__(self, width, gen):
        super().__init__()
        w = torch.randn(width, width, generator=gen, dtype=torch.float64)
        w *= 0.5 / torch.linalg.matrix_norm(w, 2)  # spectral norm 0.5: early iterations contract
        self.W = torch.nn.Parameter(w)
        self.U = torch.nn.Parameter(torch.randn(width, D_IN, generator=gen, dtype=torch.float64) / math.sqrt(D_IN))
        self.b = torch.nn.Parameter(torch.zeros(width, dtype=torch.float64))
        self.V = torch.nn.Parameter(torch.randn(1, width, generator=gen, dtype=torch.float64) / math.sqrt(width))
        self.c = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def f(self, z, ux):
        return torch.tanh(z @ self.W.T + ux)

    def inject(self, x):
        return x @ self.U.T + self.b


def fixed_point(f, z, n, record=None):
    """n iterations z <- f(z); record(k, z) after each k in 0..n."""
    if record:
        record(0, z)
    for k in range(1, n + 1):
        z = f(z)
        if record:
            record(k, z)
    return z


def anderson(f, z, n, m=5, lam=1e-4, record=None):
    """n Anderson iterations (memory m, Tikhonov lam) per sample; record(k, z) as above."""
    if record:
        record(0, z)
    if n == 0:
        return z
    B, W = z.shape
    X, F = [z], [f(z)]
    z = F[0]
    if record:
        record(1, z)
    for k in range(2, n + 1):
        X.append(z)
        F.append(f(z))
        X, F = X[-m:], F[-m:]
        G = torch.stack([F[i] - X[i] for i in range(len(X))], dim=1)  # (B, mk, W)
        H = G @ G.transpose(1, 2) + lam * torch.eye(len(X), dtype=z.dtype)  # (B, mk, mk)
        ones = torch.ones(B, len(X), 1, dtype=z.dtype)
        a = torch.linalg.solve(H, ones)
        a = a / a.sum(dim=1, keepdim=True)  # weights summing to 1
        z = (a.transpose(1, 2) @ torch.stack(F, dim=1)).squeeze(1)
        if record:
            record(k, z)
    return z


def solve(model, x, n, solver, record=None):
    ux = model.inject(x)
    z0 = torch.zeros(x.shape[0], model.W.shape[0], dtype=x.dtype)
    f = lambda z: model.f(z, ux)  # noqa: E731
    if solver == "anderson":
        return anderson(f, z0, n, record=record), f
    return fixed_point(f, z0, n, record=record), f


def forward_train(model, x, n, solver, grad):
    """z used for the loss: through the N iterations (unrolled), or z_N with an implicit backward."""
    if grad == "unrolled":
        return solve(model, x, n, solver)[0]
    with torch.no_grad():
        zn, _ = solve(model, x, n, solver)
    ux = model.inject(x)
    fz = model.f(zn, ux)  # one step with the graph: carries u to the parameters
    z = zn + (fz - fz.detach())  # value z_N exactly (the loss of N iterations), gradient through f
    z0 = zn.clone().requires_grad_()
    f0 = model.f(z0, ux)

    def backward_hook(g):
        # u = g + J_f(z*)^T u by fixed-point iteration
        u = g
        for _ in range(50):
            u_new = torch.autograd.grad(f0, z0, u, retain_graph=True)[0] + g
            if torch.norm(u_new - u) <= 1e-8 * (torch.norm(u_new) + 1e-30):
                u = u_new
                break
            u = u_new
        return u

    if z.requires_grad:
        z.register_hook(backward_hook)
    return z


def mse(model, z, y):
    return 0.5 * torch.mean((z @ model.V.T + model.c - y) ** 2)


def evaluate(model, x, y, iters, solver):
    """{n: loss} and {n: relative residual} for every n in iters, in one pass."""
    losses, resid, want = {}, {}, set(iters)

    def record(k, z):
        if k in want:
            losses[k] = float(mse(model, z, y))
            fz = model.f(z, model.inject(x))
            resid[k] = float(torch.norm(fz - z) / (torch.norm(fz) + 1e-300))

    with torch.no_grad():
        solve(model, x, max(iters), solver, record=record)
    return [losses[n] for n in iters], [resid[n] for n in iters]


def check_grad(width, seed, solver):
    """Both gradients against central finite differences (double precision), on 64 samples:
    unrolled vs FD of the N-iteration loss (N = 5); implicit vs FD of the loss at the fixed
    point (N = 200, converged), the quantity the implicit gradient is exact for.
    Returns {name: max relative error} over 8 entries of each parameter."""
    xtr, ytr, _, _ = teacher(seed)
    x, y = xtr[:64], ytr[:64]
    out = {}
    for grad, n in (("unrolled", 5), ("implicit", 200)):
        model = DEQ(width, torch.Generator().manual_seed(seed))
        model.zero_grad()
        mse(model, forward_train(model, x, n, solver, grad), y).backward()
        worst, g = 0.0, torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            for _ in range(8):
                i = int(torch.randint(p.numel(), (1,), generator=g))
                h, old = 1e-6, p.data.view(-1)[i].item()
                with torch.no_grad():
                    p.data.view(-1)[i] = old + h
                    lp = float(mse(model, solve(model, x, n, solver)[0], y))
                    p.data.view(-1)[i] = old - h
                    lm = float(mse(model, solve(model, x, n, solver)[0], y))
                    p.data.view(-1)[i] = old
                fd, an = (lp - lm) / (2 * h), float(p.grad.view(-1)[i])
                worst = max(worst, abs(fd - an) / max(abs(fd), abs(an), 1e-8))
        out[grad] = worst
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--train-iters", type=int, required=True)
    ap.add_argument("--test-iters", required=True, help="comma list, e.g. 0,1,5,20")
    ap.add_argument("--seed", type=int, default=0, help="data seed (isweep's {seed})")
    ap.add_argument("--init-seed", type=int, default=None, help="model seed (isweep's {config_seed}); default --seed")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--solver", choices=["fixed", "anderson"], default="fixed")
    ap.add_argument("--grad", choices=["unrolled", "implicit"], default="unrolled")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.environ.get("ISWEEP_OUTPUT"))
    ap.add_argument("--check-grad", action="store_true",
                    help="print the gradients' max relative error against finite differences as JSON and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    if a.check_grad:
        print(json.dumps(check_grad(a.width, a.seed, a.solver)))
        return
    iters = sorted({int(s) for s in a.test_iters.split(",")})
    xtr, ytr, xte, yte = teacher(a.seed)
    gen = torch.Generator().manual_seed(a.init_seed if a.init_seed is not None else a.seed)
    model = DEQ(a.width, gen)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    t0 = time.time()
    status, message = "ok", ""
    for step in range(a.steps):
        opt.zero_grad()
        loss = mse(model, forward_train(model, xtr, a.train_iters, a.solver, a.grad), ytr)
        if not torch.isfinite(loss):
            status, message = "diverged", "non-finite training loss at step %d" % step
            break
        loss.backward()
        opt.step()
    t1 = time.time()
    train, _ = evaluate(model, xtr, ytr, iters, a.solver)
    test, resid = evaluate(model, xte, yte, iters, a.solver)
    n_params = sum(p.numel() for p in model.parameters())
    res = {"train_loss": train, "test_loss": test, "residual": resid, "rho": n_params / N_TRAIN,
           "n_params": n_params, "status": status, "message": message,
           "train_seconds": t1 - t0, "eval_seconds": time.time() - t1}
    with open(a.out, "w") as f:
        json.dump(res, f)  # NaN and Infinity are written as such; isweep stores them as NaN


if __name__ == "__main__":
    main()
