#!/usr/bin/python3
"""Tests of analysis/isweep_analysis and `isweep report` (ctest, Debian's /usr/bin/python3).

  test_analysis.py csv       three families (> 32 parameter columns): configs.csv and
                             curves.csv rows have as many cells as the header, their values
                             equal the HDF5 file's, config_id is one representation everywhere
  test_analysis.py mixed     a deq sweep mixing teacher (regression) and digits
                             (classification): one figure per data set, every panel's plotted
                             loss values finite, accuracy only for digits; files PNG + SVG;
                             index.html self-contained
  test_analysis.py verdict   the rule on hand-made cases: a 3-seed consistent collapse (the
                             issue's 22x/26x/50x) is "hurt", one seed "undecided (1 seed)",
                             a small noisy change "no significant change"
  test_analysis.py summary   the C end-of-run summary (isweep run's stdout) and the Python
                             report give the same numbers (at the summary's printed
                             precision) and verdicts on the same file
  test_analysis.py flags     validity flags (deq bwd_unconverged_steps, limit_converged,
                             maml limit_reached_fraction) flag rows in tables and figures
  test_analysis.py partial   pending/running rows (a killed sweep) are counted, exit 0;
                             under mpirun -np 2 one rank reports
  test_analysis.py pending   a file mostly pending (--only): configs.csv lists every config
                             with its status, curves.csv only the rows that ran; the C
                             summary lists the grid points with a row run (pending rows
                             counted in their seeds) and one line for the points not run
  test_analysis.py bad       missing, text, foreign HDF5, other schema version, deleted
                             dataset: one line on stderr, exit 2
  test_analysis.py merge     a sweep split in two files loads as one; a config in both files
                             is kept once (the ok row, then the newer one) and reported
  test_analysis.py legacy    a file without role / delta_n attributes (older isweep): ΔN
                             from the spec text, loss curves from the task contract
  test_analysis.py xarray    to_xarray() dims (config, n), decoded strings and status names;
                             the README's xarray one-liner (engine h5netcdf)
  test_analysis.py example   the README's three lines (analysis/load_example.py)

Environment: ISW_EXE (isweep), ISW_SOURCE_DIR.  Each case runs its own tiny sweep on 2
ranks in a temporary folder and exits non-zero on failure.
"""
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

EXE = os.environ.get("ISW_EXE", "isweep")
SRC = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "analysis"))
SPECS = os.path.join(SRC, "tests", "specs")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL: " + msg)
    return cond


def run(cmd):
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True)


def sweep(tmp, spec, name, quiet=True, extra=()):
    path = os.path.join(tmp, name)
    p = run(["mpirun", "-np", "2", "--oversubscribe", EXE, "run", os.path.join(SPECS, spec), "-o", path]
            + (["--quiet"] if quiet else []) + list(extra))
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit("FAIL: the sweep %s did not run (exit %d)" % (spec, p.returncode))
    return path, p.stdout


