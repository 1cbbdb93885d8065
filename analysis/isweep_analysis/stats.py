"""stats.py -- the study's statistics: pure functions of load()'s tables.

A grid point is one value of every parameter column but `seed` (per task).
Statistics are over the seeds whose rows are ok; other rows are counted.
src/summary.c computes the same numbers and verdicts for the end-of-run table
(tests/test_analysis_summary.py checks that they agree).
"""

import numpy as np
import pandas as pd
from scipy import stats as sps

REL_FLOOR = 1e-12  # |L(N)| at or below this: D is taken absolute, not relative
ROUNDING = 1e-9    # |mean D| within this (relative): a rounding-level change
EFFECT = 0.10      # a "large" relative change: 10 % of L(N)
MIN_CONSISTENT = 3 # seeds needed for the sign-consistency criterion

VERDICT_RULE = (
    "Verdict rule (per grid point, held-out loss): take the k seeds whose rows are ok, the largest ΔN with "
    "N+ΔN evaluated, and each seed's paired change D_i = (L_test(N+ΔN) − L_test(N)) / L_test(N) (absolute "
    "when some |L_test(N)| ≤ 1e-12; then 'large' means larger than 10 % of the mean |L_test(N)|). A seed whose "
    "L_test(N+ΔN) is not finite while L_test(N) is diverges: if at least half the seeds diverge the verdict "
    "is \"hurt (diverges)\", otherwise they are left out. With k = 0: \"pending\" while rows are still to run, else \"no ok seed (d diverged, f failed)\"; k = 1: \"undecided (1 seed)\". "
    "With k ≥ 2, mean m, standard deviation s: (1) |m| ≤ 1e-9 is rounding: \"no significant change\"; "
    "(2) the two-sided paired t-test at the 5 % level, t = m / (s/√k) against Student's t_0.975,k−1 (12.71 for "
    "2 seeds, 4.30 for 3; s = 0 decides by the sign of m): significant → \"more iterations help\" (m < 0) or "
    "\"hurt\" (m > 0); (3) sign consistency with a large effect: k ≥ 3 and every D_i has the same sign and "
    "|D_i| ≥ 10 % → \"help\"/\"hurt\" as in (2) (a consistent collapse is not \"no change\"); (4) the 95 % "
    "confidence interval m ± t_crit·s/√k lies inside (−10 %, +10 %) → \"no significant change\" (any effect is "
    "small); (5) otherwise \"undecided (k seeds)\": too little evidence either way. Rows whose validity flags "
    "say they are unreliable are used but flagged (⚠) wherever they appear.")


def t_crit(df):
    """t_{0.975, df}: the two-sided 5 % critical value of Student's t."""
    return float(sps.t.ppf(0.975, df)) if df >= 1 else np.nan


def describe(x):
    """Mean, sample sd, half-width of the 95 % CI over the finite values of x,
    and their count: dict(mean, sd, ci, n)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    n = len(x)
    m = float(np.mean(x)) if n else np.nan
    sd = float(np.std(x, ddof=1)) if n >= 2 else np.nan
    ci = t_crit(n - 1) * sd / np.sqrt(n) if n >= 2 else np.nan
    return {"mean": m, "sd": sd, "ci": ci, "n": n}


def verdict(d, n_div=0, scale=1.0):
    """The verdict of one grid point from its seeds' paired changes d (relative,
    or absolute with `scale` = mean |L(N)| for the effect size), and n_div
    seeds that diverged.  Returns (verdict text, t, t_crit)."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    k = len(d)
    total = k + n_div
    if total == 0:
        return "pending", np.nan, np.nan
    if n_div > 0 and 2 * n_div >= total:
        return "hurt (diverges)", np.nan, np.nan
    if k < 2:
        return "undecided (1 seed)", np.nan, np.nan
    m, s = float(np.mean(d)), float(np.std(d, ddof=1))
    tc = t_crit(k - 1)
    if abs(m) <= ROUNDING * scale:
        return "no significant change", (m / (s / np.sqrt(k)) if s > 0 else 0.0), tc
    t = (np.inf if m > 0 else -np.inf) if s == 0 else m / (s / np.sqrt(k))
    sign = "more iterations help" if m < 0 else "hurt"
    if abs(t) > tc:
        return sign, t, tc
    big = EFFECT * scale
    if k >= MIN_CONSISTENT and (np.all(d >= big) or np.all(d <= -big)):
        return sign, t, tc
    half = tc * s / np.sqrt(k)
    if m - half > -big and m + half < big:
        return "no significant change", t, tc
    return "undecided (%d seeds)" % k, t, tc


