#!/usr/bin/python3
"""tables.py -- the README's tables for jobs/solvers.ini and jobs/imaml.ini, from their
results files (through isweep_analysis, so the verdicts are the report's rule).

    /usr/bin/python3 docs/results/tables.py solvers solvers.h5
    /usr/bin/python3 docs/results/tables.py imaml imaml-results.h5
    /usr/bin/python3 docs/results/tables.py digits deq-digits-results.h5

solvers: per (grad, solver -> test_solver), over every ok config (widths x N x seeds):
mean test accuracy at n = N, 2N, 4N, the mean relative change of the test loss from n = N
to 2N and to 4N, and the report's verdicts at the largest delta_n of the file counted
over the (width, N) grid points of that pair.  A second table splits the relative change
at 4N by width and N.

imaml: per (family, lambda, width, N), mean +- sd over ok seeds of the held-out query MSE at
n = 0, N, 2N, 4N (capped at the largest test n), the relative change from N to 4N, the
n = infinity proxy, and for imaml the CG breakdown fraction and final relative residual;
and the report's verdict of the grid point.

digits: per width (rows) and (grad, N) (columns) the report's verdict and the mean relative
change D_test(N, largest delta_n) / L_test(N) over the ok seeds; ⚠: flagged rows."""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis"))
from isweep_analysis import load, stats  # noqa: E402

warnings.simplefilter("ignore", RuntimeWarning)  # means of empty selections print as nan


def short(v):
    return {"more iterations help": "help", "no significant change": "n.s."}.get(v, v.replace(" (3 seeds)", "").replace(" seeds)", ")"))


def at(r, task, cf, column, ns):
    """column's value for every config of cf at n = ns[i] (NaN where absent)."""
    cu = r.curves[r.curves.task == task].set_index(["config_id", "n"])[column]
    out = np.full(len(cf), np.nan)
    for i, (cid, n) in enumerate(zip(cf.config_id, ns)):
        if (cid, n) in cu.index:
            out[i] = cu.loc[(cid, n)]
    return out