def report(*args):
    return run([EXE, "report"] + list(args))


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def case_csv(tmp):
    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    out = os.path.join(tmp, "rep")
    p = report(h5, "-o", out, "--quiet")
    check(p.returncode == 0, "report exits 0 (got %d: %s)" % (p.returncode, p.stderr.strip()))
    f = h5py.File(h5, "r")
    for name in ("configs.csv", "curves.csv", "points.csv"):
        path = os.path.join(out, name)
        if not check(os.path.exists(path), "%s is written" % name):
            continue
        head, rows = read_csv(path)
        bad = [i for i, r in enumerate(rows) if len(r) != len(head)]
        check(not bad, "%s: every row has as many cells as the header (%d); rows %s differ"
              % (name, len(head), bad[:5]))
        print("%s: %d columns, %d rows, %d rows with another cell count" % (name, len(head), len(rows), len(bad)))
    head, rows = read_csv(os.path.join(out, "configs.csv"))
    col = {h: i for i, h in enumerate(head)}
    n_params = sum(1 for g in f.values() for d in g.values() if d.attrs.get("role", b"") == b"parameter")
    check(n_params > 32, "the test sweep has more than 32 parameter columns in all (%d)" % n_params)
    checked = 0
    for r in rows:
        g = f[r[col["task"]]]
        ids = ["%016x" % x for x in g["config_id"][()]]
        check(re.fullmatch(r"[0-9a-f]{16}", r[col["config_id"]]) is not None, "config_id is 16 hex digits")
        i = ids.index(r[col["config_id"]])
        for name, d in g.items():
            if d.ndim != 1 or name in ("config_id",) or name not in col:
                continue
            v, cell = d[i], r[col[name]]
            if name == "status":
                check(cell == ["pending", "running", "ok", "diverged", "failed"][v], "status is its name")
            elif d.dtype.kind == "S":
                check(cell == v.decode(), "%s/%s row %d: %r == %r" % (g.name, name, i, cell, v))
            elif np.isfinite(float(v)):
                check(cell != "" and abs(float(cell) - float(v)) <= 1e-12 * max(1, abs(float(v))),
                      "%s/%s row %d: CSV %s == HDF5 %r" % (g.name, name, i, cell, v))
            else:
                check(cell in ("", "nan", "NaN"), "%s/%s row %d: NaN stays empty (%r)" % (g.name, name, i, cell))
            checked += 1
    print("configs.csv: %d cells equal to the file's" % checked)
    head, rows = read_csv(os.path.join(out, "curves.csv"))
    col = {h: i for i, h in enumerate(head)}
    checked = 0
    for r in rows[::7]:
        g = f[r[col["task"]]]
        i = ["%016x" % x for x in g["config_id"][()]].index(r[col["config_id"]])
        j = list(g["test_iters"][()]).index(int(r[col["n"]]))
        for name, d in g.items():
            if d.ndim == 2:
                v = d[i, j]
                cell = r[col[name]]
                ok = (cell == "" and not np.isfinite(v)) or (cell != "" and abs(float(cell) - v) <= 1e-12 * max(1, abs(v)))
                check(ok, "curves.csv %s/%s (%d, n=%d): %s == %r" % (g.name, name, i, j, cell, v))
                checked += 1
    print("curves.csv: %d sampled cells equal to the file's" % checked)
    ids_points = read_csv(os.path.join(out, "points.csv"))[0]
    check("config_id" not in ids_points, "points.csv is per grid point (no config_id column)")


def case_mixed(tmp):
    from isweep_analysis import figures, load, stats

    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    r = load(h5)
    P = stats.points(r)
    figs = figures.all_figures(r, P)
    stems = [s for s, _, _, _ in figs]
    print("figures:", ", ".join(stems))
    deq1 = [(s, d) for s, _, _, d in figs if s.startswith("fig1_deq")]
    check(len(deq1) == 4, "one deq loss figure per data set and gradient mode (4), got %s" % [s for s, _ in deq1])
    for s, d in deq1:
        check(("dataset-teacher" in s) != ("dataset-digits" in s), "%s: one data set per figure" % s)
        for (w, N), sub in d.groupby(["width", "N"]):
            check(np.isfinite(sub["mean"]).all(), "%s: width %s N %s: every plotted loss gap is finite" % (s, w, N))
        check(np.isfinite(d.res_mean).any(), "%s: the residual curve is plotted" % s)
    acc = [s for s in stems if s.startswith("fig1acc_deq")]
    check(acc and all("dataset-digits" in s for s in acc), "accuracy figures only for digits: %s" % acc)
    check(any(s.startswith("fig3_deq_grad") for s in stems), "an unrolled-vs-implicit figure")
    check(any(s.startswith("fig2_linear-meta") for s in stems), "a D-vs-rho figure for linear-meta")
    lm = [d for s, _, _, d in figs if s.startswith("fig2_linear-meta")][0]
    check((lm.split == "bound").any(), "linear-meta's fig2 draws the affine bound")
    bt = stats.bound_table(r, "linear-meta")
    check(len(bt) and np.all(bt.bound <= bt.D + 1e-9 * np.maximum(1, np.abs(bt.D))),
          "the affine bound is below the measured D_train")
    check(np.allclose(bt.identity, bt.D, rtol=1e-6, atol=1e-12), "D equals ½‖Δ‖² + ⟨P⊥Δ, r_N⟩ (per T q)")
    for _, _, fig, _ in figs:
        figures.plt.close(fig)
    most = 0
    for _, _, fig, _ in figures.iter_figures(r, P):
        most = max(most, len(figures.plt.get_fignums()))
        figures.plt.close(fig)
    check(most == 1, "the report holds one figure open at a time (at most %d were)" % most)
    out = os.path.join(tmp, "rep")
    p = report(h5, "-o", out, "--quiet")
    check(p.returncode == 0, "report exits 0")
    for s in stems:
        for ext, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
            path = os.path.join(out, s + ext)
            check(os.path.exists(path) and open(path, "rb").read(5).startswith(magic[:4]), "%s%s written" % (s, ext))
    page = open(os.path.join(out, "index.html")).read()
    check(page.count("data:image/png;base64,") == len(stems), "index.html embeds every figure")
    check(not re.search(r'src="(?!data:)', page), "index.html refers to no external file")
    check(os.path.exists(os.path.join(out, "summary.md")), "summary.md written")


