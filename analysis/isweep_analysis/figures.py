"""figures.py -- statistics -> matplotlib figures; no statistics of its own
(it calls stats.py) and no saving (the caller saves).

Every function returns (figure, data): `data` is the DataFrame of exactly
what was plotted, so a test can check it holds finite values where the file
does.  Sized for a paper page (panels about 3.3 x 2.6 in, 9-pt text and legends);
legends sit outside the axes, and more than LEGEND_MAX widths get a colour
bar instead.  Rows whose validity flags say they are unreliable are marked
(hollow markers, a ⚠ note naming them)."""

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402

from . import stats  # noqa: E402

LEGEND_MAX = 6
PANEL_W, PANEL_H = 3.3, 2.6
CATEGORICAL = ["#1b6ca8", "#d1495b", "#2a9d8f", "#e9a03b", "#6d597a", "#4d4d4d"]

plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 9,
                     "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "svg.fonttype": "none",
                     "axes.spines.top": False})


def _label(fixed):
    return ", ".join("%s = %s" % (k, _fmt(v)) for k, v in fixed.items())


def _fmt(v):
    if isinstance(v, float) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _width_colors(widths):
    widths = sorted(widths)
    if len(widths) > 1 and min(widths) > 0:
        norm = LogNorm(vmin=min(widths), vmax=max(widths))
    else:
        norm = Normalize(vmin=min(widths) - 1, vmax=max(widths) + 1)
    cmap = plt.get_cmap("viridis")
    return {w: cmap(0.85 * norm(w)) for w in widths}, norm, cmap


def _grid(n, rows=1):
    cols = max(1, n)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_W * cols + 1.4, PANEL_H * rows + 0.7),
                             squeeze=False, constrained_layout=True)
    return fig, axes


def _title(fig, text, n_cols, k_max=None):
    """A suptitle wrapped to the figure's width; says when there is no spread
    to draw (k_max = the most ok seeds of any point is 1)."""
    if k_max is not None and k_max <= 1:
        text = text.replace("\n", " (1 seed: no spread)\n", 1) if "\n" in text else text + " (1 seed: no spread)"
    width = max(40, int(62 * n_cols))
    fig.suptitle("\n".join(textwrap.fill(part, width) for part in text.split("\n")))


def _width_key(fig, axes, colors, norm, cmap, handles, twin=False):
    if len(colors) > LEGEND_MAX:
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.85, pad=0.02)
        cb.set_label("width")
    elif handles:
        axes[0, -1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.32 if twin else 1.04, 1.0),
                           borderaxespad=0,
                           title="width", frameon=False)


def main_gap(r, task, fixed, metric="loss"):
    """The study's main figure: the relative change of the held-out loss
    (L(n) − L(N)) / L(N) (metric="loss"), or the change of accuracy in points
    (metric="accuracy"), against n; one panel per N, one line per width with a
    band of mean ± sd over the ok seeds, a vertical line at n = N, and the
    family's residual curve (role residual) dashed on a log second axis.
    `fixed`: the parameter values selecting the rows (one data set)."""
    g = stats.gap_curves(r, task, fixed, metric=metric)
    if g.empty:
        return None, g
    Ns = sorted(g.N.unique())
    fig, axes = _grid(len(Ns))
    colors, norm, cmap = _width_colors(g.width.unique())
    handles = {}
    has_res = np.isfinite(g.res_mean).any()
    scale = 100.0 if metric == "accuracy" else 1.0
    big = np.nanmax(np.abs(g["mean"].values) * scale) if np.isfinite(g["mean"]).any() else 1
    for a, N in enumerate(Ns):
        ax = axes[0, a]
        sub = g[g.N == N]
        ax2 = ax.twinx() if has_res else None
        flagged = []
        for w in sorted(sub.width.unique()):
            s = sub[sub.width == w].sort_values("n")
            m, sd = s["mean"].values * scale, s["sd"].values * scale
            (h,) = ax.plot(s.n, m, color=colors[w], lw=1.3, label=_fmt(w))
            lo, hi = m - np.nan_to_num(sd), m + np.nan_to_num(sd)
            ax.fill_between(s.n, lo, hi, color=colors[w], alpha=0.18, lw=0)
            handles.setdefault(w, h)
            if ax2 is not None and np.isfinite(s.res_mean).any():
                ax2.plot(s.n, s.res_mean, color=colors[w], lw=0.8, ls="--", alpha=0.8)
            if s.flagged.max() > 0:
                flagged.append(_fmt(w))
        ax.axvline(N, color="k", lw=0.8, ls=":")
        ax.axhline(0, color="0.6", lw=0.6)
        if big > 2:
            ax.set_yscale("symlog", linthresh=0.1 if metric == "loss" else 1.0)
        title = "N = %d" % N
        if flagged:
            title += "\n⚠ flagged rows at width %s" % ", ".join(flagged)
        ax.set_title(title)
        ax.set_xlabel("test iterations n")
        if a == 0:
            ax.set_ylabel("(L_test(n) − L_test(N)) / L_test(N)" if metric == "loss"
                          else "test accuracy(n) − accuracy(N), points")
        if ax2 is not None:
            ax2.set_yscale("log")
            ax2.spines["top"].set_visible(False)
            if a == len(Ns) - 1:
                ax2.set_ylabel("residual (dashed)")
    _width_key(fig, axes, colors, norm, cmap, [handles[w] for w in sorted(handles)], twin=has_res)
    what = "held-out loss gap" if metric == "loss" else "held-out accuracy change"
    _title(fig, "%s: %s against n, mean ± sd over seeds%s" % (task, what, ("\n" + _label(fixed)) if fixed else ""),
           len(Ns), g.k.max())
    return fig, g


