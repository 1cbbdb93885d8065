#!/usr/bin/python3
"""Tests of `isweep report` (run by ctest through Debian's python3 with h5py, pandas, scipy).

  test_report.py finished   a small finished sweep: tables (stdout == summary.md), CSV row
                            counts, every statistic and verdict recomputed here with numpy and
                            scipy, figures are PNGs, mpirun -np 2 prints once, a failing gnuplot
                            is a warning, --set sweep.delta_n overrides the spec
  test_report.py families   deq (grad axis, accuracy, residual) and maml: their figures and extras
  test_report.py partial    pending and running rows (as a killed sweep leaves them): done/pending
                            counts, exit 0, CSV still configs x len(test_iters) rows
  test_report.py bad        foreign HDF5, text file, wrong schema_version, deleted datasets,
                            missing file, bad --set: exit 2 with a one-line error
  test_report.py python     the README's 3-line h5py + pandas load (analysis/load_example.py)

Environment: ISW_EXE (isweep binary), ISW_SOURCE_DIR (source tree).  Each case makes its own
sweep in a temporary folder, prints what it measured and exits non-zero on failure.
"""
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from scipy import stats

EXE = os.environ.get("ISW_EXE", "isweep")
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = os.path.join(SRC, "tests", "specs")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL: " + msg)
    return cond


def run(cmd, env=None, cwd=None):
    return subprocess.run(cmd, env=env or ENV, capture_output=True, text=True, cwd=cwd)


def sweep(tmp, spec, name):
    path = os.path.join(tmp, name)
    p = run(["mpirun", "-np", "2", "--oversubscribe", EXE, "run", os.path.join(SPECS, spec), "-o", path,
             "--quiet"])
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit("FAIL: the sweep %s did not run (exit %d)" % (spec, p.returncode))
    return path