def no_ok_reason(n_div, n_fail):
    """'3 diverged', '2 diverged, 1 failed' or '1 failed' (as the C summary)."""
    return ", ".join(x for x in ("%d diverged" % n_div if n_div else "", "%d failed" % n_fail if n_fail else "") if x)


def short(v):
    """Compact verdict for narrow tables."""
    return {"more iterations help": "help", "no significant change": "n.s."}.get(v, v)


def _matrix(r, task, name, rows):
    """(len(rows), T) values of curve `name` for config rows `rows` of `task`
    (a frame with source/config_id), and the n values."""
    cu = r.curves[r.curves.task == task]
    ns = np.array(sorted(cu.n.unique()))
    if name is None or name not in cu or not len(rows):
        return np.full((len(rows), len(ns)), np.nan), ns
    key = cu.source + "|" + cu.config_id
    pos = {k: i for i, k in enumerate(rows.source + "|" + rows.config_id)}
    out = np.full((len(rows), len(ns)), np.nan)
    sel = key.isin(pos.keys()).values
    ri = np.array([pos[k] for k in key[sel]], int)
    ci = np.searchsorted(ns, cu.n.values[sel])
    out[ri, ci] = cu[name].values[sel]
    return out, ns


def grid_keys(r, task, by=()):
    """The columns that identify a grid point of `task`: every parameter but
    seed, plus `by` (e.g. ("source",) to keep files apart)."""
    return [p for p in r.params(task) if p != "seed"] + list(by)


def points(r, by=()):
    """One row per (task, grid point): the keys (grid_keys), counts by status,
    k (ok seeds), rho, L_train(N) and L_test(N) (mean/sd/ci), L_test(∞),
    best n by mean test loss and that loss, accuracy at N where the task has
    a finite test accuracy, n_flagged / n_flagged_limit ok rows, and for
    every ΔN in r.delta_n with N+ΔN evaluated: D_train/D_test absolute and
    relative (mean, sd, ci), diverged seeds, verdict; `verdict`, `verdict_dn`,
    `t`, `t_crit` of the largest evaluated ΔN.  Columns of a ΔN are named
    like 'D_test_rel_mean@20'."""
    out = []
    for task in r.tasks:
        out.append(_task_points(r, task, by))
    return pd.concat(out, ignore_index=True, sort=False) if out else pd.DataFrame()