def d_vs_rho(r, task, P, fixed):
    """D(N, ΔN) / L(N) against ρ (log) with error bars (sd over seeds), one
    panel per ΔN, one line per N; top row held-out, bottom row training data
    (where L_train(N) is not 0 to rounding).  With bound terms in the file
    (linear-meta's affine case) a third row puts the measured D_train beside
    the lower bound ½‖Δ‖² − √(2E_N)‖P⊥Δ‖ (normalised as the file says).
    `P`: stats.points(r) rows of this task."""
    P = P[P.task == task]
    for k, v in fixed.items():
        P = P[(P[k] == v) | (P[k].isna() & pd.isna(v))]
    dns = [dn for dn in r.delta_n if ("D_test_rel_mean@%d" % dn) in P and np.isfinite(P["D_test_rel_mean@%d" % dn]).any()]
    if P.empty or not dns:
        return None, pd.DataFrame()
    bt = stats.bound_table(r, task)
    if not bt.empty:
        keep = r.configs[r.configs.task == task]
        for k, v in fixed.items():
            keep = keep[keep[k] == v]
        bt = bt[bt.config_id.isin(keep.config_id)]
    rows = 3 if not bt.empty else 2
    fig, axes = _grid(len(dns), rows)
    Ns = sorted(P.N.dropna().unique())
    plotted = []
    for a, dn in enumerate(dns):
        for row, split in enumerate(("test", "train")):
            ax = axes[row, a]
            for c, N in enumerate(Ns):
                s = P[P.N == N].sort_values("rho")
                m, sd = s["D_%s_rel_mean@%d" % (split, dn)], s["D_%s_rel_sd@%d" % (split, dn)]
                ok = np.isfinite(m.values) & (s.rho.values > 0)
                if not ok.any():
                    continue
                col = CATEGORICAL[c % len(CATEGORICAL)]
                ax.errorbar(s.rho[ok], m[ok], yerr=np.nan_to_num(sd[ok]), color=col, marker="o", ms=3.5,
                            lw=1.1, capsize=2, label="N = %d" % N)
                fl = ok & (s.n_flagged.values > 0)
                if fl.any():
                    ax.plot(s.rho[fl], m[fl], "o", mfc="white", mec="k", ms=6, zorder=5)
                for x, y, e in zip(s.rho[ok], m[ok], sd[ok]):
                    plotted.append({"split": split, "dn": dn, "N": N, "rho": x, "mean": y, "sd": e})
            ax.set_xscale("log")
            ax.axhline(0, color="0.6", lw=0.6)
            ax.axvline(1, color="0.4", lw=0.6, ls=":")
            if not ax.lines:
                ax.text(0.5, 0.5, "no grid point with |L(N)| > 1e-12\n(interpolating: see the bound row)"
                        if split == "train" else "no finite value", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            ax.set_title("ΔN = %d, %s data" % (dn, "held-out" if split == "test" else "training"))
            ax.set_xlabel("ρ = n_params / constraints")
            if a == 0:
                ax.set_ylabel("D(N, ΔN) / L(N)")
            yl = m.values if len(Ns) else []
            if np.nanmax(np.abs(np.r_[yl, 0])) > 2:
                ax.set_yscale("symlog", linthresh=0.1)
        if rows == 3:
            ax = axes[2, a]
            s = bt[bt.dn == dn]
            ax.plot(s.rho, s.D, "o", ms=3, color=CATEGORICAL[0], label="measured D_train")
            ax.plot(s.rho, s.bound, "_", ms=8, mew=1.4, color=CATEGORICAL[1], label="affine lower bound")
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1e-4)
            ax.axvline(1, color="0.4", lw=0.6, ls=":")
            ax.set_title("ΔN = %d: measured D_train and its bound" % dn)
            ax.set_xlabel("ρ")
            if a == 0:
                ax.set_ylabel("D_train (absolute)")
            for _, q in s.iterrows():
                plotted.append({"split": "bound", "dn": dn, "N": q.N, "rho": q.rho, "mean": q.D, "sd": q.bound})
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    if rows == 3:
        axes[2, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    _title(fig, "%s: D(N, ΔN) / L(N) against ρ, mean ± sd over seeds (hollow: flagged rows)%s"
           % (task, ("\n" + _label(fixed)) if fixed else ""), len(dns), P.k.max())
    return fig, pd.DataFrame(plotted)


def compare(r, task, P, fixed, param):
    """Side by side values of a text parameter that does not shape the data
    (deq's gradient mode: unrolled vs implicit): D_test(N, ΔN) / L_test(N) at
    the largest ΔN against width, one panel per N, one line per value, error
    bars = 95 % CI over seeds; hollow markers: flagged rows."""
    P = P[P.task == task]
    for k, v in fixed.items():
        P = P[(P[k] == v) | (P[k].isna() & pd.isna(v))]
    if P.empty or "verdict_dn" not in P or not np.isfinite(P.verdict_dn.astype(float)).any():
        return None, pd.DataFrame()
    dn = int(np.nanmax(P.verdict_dn.astype(float)))
    col_m, col_ci = "D_test_rel_mean@%d" % dn, "D_test_rel_ci@%d" % dn
    if col_m not in P:
        return None, pd.DataFrame()
    P = P[np.isfinite(P[col_m].astype(float))]  # pending points of a partial file: nothing to draw
    Ns = sorted(P.N.dropna().unique())
    if not Ns:
        return None, pd.DataFrame()
    fig, axes = _grid(len(Ns))
    plotted = []
    for a, N in enumerate(Ns):
        ax = axes[0, a]
        for c, val in enumerate(sorted(P[param].dropna().unique())):
            s = P[(P.N == N) & (P[param] == val)].sort_values("width")
            if col_m not in s:
                continue
            m, ci = s[col_m].values, s[col_ci].values
            ok = np.isfinite(m)
            colr = CATEGORICAL[c % len(CATEGORICAL)]
            ax.errorbar(s.width[ok], m[ok], yerr=np.nan_to_num(ci[ok]), color=colr, marker="o", ms=3.5, lw=1.2,
                        capsize=2, label="%s = %s" % (param, val))
            fl = ok & (s.n_flagged.values > 0)
            if fl.any():
                ax.plot(s.width[fl], m[fl], "o", mfc="white", mec=colr, ms=7, mew=1.3, zorder=5)
            for w, y, e in zip(s.width[ok], m[ok], ci[ok]):
                plotted.append({"N": N, param: val, "width": w, "mean": y, "ci": e})
        ax.set_xscale("log", base=2)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title("N = %d, ΔN = %d" % (N, dn))
        ax.set_xlabel("width")
        if a == 0:
            ax.set_ylabel("D_test(N, ΔN) / L_test(N)")
        vals = [p["mean"] for p in plotted if p["N"] == N]
        if vals and np.nanmax(np.abs(vals)) > 2:
            ax.set_yscale("symlog", linthresh=0.1)
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    _title(fig, "%s: %s compared under extra iterations, mean ± 95 %% CI over seeds (hollow: flagged)%s"
           % (task, param, ("\n" + _label(fixed)) if fixed else ""), len(Ns), P.k.max())
    return fig, pd.DataFrame(plotted)


def all_figures(r, P):
    """iter_figures as a list (every figure open at once: for a few)."""
    return list(iter_figures(r, P))


def iter_figures(r, P):
    """Every figure of the report, one at a time: yields (file stem, title,
    figure, data); the caller saves and closes each figure before asking for
    the next, so a sweep with many data sets never holds more than one open.
    Per task and data set (stats.classes: one value of every varying
    parameter but width, N and seed): fig1 the held-out loss gap, fig1acc
    the accuracy change where the data set has accuracy, fig2 D against ρ;
    per data set and text parameter that does not shape the data: fig3 the
    comparison of its values."""
    for task in r.tasks:
        split, comp = stats.classes(r, task)
        cf = r.configs[r.configs.task == task]
        combos = cf[split + comp].drop_duplicates().to_dict("records") if split + comp else [{}]
        for fx in combos:
            label = _label(fx) or "all configs"
            fig, d = main_gap(r, task, fx, "loss")
            if fig is not None:
                yield (_stem("fig1_" + task, fx), "%s: held-out loss gap against n (%s)" % (task, label), fig, d)
            if r.curve(task, "accuracy", "test"):
                fig, d = main_gap(r, task, fx, "accuracy")
                if fig is not None and np.isfinite(d["mean"]).any():
                    yield (_stem("fig1acc_" + task, fx), "%s: held-out accuracy change against n (%s)"
                           % (task, label), fig, d)
                elif fig is not None:
                    plt.close(fig)
            fig, d = d_vs_rho(r, task, P, fx)
            if fig is not None:
                yield (_stem("fig2_" + task, fx), "%s: D against ρ (%s)" % (task, label), fig, d)
        for c in comp:
            # one figure per data set and value of every other compared parameter, so a
            # point of the figure is one grid point (e.g. test_solver compared for each
            # gradient mode and training solver)
            rest = split + [o for o in comp if o != c]
            for fx in cf[rest].drop_duplicates().to_dict("records") if rest else [{}]:
                fig, d = compare(r, task, P, fx, c)
                if fig is not None:
                    yield (_stem("fig3_%s_%s" % (task, c), fx), "%s: %s compared (%s)"
                           % (task, c, _label(fx) or "all configs"), fig, d)


def _stem(prefix, fixed):
    parts = [prefix] + ["%s-%s" % (k, _fmt(v)) for k, v in fixed.items()]
    return "_".join(p.replace("/", "-").replace(" ", "") for p in parts)