def case_compare(tmp):
    from isweep_analysis import figures, load, stats

    h5, _ = sweep(tmp, "analysis-compare.ini", "compare.h5")
    r = load(h5)
    P = stats.points(r)
    fig3 = {}
    for stem, _, fig, d in figures.iter_figures(r, P):
        if stem.startswith("fig3_"):
            fig3[stem] = d
        figures.plt.close(fig)
    print("comparison figures:", ", ".join(sorted(fig3)))
    for param, other, values in (("grad", "test_solver", ("picard", "broyden")),
                                 ("test_solver", "grad", ("unrolled", "implicit"))):
        for v in values:
            stem = "fig3_deq_%s_%s-%s" % (param, other, v)
            if check(stem in fig3, "%s is drawn (one %s comparison per %s)" % (stem, param, other)):
                d = fig3[stem]
                dup = d.duplicated(["N", param, "width"]).sum()
                check(len(d) and dup == 0, "%s: one point per (N, %s, width), %d duplicated" % (stem, param, dup))
    check(len(fig3) == 4, "four comparison figures (got %d)" % len(fig3))


def case_diverged(tmp):
    from isweep_analysis import load, stats

    h5, stdout = sweep(tmp, "analysis-diverged.ini", "div.h5", quiet=False)
    r = load(h5)
    P = stats.points(r)
    bad = P[P.lr.astype(float) == 10]
    check(len(bad) == 1 and bad.n_diverged.iloc[0] == 2, "the lr = 10 point has two diverged seeds")
    want = "no ok seed (2 diverged)"
    check(len(bad) == 1 and bad.verdict.iloc[0] == want, "Python verdict %r == %r" % (list(bad.verdict), want))
    line = [x for x in stdout.splitlines() if x.split()[2:3] == ["10"]]
    check(len(line) == 1 and line[0].endswith(want), "C summary line ends with %r: %s" % (want, line))
    print("lr = 10:", list(bad.verdict), line)


def case_verdict(tmp):
    from isweep_analysis import stats

    # the digits example: test loss x22, x26, x50 over 3 seeds (relative +21, +25, +49)
    v, t, tc = stats.verdict([21.0, 25.0, 49.0])
    print("22x/26x/50x collapse: %s (t = %.2f, t_crit = %.2f)" % (v, t, tc))
    check(v == "hurt", "a 3-seed consistent collapse is 'hurt' (got %r)" % v)
    check(stats.verdict([-0.5, -0.6, -0.3])[0] == "more iterations help", "a consistent large gain is 'help'")
    check(stats.verdict([0.2])[0] == "undecided (1 seed)", "one seed is 'undecided (1 seed)'")
    check(stats.verdict([0.001, -0.002, 0.0015])[0] == "no significant change", "a small change is n.s.")
    check(stats.verdict([0.3, -0.2, 0.25])[0] == "undecided (3 seeds)", "large, inconsistent changes: undecided")
    check(stats.verdict([0.2, 0.3, np.inf], n_div=2)[0] == "hurt (diverges)", "diverging seeds")
    check(stats.verdict([0.02, 0.4])[0] == "undecided (2 seeds)", "two seeds, no sign test")
    check(stats.verdict([1e-12, -1e-12, 0])[0] == "no significant change", "rounding is never significant")