def _task_points(r, task, by):
    cf = r.configs[r.configs.task == task].reset_index(drop=True)
    keys = grid_keys(r, task, by)
    c_tr, c_te = r.curve(task, "loss", "train"), r.curve(task, "loss", "test")
    c_acc = r.curve(task, "accuracy", "test")
    lim = r.cols(task, role="loss", split="test", ndim=1)
    lim = lim[lim["evaluated_at"] == "limit"].name
    lim = lim.iloc[0] if len(lim) else None
    Ltr, ns = _matrix(r, task, c_tr, cf)
    Lte, _ = _matrix(r, task, c_te, cf)
    Acc, _ = _matrix(r, task, c_acc, cf)
    rows = []
    groups = cf.groupby(keys, sort=False, dropna=False).indices if keys else {(): np.arange(len(cf))}
    for key, idx in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        row = {"task": task}
        row.update(dict(zip(keys, key)))
        sub = cf.iloc[idx]
        row["seeds"] = len(idx)
        for st in ("ok", "pending", "running", "diverged", "failed"):
            row["n_" + st] = int((sub.status == st).sum())
        ok = idx[(sub.status == "ok").values]
        row["k"] = len(ok)
        row["n_flagged"] = int(cf.flagged.values[ok].sum())
        row["n_flagged_limit"] = int(cf.flagged_limit.values[ok].sum())
        row["flag_reasons"] = "; ".join(sorted(set(x for x in cf.flag_reasons.values[ok] if x)))
        row["rho"] = describe(cf.rho.values[ok])["mean"] if len(ok) else np.nan
        N = int(sub.train_iters.iloc[0])
        jN = np.flatnonzero(ns == N)
        row["N"] = N
        if lim is not None:
            good = ok[~cf.flagged_limit.values[ok]]
            row["L_test_limit"] = describe(cf[lim].values[ok])["mean"]
            row["L_test_limit_reliable"] = describe(cf[lim].values[good])["mean"] if len(good) else np.nan
        if not len(ok) or not len(jN):
            row["verdict"] = ("n = N not evaluated" if len(ok) else "pending" if row["n_pending"] + row["n_running"]
                              else "no ok seed (%s)" % no_ok_reason(row["n_diverged"], row["n_failed"]))
            rows.append(row)
            continue
        j = jN[0]
        for nm, M in (("L_train", Ltr), ("L_test", Lte)):
            s = describe(M[ok, j])
            for q in ("mean", "sd", "ci"):
                row["%s_N_%s" % (nm, q)] = s[q]
        fin = np.all(np.isfinite(Lte[ok]), axis=0)
        if fin.any():
            mean = np.where(fin, np.nanmean(Lte[ok], axis=0), np.inf)
            b = int(np.argmin(mean))
            row["best_n"], row["L_test_best"] = int(ns[b]), float(mean[b])
        if np.isfinite(Acc[ok]).any():
            s = describe(Acc[ok, j])
            row["acc_test_N_mean"], row["acc_test_N_sd"] = s["mean"], s["sd"]
        last = None
        for dn in r.delta_n:
            jj = np.flatnonzero(ns == N + dn)
            if not len(jj):
                continue
            jj = jj[0]
            for nm, M in (("train", Ltr), ("test", Lte)):
                a, b = M[ok, j], M[ok, jj]
                both = np.isfinite(a) & np.isfinite(b)
                rel_ok = bool(np.all(np.abs(a[both]) > REL_FLOOR))
                dabs = (b - a)[both]
                drel = dabs / a[both] if rel_ok else np.full(len(dabs), np.nan)
                for kind, v in (("abs", dabs), ("rel", drel)):
                    s = describe(v)
                    for q in ("mean", "sd", "ci"):
                        row["D_%s_%s_%s@%d" % (nm, kind, q, dn)] = s[q]
                if nm == "test":
                    n_div = int((np.isfinite(a) & ~np.isfinite(b)).sum())
                    scale = 1.0 if rel_ok else float(np.mean(np.abs(a[both]))) if both.any() else 1.0
                    v, t, tc = verdict(drel if rel_ok else dabs, n_div, scale)
                    row["n_div@%d" % dn] = n_div
                    row["verdict@%d" % dn] = v
                    last = (dn, v, t, tc)
        if last is None:
            row["verdict"] = "no N+ΔN evaluated"
        else:
            row["verdict_dn"], row["verdict"], row["t"], row["t_crit"] = last
        rows.append(row)
    return pd.DataFrame(rows)


