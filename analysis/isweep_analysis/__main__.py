"""The command line: python3 -m isweep_analysis report FILE... [-o DIR] [--quiet]
(also `isweep report`, which execs this).

Without -o: the summary tables on stdout.  With -o DIR (created if
missing; the files below are overwritten, nothing else in DIR is touched):
index.html (self-contained), summary.md, configs.csv, curves.csv,
points.csv, and every figure as PNG and SVG.  A bad file is one line on
stderr and exit status 2."""

import argparse
import os
import sys

import numpy as np
import pandas as pd

from . import figures, html, stats
from .load import IsweepFileError, load

PROG = os.environ.get("ISW_REPORT_PROG", "python3 -m isweep_analysis")


def _pm(m, sd, pct=False):
    if not np.isfinite(m):
        return "-"
    k = 100.0 if pct else 1.0
    u = " %" if pct else ""
    if not np.isfinite(sd):
        return ("%+.1f%s" % (k * m, u)) if pct else "%.4g" % m
    return ("%+.1f ± %.1f%s" % (k * m, k * sd, u)) if pct else "%.4g ± %.2g" % (m, sd)


def _varying(r, task):
    cf = r.configs[r.configs.task == task]
    return [p for p in r.params(task)[3:] if cf[p].nunique(dropna=False) > 1]


def point_table(r, P, task):
    """The per-grid-point table of summary.md / index.html as a DataFrame
    (formatted text cells, a `_flag` column)."""
    P = P[P.task == task]
    rows = []
    var = _varying(r, task)
    for _, p in P.iterrows():
        row = {"width": stats_fmt(p.width), "N": stats_fmt(p.N)}
        for v in var:
            row[v] = stats_fmt(p[v])
        row["ρ"] = html.fmt(p.rho)
        row["ok/seeds"] = "%d/%d" % (p.k, p.seeds)
        row["L_train(N)"] = _pm(p.get("L_train_N_mean", np.nan), p.get("L_train_N_sd", np.nan))
        row["L_test(N)"] = _pm(p.get("L_test_N_mean", np.nan), p.get("L_test_N_sd", np.nan))
        if "acc_test_N_mean" in p and np.isfinite(p.get("acc_test_N_mean", np.nan)):
            row["acc_test(N)"] = _pm(p.acc_test_N_mean, p.acc_test_N_sd)
        row["best n"] = stats_fmt(p.get("best_n", np.nan))
        if "L_test_limit" in p:
            lim = html.fmt(p.L_test_limit)
            row["L_test(∞)"] = lim + (" ⚠ (%d unconverged)" % p.n_flagged_limit if p.n_flagged_limit else "")
        for dn in r.delta_n:
            c = "D_test_rel_mean@%d" % dn
            if c in p and np.isfinite(p.get(c, np.nan)):
                ci = p.get("D_test_rel_ci@%d" % dn, np.nan)
                row["D_test/L(%+d)" % dn] = _pm(p[c], p["D_test_rel_sd@%d" % dn], True) + (
                    " [±%.1f]" % (100 * ci) if np.isfinite(ci) else "")
            elif ("D_test_abs_mean@%d" % dn) in p and np.isfinite(p.get("D_test_abs_mean@%d" % dn, np.nan)):
                row["D_test/L(%+d)" % dn] = "abs " + _pm(p["D_test_abs_mean@%d" % dn], p["D_test_abs_sd@%d" % dn])
        row["verdict"] = p.verdict + (" ⚠" if p.n_flagged else "")
        row["flags"] = p.flag_reasons if isinstance(p.flag_reasons, str) else ""
        row["_flag"] = bool(p.n_flagged or p.n_flagged_limit)
        rows.append(row)
    df = pd.DataFrame(rows).fillna("")
    return df


def stats_fmt(v):
    if isinstance(v, (float, np.floating)):
        return "-" if not np.isfinite(v) else ("%d" % v if float(v).is_integer() else "%g" % v)
    return str(v)


def verdict_counts(r, P):
    """Verdict counts per task, data set / text parameter values (every
    varying parameter but width, N and seed) and regime ρ < 1 / ρ ≥ 1 (the
    README's Results tables)."""
    rows = []
    for task in r.tasks:
        split, comp = stats.classes(r, task)
        for _, p in P[P.task == task].iterrows():
            label = ", ".join("%s = %s" % (k, stats_fmt(p[k])) for k in split + comp)
            rows.append({"task": task, "group": label or "all", "regime": "ρ < 1" if p.rho < 1 else "ρ ≥ 1" if p.rho >= 1 else "ρ unknown",
                         "verdict": p.verdict})
    df = pd.DataFrame(rows)
    return df.groupby(["task", "group", "regime", "verdict"], sort=False).size().unstack(fill_value=0)