def parse_c_summary(text):
    """{(task, key cells...): (rho, L_train, L_test, [D cells], verdict, key names)} from the
    table isweep run prints."""
    out, task, head = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^(\S+): \d+ configs:", line)
        if m:
            task, head = m.group(1), None
            continue
        if task and line.strip().startswith("width"):
            head = line.split()
            continue
        if not (task and head and line.strip()):
            continue
        toks = line.split()
        n_keys = head.index("rho")
        n_dn = sum(1 for h in head if h.startswith("D_train("))
        keys = tuple(toks[:n_keys])
        rho, _, ltr, lte = toks[n_keys:n_keys + 4]
        rest = toks[n_keys + 4:]
        cells = []
        while len(cells) < 2 * n_dn:
            t = rest.pop(0)
            cells.append(t + " " + rest.pop(0) if t == "abs" else t)
        out[(task,) + keys] = (float(rho), float(ltr), float(lte), cells, " ".join(rest), head[:n_keys])
    return out


def case_summary(tmp):
    from isweep_analysis import load, stats

    h5, stdout = sweep(tmp, "analysis-mixed.ini", "mixed.h5", quiet=False)
    c = parse_c_summary(stdout)
    r = load(h5)
    P = stats.points(r)
    check(len(c) == len(P), "the C summary has one row per grid point (%d vs %d)" % (len(c), len(P)))
    families = set(h5py.File(h5, "r").keys())
    check(set(k[0] for k in c) == families, "the C summary has a table for every family in the file: %s of %s"
          % (sorted(set(k[0] for k in c)), sorted(families)))
    compared = 0
    for _, p in P.iterrows():
        key = None
        for k, v in c.items():
            if k[0] != p.task:
                continue
            names = v[5]
            if all(str(p[n]) == k[1 + i] or (str(p[n]).replace(".0", "") == k[1 + i]) for i, n in enumerate(names)):
                key = k
        if not check(key is not None, "%s point %s in the C summary" % (p.task, dict(width=p.width, N=p.N))):
            continue
        rho, ltr, lte, dcells, verdict, _ = c[key]
        # tolerance: the C table prints 4 significant digits (rho) and 5 (L) and 0.1 % (D)
        check(abs(rho - p.rho) <= 5e-4 * abs(p.rho), "%s: rho %g == %g" % (key, rho, p.rho))
        check(abs(ltr - p.L_train_N_mean) <= 5e-5 * abs(p.L_train_N_mean), "%s: L_train %g == %g" % (key, ltr, p.L_train_N_mean))
        check(abs(lte - p.L_test_N_mean) <= 5e-5 * abs(p.L_test_N_mean), "%s: L_test %g == %g" % (key, lte, p.L_test_N_mean))
        for q, dn in enumerate(r.delta_n):
            for s, split in enumerate(("train", "test")):
                cell = dcells[2 * q + s]
                m = re.match(r"([+-][\d.]+)(?:±([\d.]+))?%", cell)
                if m:
                    mean = p["D_%s_rel_mean@%d" % (split, dn)] * 100
                    check(abs(float(m.group(1)) - mean) <= 0.051, "%s: D_%s(%d) %s == %.3f %%" % (key, split, dn, cell, mean))
                    if m.group(2):
                        sd = p["D_%s_rel_sd@%d" % (split, dn)] * 100
                        check(abs(float(m.group(2)) - sd) <= 0.051, "%s: sd %s == %.3f" % (key, cell, sd))
                elif cell.startswith("abs"):
                    mean = p["D_%s_abs_mean@%d" % (split, dn)]
                    check(abs(float(cell[4:]) - mean) <= 0.051 * abs(mean), "%s: abs D %s == %g" % (key, cell, mean))
                compared += 1
        want = stats.short(p.verdict) + (" !" if p.n_flagged else "")
        check(verdict == want, "%s: C verdict %r == Python %r" % (key, verdict, want))
    print("compared %d grid points, %d D cells, verdicts and flags" % (len(P), compared))