def report(h5, out=None, *extra, env=None):
    cmd = [EXE, "report", h5] + (["-o", out] if out else []) + list(extra)
    return run(cmd, env=env)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def md_table(text, title):
    """Rows (lists of cells) of the Markdown table following the line starting with `title`."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith(title)), None)
    if start is None:
        return None, None
    rows = []
    i = start + 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
        i += 1
    return rows[0], rows[2:]


def png_ok(path):
    return os.path.isfile(path) and os.path.getsize(path) > 1000 and open(path, "rb").read(8) == PNG_MAGIC


def expected_points(h5, group, delta_n):
    """Independent recomputation, per (width, N), of what points.csv must hold."""
    out = {}
    with h5py.File(h5, "r") as f:
        g = f[group]
        iters = list(g["test_iters"][()])
        W, N, st = g["width"][()], g["train_iters"][()], g["status"][()]
        tr, te = g["train_loss"][()], g["test_loss"][()]
        for w, n in sorted(set(zip(W.tolist(), N.tolist()))):
            rows = [i for i in range(len(W)) if W[i] == w and N[i] == n and st[i] == 2]
            jN = iters.index(n)
            per_dn = {}
            for dn in delta_n:
                if n + dn not in iters:
                    continue
                j = iters.index(n + dn)
                d_te = np.array([te[i, j] - te[i, jN] for i in rows])
                r_te = d_te / np.array([te[i, jN] for i in rows])
                d_tr = np.array([tr[i, j] - tr[i, jN] for i in rows])
                k = len(r_te)
                t = r_te.mean() / (r_te.std(ddof=1) / math.sqrt(k))
                crit = stats.t.ppf(0.975, k - 1)
                verdict = ("more iterations help" if t < -crit else "hurt" if t > crit
                           else "no significant change")
                per_dn[dn] = dict(D_test=d_te.mean(), D_test_sd=d_te.std(ddof=1), D_test_rel=r_te.mean(),
                                  D_train=d_tr.mean(), t=t, t_crit=crit, verdict=verdict)
            best = int(np.argmin(te[rows].mean(axis=0)))
            out[(w, n)] = dict(k=len(rows), per_dn=per_dn, best_n=iters[best],
                               L_test_N=te[rows, jN].mean(), L_train_N=tr[rows, jN].mean())
    return out


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


# ---- finished --------------------------------------------------------------------------------

def case_finished(tmp):
    h5 = sweep(tmp, "report-small.ini", "small.h5")
    out = os.path.join(tmp, "rep")
    p = report(h5, out)
    check(p.returncode == 0, "report of a finished sweep exits 0 (got %d: %s)" % (p.returncode, p.stderr))
    md = open(os.path.join(out, "summary.md")).read()
    check(p.stdout == md, "the tables on stdout are summary.md")
    for want in ["# isweep report", "24 of 24 configs done", "Verdict rule", "Student's t_{0.975, k-1}",
                 "Table 1 (linear-meta)", "Table 2 (linear-meta)", "Affine-case check (linear-meta"]:
        check(want in md, "summary.md contains %r" % want)
    with h5py.File(h5, "r") as f:
        C, T = f["linear-meta/status"].shape[0], f["linear-meta/test_iters"].shape[0]
        curve_names = [k for k, d in f["linear-meta"].items() if d.ndim == 2]
    # CSV in long form
    rows = read_csv(os.path.join(out, "curves.csv"))
    check(len(rows) == C * T, "curves.csv has configs x len(test_iters) = %d rows (got %d)" % (C * T, len(rows)))
    for col in ["task", "config_id", "width", "train_iters", "seed", "tasks", "status", "rho", "n"] + curve_names:
        check(col in rows[0], "curves.csv has column %s" % col)
    with h5py.File(h5, "r") as f:
        te = f["linear-meta/test_loss"][()]
        ids = f["linear-meta/config_id"][()]
    r = rows[5 * T + 7]
    check(int(r["config_id"], 16) == int(ids[5]) and close(float(r["test_loss"]), te[5, 7], 1e-14),
          "curves.csv row (config 5, n index 7) holds the file's test_loss")
    # tables and points.csv against an independent recomputation
    exp = expected_points(h5, "linear-meta", [1, 3, 20])
    head, body = md_table(md, "Table 1 (linear-meta)")
    check(body is not None and len(body) == len(exp), "table 1 has one row per grid point (%d)" % len(exp))
    head2, body2 = md_table(md, "Table 2 (linear-meta)")
    check(body2 is not None and len(body2) == 2 * len(exp), "table 2 has a row per grid point and ΔN in 1,3")
    check(body2 is not None and all(r[2] in ("+1", "+3") for r in body2), "ΔN = 20 beyond test_iters is skipped")
    pts = read_csv(os.path.join(out, "points.csv"))
    check(len(pts) == 2 * len(exp), "points.csv has %d rows (grid points x available ΔN), got %d" %
          (2 * len(exp), len(pts)))
    n_checked = 0
    for r in pts:
        e = exp[(int(r["width"]), int(r["train_iters"]))]
        d = e["per_dn"][int(r["delta_n"])]
        ok = (int(r["seeds_ok"]) == e["k"] and close(float(r["D_test"]), d["D_test"]) and
              close(float(r["D_test_sd"]), d["D_test_sd"], 1e-7) and close(float(r["D_test_rel"]), d["D_test_rel"]) and
              close(float(r["D_train"]), d["D_train"], 1e-7) and close(float(r["t"]), d["t"], 1e-7) and
              abs(float(r["t_crit"]) - d["t_crit"]) < 1e-3 and int(r["best_n"]) == e["best_n"] and
              close(float(r["L_test_N"]), e["L_test_N"]))
        if abs(abs(d["t"]) - d["t_crit"]) > 1e-3:  # away from the threshold: the verdict must agree
            ok = ok and r["verdict_delta_n"] == d["verdict"]
            if int(r["delta_n"]) == 3:
                ok = ok and r["verdict"] == d["verdict"]
        check(ok, "points.csv row %s matches the recomputation %s" % (dict(r), d))
        n_checked += ok
    print("finished: %d configs x %d n; %d points.csv rows recomputed and equal" % (C, T, n_checked))
    verdicts = sorted({r["verdict"] for r in pts})
    print("finished: verdicts seen: %s" % verdicts)
    # figures
    for fig in ["fig1_linear-meta", "fig2_linear-meta"]:
        check(png_ok(os.path.join(out, fig + ".png")), "%s.png is a non-empty PNG" % fig)
        check(os.path.getsize(os.path.join(out, fig + ".gp")) > 0 and os.path.getsize(os.path.join(out, fig + ".dat")) > 0,
              "%s.gp and %s.dat are written beside it" % (fig, fig))
    gp = open(os.path.join(out, "fig2_linear-meta.gp")).read()
    check("bound" in gp and "set logscale x" in gp, "fig2 of linear-meta has the bound row and a log ρ axis")
    log = os.path.join(out, "gnuplot.log")
    check(not os.path.exists(log) or "error" not in open(log).read().lower(), "gnuplot reported no error")
    # rank 0 only under mpirun
    p2 = run(["mpirun", "-np", "2", "--oversubscribe", EXE, "report", h5])
    check(p2.returncode == 0 and p2.stdout.count("# isweep report") == 1,
          "under mpirun -np 2 the report exits 0 and prints once (exit %d, %d copies)" %
          (p2.returncode, p2.stdout.count("# isweep report")))
    # a ΔN override
    p3 = report(h5, None, "--set", "sweep.delta_n=2")
    _, b3 = md_table(p3.stdout, "Table 2 (linear-meta)")
    check(p3.returncode == 0 and b3 and all(r[2] == "+2" for r in b3) and "from --set sweep.delta_n=2" in p3.stdout,
          "--set sweep.delta_n=2 reports ΔN = 2 only")
    # gnuplot failing: a warning, the scripts stay, exit 0
    fake = os.path.join(tmp, "fakebin")
    os.makedirs(fake)
    with open(os.path.join(fake, "gnuplot"), "w") as f:
        f.write("#!/bin/sh\nexit 1\n")
    os.chmod(os.path.join(fake, "gnuplot"), 0o755)
    env = dict(ENV, PATH=fake + os.pathsep + ENV.get("PATH", ""))
    out4 = os.path.join(tmp, "rep4")
    p4 = report(h5, out4, env=env)
    png = os.path.join(out4, "fig1_linear-meta.png")
    check(p4.returncode == 0 and "warning: gnuplot failed" in p4.stderr and
          os.path.exists(os.path.join(out4, "fig1_linear-meta.gp")) and not png_ok(png),
          "a failing gnuplot is a warning (exit %d): %s" % (p4.returncode, p4.stderr.strip()))


# ---- families --------------------------------------------------------------------------------

def case_families(tmp):
    h5 = sweep(tmp, "report-families.ini", "fam.h5")
    out = os.path.join(tmp, "rep")
    p = report(h5, out)
    check(p.returncode == 0, "report of deq + maml exits 0 (%s)" % p.stderr.strip())
    with h5py.File(h5, "r") as f:
        total = sum(f[g]["status"].shape[0] * f[g]["test_iters"].shape[0] for g in f)
        has_grad = "grad" in f["deq"]
        has_res = "residual" in f["deq"]
        acc = "test_accuracy" in f["deq"] and np.isfinite(f["deq/test_accuracy"][()]).any()
    rows = read_csv(os.path.join(out, "curves.csv"))
    check(len(rows) == total, "curves.csv holds both groups: %d rows (got %d)" % (total, len(rows)))
    figs = sorted(x for x in os.listdir(out) if x.endswith(".png"))
    print("families: figures %s" % figs)
    for fig in figs:
        check(png_ok(os.path.join(out, fig)), "%s is a non-empty PNG" % fig)
    check("fig1_maml.png" in figs and "fig2_maml.png" in figs and "fig2_deq.png" in figs, "maml and deq figures exist")
    if has_grad:
        check("fig3_deq.png" in figs, "deq has a grad column: fig3_deq.png (unrolled vs implicit) exists")
        check("fig1_deq_grad-unrolled.png" in figs and "fig1_deq_grad-implicit.png" in figs,
              "fig1 of deq is split by grad")
    if has_res:
        gp = open(os.path.join(out, "fig1_deq_grad-unrolled.gp" if has_grad else "fig1_deq.gp")).read()
        check("axes x1y2" in gp and "set logscale y2" in gp, "deq's residual curve is on a second, log axis")
    if acc:
        head, _ = md_table(p.stdout, "Table 1 (deq)")
        check(head is not None and "acc_test(N)" in head, "deq's table 1 shows the test accuracy")
    _, b = md_table(p.stdout, "Table 1 (maml)")
    check(b is not None and len(b) == 1, "maml's table 1 has its one grid point")


# ---- partial ---------------------------------------------------------------------------------

def make_partial(src, dst, pending, running):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        f.attrs.modify("end_time", np.bytes_(b""))
        g = f["linear-meta"]
        st = g["status"][()]
        st[pending] = 0
        st[running] = 1
        g["status"][...] = st
        rows = sorted(set(pending) | set(running))
        for k, d in g.items():
            if d.ndim == 2:
                v = d[()]
                v[rows, :] = np.nan
                d[...] = v
        for k in ["rho"]:
            v = g[k][()]
            v[rows] = np.nan
            g[k][...] = v


def case_partial(tmp):
    h5 = sweep(tmp, "report-small.ini", "small.h5")
    part = os.path.join(tmp, "part.h5")
    # every seed of the first widths pending, some rows running (a killed sweep)
    make_partial(h5, part, pending=list(range(0, 10)), running=[10, 11])
    out = os.path.join(tmp, "rep")
    p = report(part, out)
    check(p.returncode == 0, "a partial file reports with exit 0 (%d: %s)" % (p.returncode, p.stderr.strip()))
    check("12 of 24 configs done" in p.stdout and "12 not done (10 pending, 2 running or interrupted)" in p.stdout,
          "the report states done and pending counts")
    check("partial results" in p.stdout and "not ended" in p.stdout, "the report says the results are partial")
    check("pending (no ok seed)" in p.stdout, "grid points without an ok seed are marked pending")
    rows = read_csv(os.path.join(out, "curves.csv"))
    check(len(rows) == 24 * 11, "curves.csv keeps every config x n row (%d)" % len(rows))
    check(sum(r["status"] == "pending" for r in rows) == 10 * 11 and
          sum(r["status"] == "running" for r in rows) == 2 * 11, "curves.csv carries the statuses")
    check(png_ok(os.path.join(out, "fig1_linear-meta.png")), "figures are drawn from the finished rows")
    # a model whose test loss blows up past N, and a diverged row
    div = os.path.join(tmp, "div.h5")
    shutil.copy(h5, div)
    with h5py.File(div, "r+") as f:
        g = f["linear-meta"]
        W, N = g["width"][()], g["train_iters"][()]
        rows = [i for i in range(len(W)) if W[i] == 8 and N[i] == 2]
        te = g["test_loss"][()]
        te[rows, 3:] = np.inf
        g["test_loss"][...] = te
        st = g["status"][()]
        st[[i for i in range(len(W)) if W[i] == 64 and N[i] == 4][0]] = 3
        g["status"][...] = st
    p = report(div)
    _, b = md_table(p.stdout, "Table 1 (linear-meta)")
    row = next((r for r in b or [] if r[0] == "8" and r[1] == "2"), None)
    check(p.returncode == 0 and row is not None and row[-1].startswith("hurt (diverges)"),
          "seeds whose loss is infinite at N+ΔN make the verdict 'hurt (diverges)' (%s)" % (row and row[-1]))
    row = next((r for r in b or [] if r[0] == "64" and r[1] == "4"), None)
    check(row is not None and row[3] == "2/3" and
          "24 of 24 configs done (23 ok, 1 diverged, 0 failed)" in p.stdout, "a diverged row is counted, not used")
    # nothing done at all
    none = os.path.join(tmp, "none.h5")
    make_partial(h5, none, pending=list(range(24)), running=[])
    p = report(none, os.path.join(tmp, "rep0"))
    check(p.returncode == 0 and "0 of 24 configs done" in p.stdout, "a file with no finished row reports, exit 0")
    print("partial: %s" % next(l for l in p.stdout.splitlines() if l.startswith("- progress")))


# ---- bad inputs ------------------------------------------------------------------------------

def case_bad(tmp):
    h5 = sweep(tmp, "report-small.ini", "small.h5")
    cases = {}
    foreign = os.path.join(tmp, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
        f.attrs["title"] = "not isweep"
    cases["foreign HDF5 file"] = foreign
    text = os.path.join(tmp, "text.h5")
    open(text, "w").write("not an HDF5 file\n")
    cases["text file"] = text
    schema = os.path.join(tmp, "schema.h5")
    shutil.copy(h5, schema)
    with h5py.File(schema, "r+") as f:
        f.attrs.modify("schema_version", 99)
    cases["wrong schema_version"] = schema
    for ds in ["test_loss", "status", "tasks"]:
        path = os.path.join(tmp, "no_%s.h5" % ds)
        shutil.copy(h5, path)
        with h5py.File(path, "r+") as f:
            del f["linear-meta/" + ds]
        cases["deleted dataset linear-meta/" + ds] = path
    cases["missing file"] = os.path.join(tmp, "absent.h5")
    for what, path in cases.items():
        p = report(path, os.path.join(tmp, "rep_bad"))
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("isweep: error: ") and
              os.path.basename(path) in lines[0],
              "%s: exit 2 with a one-line error naming the file (exit %d: %r)" % (what, p.returncode, p.stderr))
        print("bad: %-36s -> exit %d: %s" % (what, p.returncode, lines[0] if lines else ""))
    p = report(h5, None, "--set", "linear-meta.tasks=3")
    check(p.returncode == 2 and "only takes --set sweep.delta_n" in p.stderr, "a --set other than delta_n: exit 2")
    p = report(h5, None, "--set", "sweep.delta_n=0")
    check(p.returncode == 2, "--set sweep.delta_n=0: exit 2 (%s)" % p.stderr.strip())


# ---- python ----------------------------------------------------------------------------------

def case_python(tmp):
    h5 = sweep(tmp, "report-small.ini", "small.h5")
    shutil.copy(h5, os.path.join(tmp, "results.h5"))
    script = os.path.join(SRC, "analysis", "load_example.py")
    code = [l for l in open(script).read().splitlines() if l.strip() and not l.lstrip().startswith("#")]
    check(len(code) == 3, "analysis/load_example.py is three lines of code (got %d)" % len(code))
    p = run(["/usr/bin/python3", script], cwd=tmp)
    check(p.returncode == 0, "the README snippet runs with /usr/bin/python3 (%s)" % p.stderr.strip())
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        ns = {}
        exec(compile(open(script).read(), script, "exec"), ns)
    finally:
        os.chdir(cwd)
    runs = ns["runs"]
    with h5py.File(h5, "r") as f:
        C = f["linear-meta/status"].shape[0]
        status = f["linear-meta/status"][()]
    check(runs.shape[0] == C, "the DataFrame has one row per config (%d)" % runs.shape[0])
    for col in ["config_id", "width", "train_iters", "seed", "status", "rho", "tasks", "message", "host"]:
        check(col in runs.columns, "the DataFrame has column %s" % col)
    check((runs["status"].to_numpy() == status).all() and runs["host"].map(type).eq(str).all(),
          "statuses are the file's codes and strings are decoded")
    print("python: DataFrame %d x %d" % runs.shape)


CASES = {"finished": case_finished, "families": case_families, "partial": case_partial, "bad": case_bad,
         "python": case_python}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: test_report.py %s" % "|".join(CASES))
    with tempfile.TemporaryDirectory(prefix="isw_report_") as tmp:
        CASES[sys.argv[1]](tmp)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("ok")