def gap_curves(r, task, keys_fixed, by_width=True, metric="loss"):
    """Per width (rows of `keys_fixed`, a dict of parameter values that select
    configs of `task`), per N: the relative change of the test metric
    against n over ok seeds.  Returns a frame with columns width, N, n,
    mean, sd, ci, k, res_mean (the residual curve's mean, NaN without one),
    flagged (ok rows flagged).  metric: "loss" -> (L(n) − L(N)) / L(N);
    "accuracy" -> A(n) − A(N) (points)."""
    cf = r.configs[r.configs.task == task]
    for k, v in keys_fixed.items():
        cf = cf[(cf[k] == v) | (cf[k].isna() & pd.isna(v))]
    cf = cf[cf.status == "ok"].reset_index(drop=True)
    name = r.curve(task, metric, "test")
    M, ns = _matrix(r, task, name, cf)
    R, _ = _matrix(r, task, r.curve(task, "residual", "test"), cf)
    out = []
    for (w, N), idx in cf.groupby(["width", "train_iters"]).indices.items():
        j = np.flatnonzero(ns == N)
        if not len(j):
            continue
        base = M[idx, j[0]][:, None]
        g = (M[idx] - base) / base if metric == "loss" else (M[idx] - base)
        for jj, n in enumerate(ns):
            s = describe(g[:, jj])
            out.append({"width": w, "N": N, "n": n, "mean": s["mean"], "sd": s["sd"], "ci": s["ci"],
                        "k": s["n"], "res_mean": describe(R[idx, jj])["mean"],
                        "flagged": int(cf.flagged.values[idx].sum())})
    return pd.DataFrame(out)


def bound_table(r, task):
    """For a task with bound_term columns (the affine-case bound): per ok row
    and ΔN, the measured D_train (absolute, as the bound normalises it), the
    lower bound (½‖Δ‖² − √(2E_N)‖P⊥Δ‖)/per and the identity (½‖Δ‖² +
    ⟨P⊥Δ, r_N⟩)/per.  Columns: config_id, width, rho, N, dn, D, bound,
    identity.  Empty when the task has no such columns."""
    bt = r.cols(task, role="bound_term")
    terms = dict(zip(bt.term, bt.name))
    need = ("delta_sq", "perp_norm", "perp_cross", "energy")
    if not all(t in terms for t in need):
        return pd.DataFrame()
    per = bt.per.dropna()
    cf = r.configs[(r.configs.task == task) & (r.configs.status == "ok")].reset_index(drop=True)
    norm = np.ones(len(cf))
    if len(per):
        for p in per.iloc[0].split("*"):
            norm = norm * cf[p].astype(float).values
    Ltr, ns = _matrix(r, task, r.curve(task, "loss", "train"), cf)
    dsq, _ = _matrix(r, task, terms["delta_sq"], cf)
    pn, _ = _matrix(r, task, terms["perp_norm"], cf)
    pc, _ = _matrix(r, task, terms["perp_cross"], cf)
    E = cf[terms["energy"]].values.astype(float)
    out = []
    for i in range(len(cf)):
        N = int(cf.train_iters.iloc[i])
        j = np.flatnonzero(ns == N)
        if not len(j):
            continue
        for dn in r.delta_n:
            jj = np.flatnonzero(ns == N + dn)
            if not len(jj):
                continue
            jj = jj[0]
            out.append({"config_id": cf.config_id.iloc[i], "width": cf.width.iloc[i], "rho": cf.rho.iloc[i],
                        "N": N, "dn": dn, "D": Ltr[i, jj] - Ltr[i, j[0]],
                        "bound": (0.5 * dsq[i, jj] - np.sqrt(2 * E[i]) * pn[i, jj]) / norm[i],
                        "identity": (0.5 * dsq[i, jj] + pc[i, jj]) / norm[i]})
    return pd.DataFrame(out)


def classes(r, task):
    """How the figures split a task: the parameters (but width, train_iters,
    seed) that vary within it.  Returns (split, compare): `split` vary and
    shape the data or are numeric -- one figure per combination, so data
    sets (regression and classification) are never mixed; `compare` are
    text parameters that do not shape the data (e.g. a gradient mode) --
    drawn side by side in the comparison figure."""
    cf = r.configs[r.configs.task == task]
    meta = r.cols(task, role="parameter").drop_duplicates("name").set_index("name")
    split, compare = [], []
    for p in r.params(task):
        if p in ("width", "train_iters", "seed") or cf[p].nunique(dropna=False) < 2:
            continue
        text = cf[p].dtype == object
        shapes = meta.shapes_data.get(p)
        if text and shapes is False:
            compare.append(p)
        else:
            split.append(p)
    return split, compare