def case_flags(tmp):
    from isweep_analysis import load, stats

    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    f = h5py.File(h5, "r")
    r = load(h5)
    cf = r.configs
    deq = cf[cf.task == "deq"]
    bwd = f["deq/bwd_unconverged_steps"][()] / f["deq/steps"][()]
    want = np.isfinite(bwd) & (bwd > 0.1)
    ids = ["%016x" % x for x in f["deq/config_id"][()]]
    got = deq.set_index("config_id").loc[ids, "flagged"].values
    check(want.any(), "the test sweep has implicit rows whose backward hit its cap in > 10 %% of steps (%d)" % want.sum())
    check(np.array_equal(got, want), "flagged == bwd_unconverged_steps / steps > 0.1 (%d rows)" % want.sum())
    lim = f["deq/limit_converged"][()] < 1
    got = deq.set_index("config_id").loc[ids, "flagged_limit"].values
    check(np.array_equal(got, lim), "flagged_limit == limit_converged < 1 (%d rows)" % lim.sum())
    P = stats.points(r)
    pd_ = P[P.task == "deq"]
    check((pd_.n_flagged > 0).any() and pd_[pd_.n_flagged > 0].flag_reasons.str.contains("bwd_unconverged_steps").all(),
          "points with flagged rows name the flag")
    out = os.path.join(tmp, "rep")
    report(h5, "-o", out, "--quiet")
    md = open(os.path.join(out, "summary.md")).read()
    check("⚠" in md, "summary.md marks flagged rows")
    check('class="flag"' in open(os.path.join(out, "index.html")).read(), "index.html marks flagged rows")


def case_partial(tmp):
    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    with h5py.File(h5, "r+") as f:
        st = f["deq/status"]
        s = st[()]
        s[:5] = 0
        s[5:7] = 1
        st[...] = s
        for name, d in f["deq"].items():
            if d.dtype.kind == "f" and d.ndim == 2:
                v = d[()]
                v[:7] = np.nan
                d[...] = v
        f.attrs.modify("end_time", b"")
        stale = {n: d[()][:7] for n, d in f["deq"].items() if d.ndim == 1 and d.dtype.kind == "f"
                 and d.attrs.get("role", b"") not in (b"parameter", b"provenance")}
        prov = f["deq/start_time"][()][:7]
    # the scalars and timings of those rows still hold numbers (a file is not filled at
    # creation): a reader must show them as not written, going by the status alone
    from isweep_analysis import load
    r = load(h5)
    deq = r.configs[r.configs.task == "deq"].reset_index(drop=True)
    check(any(np.isfinite(v).any() for v in stale.values()), "the test leaves numbers in pending rows' cells")
    check(all(deq[n].iloc[:7].isna().all() for n in stale), "results of pending and running rows read as NaN")
    check(deq["start_time"].iloc[:5].isna().all() and np.array_equal(deq["start_time"].iloc[5:7].values, prov[5:7]),
          "start_time: NaN while pending, kept once running")
    out = os.path.join(tmp, "rep")
    p = report(h5, "-o", out)
    check(p.returncode == 0, "a partial file reports with exit 0 (%d: %s)" % (p.returncode, p.stderr.strip()))
    md = open(os.path.join(out, "summary.md")).read()
    check("deq: 24 configs: 17 ok, 5 pending, 2 running" in md, "summary.md counts pending and running rows")
    check("(running or killed)" in md, "summary.md says the file has no end time")
    p = run(["mpirun", "-np", "2", "--oversubscribe", EXE, "report", h5])
    check(p.returncode == 0 and p.stdout.count("\ndeq\n") == 1,
          "under mpirun -np 2 only rank 0 reports (deq table printed %d times)" % p.stdout.count("\ndeq\n"))


def case_pending(tmp):
    h5, stdout = sweep(tmp, "analysis-mixed.ini", "pending.h5", quiet=False,
                       extra=["--set", "sweep.tasks=linear-meta", "--only", "width=16,seed<=1"])
    with h5py.File(h5, "r") as f:
        status = f["linear-meta/status"][()]
        T = f["linear-meta/test_iters"].shape[0]
    ran = int((status != 0).sum())
    check(len(status) == 6 and ran == 2, "widths 16,64 x seeds 0:2, --only width 16 seeds 0,1: 2 of 6 rows ran (%s)"
          % list(status))
    out = os.path.join(tmp, "rep")
    p = report(h5, "-o", out, "--quiet")
    check(p.returncode == 0, "a mostly pending file reports with exit 0 (%d: %s)" % (p.returncode, p.stderr.strip()))
    head, rows = read_csv(os.path.join(out, "configs.csv"))
    st = [r[head.index("status")] for r in rows]
    check(len(rows) == 6 and st.count("pending") == 4 and st.count("ok") == 2,
          "configs.csv lists every config with its status (%s)" % st)
    head, rows = read_csv(os.path.join(out, "curves.csv"))
    check(len(rows) == ran * T, "curves.csv has the %d x %d rows of the configs that ran, not %d (got %d)"
          % (ran, T, len(status) * T, len(rows)))
    table = [l for l in stdout.splitlines() if re.match(r"^\s+\d+\s+\d+\s", l)]
    check(len(table) == 1 and table[0].split()[:2] == ["16", "2"] and " 2/3 " in table[0],
          "the C summary lists the one grid point with rows run, its pending seed counted (2/3): %s" % table)
    check("(3 pending rows of grid points with no row run yet are not listed)" in stdout,
          "the C summary says how many pending rows of points not run it leaves out")


