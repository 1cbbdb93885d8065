#!/usr/bin/python3
"""linear-meta in numpy: an isweep `exec` example that runs as it is (Debian python3-numpy).

Meta-learning a shared initialization theta for T linear regression tasks; each task's
inner problem, min_z 1/2 |K_t z - b_t|^2, is solved by n steps of gradient descent from
z_0 = theta.  z_n(theta) = M_t^n theta + r_t^n is affine in theta, so the outer problem
(the query loss after N steps) is least squares, solved exactly (minimum norm) for
theta*_N; the model is then evaluated with every n of --test-iters (see the repo's
SCIENCE.md, task linear-meta).  Writes the isweep result file (JSON):
  train_loss, test_loss   lists aligned with --test-iters
  rho, n_params           d / (T q) and d
Usage: linear_meta_numpy.py --width D --train-iters N --test-iters 0,1,5 --seed S --out FILE
"""
import argparse
import json
import math

import numpy as np


def task_set(rng, mu, n_tasks, d, s, q, sigma_w=0.5, sigma_e=0.1):
    """Support/query designs and targets of n_tasks tasks around mu."""
    w = mu + sigma_w * rng.standard_normal((n_tasks, d))
    K = rng.standard_normal((n_tasks, s, d)) / math.sqrt(d)
    Q = rng.standard_normal((n_tasks, q, d)) / math.sqrt(d)
    b = np.einsum("tsd,td->ts", K, w) + sigma_e * rng.standard_normal((n_tasks, s))
    c = np.einsum("tqd,td->tq", Q, w) + sigma_e * rng.standard_normal((n_tasks, q))
    return K, Q, b, c


def affine_maps(K, b, eta, iters):
    """{n: (M^n (T, d, d), r^n (T, d))} for every n in iters, with z_n = M^n theta + r^n:
    one gradient step applied n times to the identity map and to the zero offset."""
    T, s, d = K.shape
    M = np.broadcast_to(np.eye(d), (T, d, d)).copy()
    r = np.zeros((T, d))
    out = {}
    for n in range(max(iters) + 1):
        if n in iters:
            out[n] = (M.copy(), r.copy())
        # z <- z - eta K^T (K z - b) applied to the affine map (M, r)
        KM = np.einsum("tsd,tde->tse", K, M)
        M = M - eta * np.einsum("tsd,tse->tde", K, KM)
        r = r - eta * np.einsum("tsd,ts->td", K, np.einsum("tsd,td->ts", K, r) - b)
    return out


def query_loss(Q, c, M, r, theta):
    z = np.einsum("tde,e->td", M, theta) + r
    res = np.einsum("tqd,td->tq", Q, z) - c
    return 0.5 * float(np.mean(np.sum(res ** 2, axis=1))) / Q.shape[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--train-iters", type=int, required=True)
    ap.add_argument("--test-iters", required=True, help="comma list, e.g. 0,1,5,20")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", type=int, default=32)
    ap.add_argument("--support", type=int, default=32)
    ap.add_argument("--query", type=int, default=8)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    iters = sorted({int(x) for x in a.test_iters.split(",")})
    d, T, s, q = a.width, a.tasks, a.support, a.query
    rng = np.random.default_rng(a.seed)
    mu = rng.standard_normal(d)
    Ktr, Qtr, btr, ctr = task_set(rng, mu, T, d, s, q)
    Kte, Qte, bte, cte = task_set(rng, mu, T, d, s, q)
    L = max(np.linalg.norm(Ktr[t], 2) ** 2 for t in range(T))
    eta = 0.1 / L
    need = sorted(set(iters) | {a.train_iters})
    tr = affine_maps(Ktr, btr, eta, need)
    te = affine_maps(Kte, bte, eta, need)
    # theta*_N: minimum-norm least squares of the stacked query residuals after N steps
    M, r = tr[a.train_iters]
    A = np.einsum("tqd,tde->tqe", Qtr, M).reshape(T * q, d)
    y = (ctr - np.einsum("tqd,td->tq", Qtr, r)).reshape(T * q)
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    out = {
        "train_loss": [query_loss(Qtr, ctr, *tr[n], theta) for n in iters],
        "test_loss": [query_loss(Qte, cte, *te[n], theta) for n in iters],
        "rho": d / (T * q),
        "n_params": d,
    }
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