def solvers(path):
    r = load(path)
    cf = r.configs[(r.configs.task == "deq") & (r.configs.status == "ok")].reset_index(drop=True)
    nmax = int(r.curves[r.curves.task == "deq"].n.max())
    N = cf.train_iters.astype(int).values
    acc = {k: at(r, "deq", cf, "test_accuracy", np.minimum(k * N, nmax)) for k in (1, 2, 4)}
    loss = {k: at(r, "deq", cf, "test_loss", np.minimum(k * N, nmax)) for k in (1, 2, 4)}
    cf["acc1"], cf["acc2"], cf["acc4"] = acc[1], acc[2], acc[4]
    cf["d2"] = (loss[2] - loss[1]) / loss[1]
    cf["d4"] = (loss[4] - loss[1]) / loss[1]
    P = stats.points(r)
    P = P[P.task == "deq"]
    verdicts = ("help", "n.s.", "undecided", "hurt")
    print("%d ok configs of %d; verdicts at delta_n = %d (n = N + %d)" % (len(cf), (r.configs.task == "deq").sum(),
                                                                      max(r.delta_n), max(r.delta_n)))
    print()
    print("| grad | solver → test_solver | acc n = N | 2N | 4N | Δloss/L 2N | 4N | " + " / ".join(verdicts) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    order = ["picard", "anderson", "broyden"]
    for grad in [g for g in ("unrolled", "implicit", "jfb", "phantom") if g in set(cf.grad)]:
        for s in order:
            for t in order:
                sel = (cf.grad == grad) & (cf.solver == s) & (cf.test_solver == t)
                if not sel.any():
                    continue
                c = cf[sel]
                pv = P[(P.grad == grad) & (P.solver == s) & (P.test_solver == t)].verdict.map(short)
                counts = [int((pv.str.startswith(v)).sum()) for v in verdicts]
                print("| %s | %s → %s | %.4f | %.4f | %.4f | %+.3f | %+.3f | %s |"
                      % (grad, s, t, c.acc1.mean(), c.acc2.mean(), c.acc4.mean(), c.d2.mean(), c.d4.mean(),
                         " / ".join(str(x) for x in counts)))
    print()
    widths = sorted(set(cf.width.astype(int)))
    Ns = sorted(set(N))
    print("Mean Δloss/L from n = N to 4N over solver pairs and seeds, by width and N:")
    print()
    print("| grad | " + " | ".join("w %d N %d" % (w, n) for w in widths for n in Ns) + " |")
    print("| --- | " + " | ".join("---" for _ in widths for _ in Ns) + " |")
    for grad in [g for g in ("unrolled", "implicit", "jfb", "phantom") if g in set(cf.grad)]:
        cells = []
        for w in widths:
            for n in Ns:
                c = cf[(cf.grad == grad) & (cf.width.astype(int) == w) & (N == n)]
                cells.append("%+.3f" % c.d4.mean() if len(c) else "")
        print("| %s | %s |" % (grad, " | ".join(cells)))
    print()
    print("Fallbacks and residuals (median over configs):")
    for t in order:
        c = cf[cf.test_solver == t]
        res40 = at(r, "deq", c.reset_index(drop=True), "residual", np.full(len(c), nmax))
        print("  test_solver %-8s: residual at n = %d %.2g, test_fallbacks %.4g, limit_converged %.3f"
              % (t, nmax, np.nanmedian(res40), np.nanmedian(c.test_fallbacks.astype(float)),
                 np.nanmean(c.limit_converged.astype(float))))
    print("  wall time: train %.0f s, eval %.0f s summed over configs" % (cf.train_seconds.sum(), cf.eval_seconds.sum()))


def imaml(path):
    r = load(path)
    P = stats.points(r)
    nmax = int(r.curves.n.max())
    print("| w | N | family | λ | seeds ok | n = 0 | n = N | 2N | 4N (n) | Δ/L(N) 4N | n = ∞ proxy | breakdowns / CG res | train s | verdict (ΔN = %d) |" % max(r.delta_n))
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for task in ("maml", "imaml"):
        cf = r.configs[r.configs.task == task].reset_index(drop=True)
        lam = cf["lambda"].astype(float).values if "lambda" in cf else np.full(len(cf), np.nan)
        for w in sorted(set(cf.width.astype(int))):
            for N in sorted(set(cf.train_iters.astype(int))):
                for l in sorted(set(lam[~np.isnan(lam)])) if task == "imaml" else [np.nan]:
                    sel = (cf.width.astype(int) == w) & (cf.train_iters.astype(int) == N)
                    if task == "imaml":
                        sel &= lam == l
                    if not sel.any():
                        continue
                    c = cf[sel & (cf.status == "ok")].reset_index(drop=True)
                    if not len(c):
                        st = cf[sel].status.value_counts()
                        print("| %d | %d | %s | %s | 0 (%s) |%s" % (w, N, task, "—" if np.isnan(l) else "%g" % l,
                              ", ".join("%d %s" % (v, k) for k, v in st.items()), " |" * 9))
                        continue
                    n4 = min(4 * N, nmax)
                    L = {k: at(r, task, c, "test_loss", np.full(len(c), k)) for k in (0, N, min(2 * N, nmax), n4)}
                    d = (L[n4] - L[N]) / L[N]

                    def ms(x):
                        with np.errstate(all="ignore"):
                            return "%.4g ± %.2g" % (np.mean(x), np.std(x, ddof=1)) if len(x) > 1 else "%.4g" % x[0]
                    pv = P[(P.task == task) & (P.width.astype(int) == w) & (P.N.astype(int) == N)]
                    if task == "imaml":
                        pv = pv[pv["lambda"].astype(float) == l]
                    cg = ("%.2f / %.2f" % (c.cg_breakdown_fraction.mean(), c.cg_rel_residual_final.mean())
                          if task == "imaml" else "—")
                    rows.append((w, N, task, l))
                    print("| %d | %d | %s | %s | %d | %s | %s | %s | %s (%d) | %+.3g ± %.2g %% | %s | %s | %.0f | %s |"
                          % (w, N, task, "—" if np.isnan(l) else "%g" % l, len(c), ms(L[0]), ms(L[N]),
                             ms(L[min(2 * N, nmax)]), ms(L[n4]), n4, 100 * d.mean(),
                             100 * (d.std(ddof=1) if len(d) > 1 else 0), ms(c.test_loss_limit.astype(float).values),
                             cg, c.train_seconds.mean(), pv.verdict.iloc[0] if len(pv) else "?"))


def digits(path):
    r = load(path)
    P = stats.points(r)
    P = P[P.task == "deq"]
    dn = max(r.delta_n)
    Ns = sorted(set(P.N.astype(int)))
    grads = [g for g in ("unrolled", "implicit", "jfb", "phantom") if g in set(P.grad)]
    print("| width | ρ | " + " | ".join("N = %d %s" % (n, g) for g in grads for n in Ns) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in grads for _ in Ns) + " |")
    for w in sorted(set(P.width.astype(int))):
        q = P[P.width.astype(int) == w]
        cells = []
        for g in grads:
            for n in Ns:
                x = q[(q.grad == g) & (q.N.astype(int) == n)]
                if not len(x):
                    cells.append("")
                    continue
                x = x.iloc[0]
                m = 100 * x["D_test_rel_mean@%d" % dn]
                cells.append("%s %s%s" % (short(x.verdict), ("%+.2g %%" if abs(m) < 10 else "%+.0f %%") % m,
                                         " ⚠" if x.n_flagged else ""))
        print("| %d | %.2g | %s |" % (w, q.rho.iloc[0], " | ".join(cells)))


if __name__ == "__main__":
    MODES = {"solvers": solvers, "imaml": imaml, "digits": digits}
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](sys.argv[2])