def case_bad(tmp):
    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    cases = {}
    cases["missing"] = os.path.join(tmp, "nope.h5")
    txt = os.path.join(tmp, "text.h5")
    open(txt, "w").write("not hdf5\n")
    cases["text"] = txt
    foreign = os.path.join(tmp, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    cases["foreign"] = foreign
    other = os.path.join(tmp, "other.h5")
    shutil.copy(h5, other)
    with h5py.File(other, "r+") as f:
        f.attrs.modify("schema_version", 99)
    cases["schema"] = other
    gone = os.path.join(tmp, "gone.h5")
    shutil.copy(h5, gone)
    with h5py.File(gone, "r+") as f:
        del f["maml/config_id"]
    cases["dataset"] = gone
    trunc = os.path.join(tmp, "trunc.h5")
    data = open(h5, "rb").read()
    open(trunc, "wb").write(data[: len(data) // 3])
    cases["damaged"] = trunc
    for what, path in cases.items():
        before = open(path, "rb").read() if os.path.exists(path) else None
        p = report(path, "-o", os.path.join(tmp, "rep-" + what))
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2, "%s file: exit 2 (got %d)" % (what, p.returncode))
        check(len(lines) == 1 and lines[0].startswith("isweep: error: ") and path in lines[0],
              "%s file: one line on stderr naming the file: %r" % (what, p.stderr))
        check("Traceback" not in p.stderr, "%s file: no traceback" % what)
        after = open(path, "rb").read() if os.path.exists(path) else None
        check(before == after, "%s file untouched" % what)
        print("%-8s -> %d %s" % (what, p.returncode, lines[0] if lines else ""))


def case_merge(tmp):
    from isweep_analysis import load, stats

    a, _ = sweep(tmp, "analysis-mixed.ini", "a.h5", extra=["--set", "sweep.seeds=0:1"])
    b, _ = sweep(tmp, "analysis-mixed.ini", "b.h5", extra=["--set", "sweep.seeds=2"])
    full, _ = sweep(tmp, "analysis-mixed.ini", "full.h5")
    ra, rf = load([a, b]), load(full)
    check(len(ra.configs) == len(rf.configs), "two parts hold the whole sweep (%d == %d configs)"
          % (len(ra.configs), len(rf.configs)))
    check(set(ra.configs.source) == {"a.h5", "b.h5"}, "the source column names both files")
    Pa, Pf = stats.points(ra), stats.points(rf)
    check(len(Pa) == len(Pf), "as many grid points merged as in one file")
    cols = [c for c in Pf.columns if c.startswith("D_test_rel_mean@")]
    check(np.allclose(Pa[cols].values.astype(float), Pf[cols].values.astype(float), equal_nan=True, rtol=1e-12),
          "merged statistics equal the single-file sweep's")
    check((Pa.verdict.values == Pf.verdict.values).all(), "merged verdicts equal the single-file sweep's")
    # the same config in two files: the ok row wins over a failed one, then the newer row
    c = os.path.join(tmp, "c.h5")
    shutil.copy(full, c)
    with h5py.File(c, "r+") as f:
        st = f["linear-meta/status"][()]
        st[0] = 4
        f["linear-meta/status"][...] = st
        t = f["linear-meta/start_time"][()]
        t[1] += 1000.0
        f["linear-meta/start_time"][...] = t
        lid = "%016x" % f["linear-meta/config_id"][0]
        lid1 = "%016x" % f["linear-meta/config_id"][1]
    r = load([c, full])
    check(len(r.configs) == len(rf.configs), "a config in both files is kept once (%d configs)" % len(r.configs))
    row0 = r.configs[r.configs.config_id == lid]
    row1 = r.configs[r.configs.config_id == lid1]
    check(list(row0.source) == ["full.h5"] and list(row0.status) == ["ok"], "the ok row wins over the failed one")
    check(list(row1.source) == ["c.h5"], "among ok rows the newer one wins")
    check(any("kept once" in n for n in r.notes), "the de-duplication is said: %s" % r.notes)
    p = report(c, full, "--quiet")
    check(p.returncode == 0 and "kept once" in p.stderr, "isweep report FILE FILE says which rows it kept")


def case_legacy(tmp):
    from isweep_analysis import load, stats

    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    old = os.path.join(tmp, "old.h5")
    shutil.copy(h5, old)
    with h5py.File(old, "r+") as f:
        del f.attrs["delta_n"]
        for g in f.values():
            for d in g.values():
                for a in ("role", "split", "at", "term", "per", "valid_min", "valid_max", "qualifies", "unit",
                          "shapes_data"):
                    if a in d.attrs:
                        del d.attrs[a]
    r, rn = load(old), load(h5)
    check(r.delta_n == (1, 4), "ΔN from the spec text (%s)" % (r.delta_n,))
    check(any("spec text" in n for n in r.notes) and any("no column role" in n for n in r.notes),
          "the fallbacks are said: %s" % r.notes)
    P, Pn = stats.points(r), stats.points(rn)
    check(np.allclose(P["D_test_rel_mean@4"].astype(float), Pn["D_test_rel_mean@4"].astype(float), equal_nan=True),
          "an old file gives the same D statistics")
    p = report(old, "--quiet")
    check(p.returncode == 0, "an old file reports (exit %d: %s)" % (p.returncode, p.stderr))


def case_xarray(tmp):
    import xarray as xr
    from isweep_analysis import load

    h5, _ = sweep(tmp, "analysis-mixed.ini", "mixed.h5")
    r = load(h5)
    ds = r.to_xarray("deq")
    f = h5py.File(h5, "r")
    check(ds.test_loss.dims == ("config", "n") and ds.test_loss.shape == f["deq/test_loss"].shape,
          "to_xarray: test_loss (config, n)")
    check(np.allclose(ds.test_loss.values, f["deq/test_loss"][()], equal_nan=True), "to_xarray: values equal the file's")
    check(set(ds.status.values) <= {"ok", "pending", "running", "diverged", "failed"}, "status as names")
    check(ds.dataset.values[0] in ("teacher", "digits"), "strings decoded")
    check(ds.steps.dtype == np.int64 and ds.width.dtype == np.int64, "integer parameters stay integers")
    check("description" in ds.test_loss.attrs and ds.test_loss.attrs["role"] == "loss", "attrs carry description, role")
    check(ds.train_seconds.attrs.get("unit") == "s", "units from the file")
    one = xr.open_dataset(h5, group="deq", engine="h5netcdf", phony_dims="sort")
    check(one.test_loss.shape == f["deq/test_loss"].shape, "the README one-liner opens a group with engine h5netcdf")


def case_example(tmp):
    h5, _ = sweep(tmp, "analysis-mixed.ini", "results.h5")
    code = open(os.path.join(SRC, "analysis", "load_example.py")).read()
    env = dict(ENV, PYTHONPATH=os.path.join(SRC, "analysis"))
    code += "\nprint(len(r.configs), len(long), sorted(long.task.unique()))\n"
    p = subprocess.run(["/usr/bin/python3", "-c", code], env=env, cwd=tmp, capture_output=True, text=True)
    check(p.returncode == 0, "analysis/load_example.py runs: %s" % p.stderr.strip()[-300:])
    f = h5py.File(h5, "r")
    n_cfg = sum(g["config_id"].shape[0] for g in f.values())
    n_long = sum(g["config_id"].shape[0] * g["test_iters"].shape[0] for g in f.values())
    check(p.stdout.split()[:2] == [str(n_cfg), str(n_long)], "three lines give every config and every (config, n): %s"
          % p.stdout.strip())
    print(p.stdout.strip())


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: test_analysis.py %s" % "|".join(CASES))
    with tempfile.TemporaryDirectory(prefix="isw_analysis_") as tmp:
        CASES[sys.argv[1]](tmp)
    if FAILS:
        sys.exit("%d check(s) failed" % len(FAILS))
    print("ok")