def md_table(df):
    cols = [c for c in df.columns if not c.startswith("_")]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(row[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def header_lines(r):
    out = []
    for fm in r.files:
        out.append("%s: isweep %s (git %s), started %s, ended %s, %s rank(s), ΔN %s (%s)"
                   % (fm["path"], fm.get("isweep_version", "?"), fm.get("git_commit", "?"), fm.get("start_time", "?"),
                      fm.get("end_time") or "(running or killed)", fm.get("mpi_size", "?"),
                      ",".join(map(str, fm["delta_n"])), fm["delta_n_from"]))
    for task in r.tasks:
        c = r.configs[r.configs.task == task].status.value_counts()
        out.append("%s: %d configs: %s" % (task, c.sum(), ", ".join("%d %s" % (c.get(s, 0), s) for s in
                                                                     ("ok", "pending", "running", "diverged", "failed"))))
    out += r.notes
    return out


def summary_md(r, P):
    lines = ["# isweep report", ""]
    lines += ["- " + x for x in header_lines(r)]
    lines += ["", stats.VERDICT_RULE, "",
              "D_test/L(ΔN): (L_test(N+ΔN) − L_test(N)) / L_test(N) in %, mean ± sd over ok seeds [± half-width of "
              "the 95 % CI]; negative = more iterations help. ⚠: a row's validity flags say it is unreliable "
              "(flags column).", ""]
    for task in r.tasks:
        lines += ["## %s" % task, "", md_table(point_table(r, P, task)), ""]
    lines += ["## Verdict counts", "", md_table(verdict_counts(r, P).reset_index()), ""]
    return "\n".join(lines)


def stdout_tables(r, P):
    out = []
    for task in r.tasks:
        df = point_table(r, P, task).drop(columns=["flags", "_flag"])
        out.append("\n%s\n%s" % (task, df.to_string(index=False)))
    return "\n".join(out) + "\n"


def write_report(r, out_dir, quiet=False):
    """Write every output file of the report into out_dir; return the list of
    file names written."""
    P = stats.points(r)
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def path(name):
        written.append(name)
        return os.path.join(out_dir, name)

    r.configs.to_csv(path("configs.csv"), index=False)
    r.curves.to_csv(path("curves.csv"), index=False)
    P.to_csv(path("points.csv"), index=False)
    with open(path("summary.md"), "w") as f:
        f.write(summary_md(r, P))
    parts = []
    for stem, title, fig, data in figures.iter_figures(r, P):
        fig.savefig(path(stem + ".png"), dpi=150, bbox_inches="tight")
        fig.savefig(path(stem + ".svg"), bbox_inches="tight")
        figures.plt.close(fig)
        parts.append(("png", os.path.join(out_dir, stem + ".png"), "%s — %s.png / %s.svg" % (title, stem, stem)))
    sections = [("Verdict rule", [("p", stats.VERDICT_RULE)])]
    for task in r.tasks:
        sections.append(("%s: per grid point" % task, [("html", html.table_html(point_table(r, P, task), "_flag"))]))
    sections.append(("Verdict counts", [("html", html.table_html(verdict_counts(r, P).reset_index()))]))
    sections.append(("Figures", parts))
    with open(path("index.html"), "w") as f:
        f.write(html.page("isweep report: " + ", ".join(fm["source"] for fm in r.files), header_lines(r), sections))
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description="isweep results files -> tables, figures, HTML report")
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("report", help="report one or several results files")
    rp.add_argument("files", nargs="+", metavar="FILE")
    rp.add_argument("-o", dest="out", metavar="DIR", help="report folder (without it: tables on stdout only)")
    rp.add_argument("--quiet", action="store_true", help="no tables on stdout")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        r = load(args.files)
        P = stats.points(r)
        if not args.quiet:
            sys.stdout.write(stdout_tables(r, P))
        for n in r.notes:
            print("isweep: note: %s" % n, file=sys.stderr)
        if args.out:
            write_report(r, args.out)
            print("isweep: report written to %s/ (index.html, summary.md, configs.csv, curves.csv, points.csv, "
                  "fig*.png/svg)" % args.out, file=sys.stderr)
    except IsweepFileError as e:
        print("isweep: error: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("isweep: error: %s: %s (choose a folder you can write)" % (getattr(e, "filename", "") or args.out,
                                                                         e.strerror or e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
