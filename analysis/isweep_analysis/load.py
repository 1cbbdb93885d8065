"""load.py -- isweep results files into tidy pandas tables; nothing else.

Everything is read from what the file declares: the columns' `role`
attributes (parameter, loss, accuracy, residual, limit, bound_term, validity,
...), their `split`/`at`/`term`/`per`/`valid_*` attributes and the root's
`delta_n` (schema.h).  No family's column names appear here.  Files written
before the role attributes existed are read with fallbacks that use only the
task contract (curves `train_loss`/`test_loss`, run columns of the schema,
parameters from `spec_canonical`, ΔN from `spec_text`); they carry no
validity flags.

Tables (pandas DataFrames):
  configs  one row per config: source, task, config_id (16 hex digits, the
           one representation used everywhere), every parameter, status (its
           name), message, rho, n_params, timings, every scalar, and the
           validity columns `flagged` (bool) and `flag_reasons` (text).
           A row's cells mean something only once its status says they were
           written (the file is not filled at creation): results from ok,
           diverged or failed on, provenance (rank, host, start_time) from
           running on.  Cells before that read as not written: NaN, "" or -1.
  curves   long form, one row per config x n of every config that is not
           pending: source, task, config_id, n, one column per curve (NaN
           where a task has no such curve).  A pending row has no values yet,
           so it has no rows here (configs lists it, with its status): a
           file of a million pending rows makes no million-row table.
  columns  one row per (task, column): name, dims, role, split, evaluated_at, term,
           per, valid_min, valid_max, qualifies, shapes_data, unit,
           description.
"""

import os
import re

import h5py
import numpy as np
import pandas as pd

SCHEMA_VERSIONS = (1,)
STATUS_NAMES = ("pending", "running", "ok", "diverged", "failed")
DEFAULT_DELTA_N = (1, 5, 20)

# Run columns of the schema (src/schema.c) for files without role attributes.
_LEGACY_RUN_ROLES = {
    "config_id": "id", "test_iters": "dimension", "status": "status", "message": "message",
    "rank": "provenance", "host": "provenance", "start_time": "provenance",
    "train_seconds": "timing", "eval_seconds": "timing", "rho": "ratio", "n_params": "size",
}


class IsweepFileError(Exception):
    """A file that cannot be read as an isweep results file; str() is one line
    naming the file and what is wrong."""


def config_id_str(x):
    """The one representation of a config id: 16 lower-case hex digits."""
    return "%016x" % int(x)


def _s(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind == "S":
        return v.item().decode("utf-8", "replace")
    return v


def _attr(obj, name, default=None):
    try:
        if name not in obj.attrs:
            return default
        return _s(obj.attrs[name])
    except (OSError, KeyError, TypeError):
        return default


def _spec_delta_n(spec_text, command_line):
    """Legacy files: ΔN from `delta_n` of [sweep] in the spec text, with a
    `--set sweep.delta_n=...` of the recorded command line winning."""
    def expand(text):
        out = []
        for part in text.split(","):
            part = part.strip()
            m = re.fullmatch(r"(-?\d+):(-?\d+)(?::(\d+))?", part)
            if m:
                a, b, st = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
                out.extend(range(a, b + 1, st))
            elif re.fullmatch(r"-?\d+", part):
                out.append(int(part))
        return tuple(sorted(set(out)))

    val = None
    section = None
    for line in (spec_text or "").splitlines():
        line = line.split(" ;")[0].strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[] ").strip()
            continue
        if section == "sweep" and "=" in line:
            k, v = line.split("=", 1)
            if k.strip() == "delta_n":
                val = v.strip()
    m = re.search(r"--set\s+sweep\.delta_n=(\S+)", command_line or "")
    if m:
        val = m.group(1)
    dn = expand(val) if val else ()
    return dn or DEFAULT_DELTA_N


def _canonical_params(canonical, task):
    """Legacy files: parameter names of `task` from spec_canonical."""
    names = []
    for line in (canonical or "").splitlines():
        m = re.match(r"\s*([^.=\s]+)\.([^=\s]+)\s*=", line)
        if m and m.group(1) == task and m.group(2) not in ("widths", "train_iters", "test_iters", "seeds"):
            names.append(m.group(2))
    return names


def _column_meta(task, name, d, legacy, legacy_params):
    role = _attr(d, "role")
    if role is None:
        if name in _LEGACY_RUN_ROLES:
            role = _LEGACY_RUN_ROLES[name]
        elif name in ("width", "train_iters", "seed") or name in legacy_params:
            role = "parameter"
        elif d.ndim == 2 and name in ("train_loss", "test_loss"):
            role = "loss"
        else:
            role = "metric"
    split = _attr(d, "split")
    if legacy and split is None and name in ("train_loss", "test_loss"):
        split = name.split("_")[0]
    def num(a):
        v = _attr(d, a)
        return float(np.asarray(v).item()) if v is not None else np.nan
    shapes = _attr(d, "shapes_data")
    return {
        "task": task, "name": name, "dims": d.ndim, "role": role, "split": split,
        "evaluated_at": _attr(d, "at"), "term": _attr(d, "term"), "per": _attr(d, "per"),
        "valid_min": num("valid_min"), "valid_max": num("valid_max"),
        "qualifies": _attr(d, "qualifies"),
        "shapes_data": None if shapes is None else bool(np.asarray(shapes).item()),
        "unit": _attr(d, "unit"), "description": _attr(d, "description", ""),
    }


def _read_file(path, source):
    """One file -> (meta dict, configs frame, curves frame, columns frame)."""
    if not os.path.exists(path):
        raise IsweepFileError("%s: no such file (give a results file written by isweep run)" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise IsweepFileError("%s: not a readable HDF5 file (%s)" % (path, str(e).split("(")[0].strip())) from None
    try:
        with f:
            return _read_open(f, path, source)
    except IsweepFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise IsweepFileError("%s: damaged results file (%s)" % (path, str(e).splitlines()[0][:160])) from None


def _read_open(f, path, source):
    if "schema_version" not in f.attrs:
        raise IsweepFileError("%s: not an isweep results file (no schema_version attribute)" % path)
    version = int(np.asarray(f.attrs["schema_version"]).item())
    if version not in SCHEMA_VERSIONS:
        raise IsweepFileError("%s: schema version %d, this isweep_analysis reads %s (use the isweep that wrote it)"
                              % (path, version, ", ".join(map(str, SCHEMA_VERSIONS))))
    meta = {k: _s(f.attrs[k]) for k in f.attrs if k != "delta_n"}
    meta["source"] = source
    meta["path"] = path
    legacy = "delta_n" not in f.attrs
    if legacy:
        meta["delta_n"] = _spec_delta_n(meta.get("spec_text"), meta.get("command_line"))
        meta["delta_n_from"] = "spec_text (file has no delta_n attribute)"
    else:
        meta["delta_n"] = tuple(int(x) for x in np.atleast_1d(f.attrs["delta_n"]))
        meta["delta_n_from"] = "file attribute delta_n"
    canonical = meta.get("spec_canonical", "")
    order = []
    for line in canonical.splitlines():
        m = re.match(r"\s*sweep\.tasks\s*=\s*(.*)", line)
        if m:
            order = [t.strip() for t in m.group(1).split(",")]
    groups = [k for k in f if isinstance(f[k], h5py.Group)]
    groups.sort(key=lambda g: (order.index(g) if g in order else len(order), g))
    if not groups:
        raise IsweepFileError("%s: no task group (an isweep file without results?)" % path)
    cfgs, curs, cols = [], [], []
    for task in groups:
        g = f[task]
        for need in ("config_id", "test_iters", "status"):
            if need not in g or not isinstance(g[need], h5py.Dataset):
                raise IsweepFileError("%s: /%s/%s is missing (damaged or foreign file)" % (path, task, need))
        ids = g["config_id"][()]
        C = ids.shape[0]
        iters = g["test_iters"][()].astype(np.int64)
        T = iters.shape[0]
        lparams = _canonical_params(canonical, task)
        cmeta = []
        for name, d in g.items():
            if not isinstance(d, h5py.Dataset):
                continue
            m = _column_meta(task, name, d, legacy, lparams)
            if name not in ("config_id", "test_iters"):
                want = (C,) if d.ndim == 1 else (C, T)
                if d.shape != want:
                    raise IsweepFileError("%s: /%s/%s has shape %s, expected %s (damaged file)"
                                          % (path, task, name, d.shape, want))
            cmeta.append(m)
        meta["has_roles"] = meta.get("has_roles", False) or "role" in g["status"].attrs
        cmeta_df = pd.DataFrame(cmeta)
        cols.append(cmeta_df)
        status = g["status"][()].astype(np.int64)
        # not written yet (STATUS_NAMES order): provenance before running, results before done
        unwritten = {"provenance": status < 1, None: status < 2}
        keep = ("id", "dimension", "parameter", "status")
        run = status != STATUS_NAMES.index("pending")  # (C) rows with curve values to read
        table = {"source": [source] * C, "task": [task] * C,
                 "config_id": [config_id_str(x) for x in ids]}
        curves = {}
        for m in cmeta:
            name = m["name"]
            if name in ("config_id", "test_iters"):
                continue
            d = g[name]
            blank = None if m["role"] in keep else unwritten.get(m["role"], unwritten[None])
            if name == "status":
                table["status"] = [STATUS_NAMES[s] if 0 <= s < len(STATUS_NAMES) else "failed" for s in status]
            elif d.ndim == 2:
                v = d[()][run].astype(np.float64)  # one column at a time, pending rows dropped
                if blank is not None:
                    v[blank[run]] = np.nan
                curves[name] = v
            elif d.dtype.kind == "S":
                v = [x.decode("utf-8", "replace") for x in d[()]]
                table[name] = v if blank is None else ["" if b else x for x, b in zip(v, blank)]
            else:
                v = d[()]
                if blank is not None and blank.any():
                    v = v.copy()
                    if v.dtype.kind in "fi":
                        v[blank] = np.nan if v.dtype.kind == "f" else -1
                table[name] = v
        cf = pd.DataFrame(table)
        cf["n_test_iters"] = T
        cfgs.append(cf)
        n_run = int(run.sum())
        long = {"source": np.repeat(cf["source"].values[run], T), "task": task,
                "config_id": np.repeat(cf["config_id"].values[run], T), "n": np.tile(iters, n_run)}
        for name, v in curves.items():
            long[name] = v.reshape(-1)
        curs.append(pd.DataFrame(long))
    return meta, cfgs, curs, cols


def _flags(configs, columns):
    """Columns `flagged` (bool), `flagged_limit` (bool) and `flag_reasons` (text) from
    every validity column: a row is unreliable when value / per is outside
    [valid_min, valid_max]; NaN means not applicable."""
    flagged = np.zeros(len(configs), bool)
    flagged_limit = np.zeros(len(configs), bool)
    text = [[] for _ in range(len(configs))]
    val = columns[columns.role == "validity"].drop_duplicates(["task", "name"])
    for _, c in val.iterrows():
        rows = (configs.task == c.task).values
        if c["name"] not in configs:
            continue
        v = configs[c["name"]].astype(float).values.copy()
        if isinstance(c.per, str) and c.per:
            for p in c.per.split("*"):
                if p in configs:
                    v = v / configs[p].astype(float).values
        bad = rows & np.isfinite(v) & ((v < c.valid_min - 1e-12) | (v > c.valid_max + 1e-12))
        lim = c.qualifies == "limit"
        for i in np.flatnonzero(bad):
            shown = "%g" % configs[c["name"]].values[i]
            per = " per %s" % c.per if isinstance(c.per, str) and c.per else ""
            text[i].append("%s=%s%s outside [%g, %g]%s" % (c["name"], shown, per, c.valid_min, c.valid_max,
                                                           " (limit unreliable)" if lim else ""))
        if lim:
            flagged_limit |= bad
        else:
            flagged |= bad
    configs["flagged"] = flagged
    configs["flagged_limit"] = flagged_limit
    configs["flag_reasons"] = ["; ".join(t) for t in text]
    return configs


class Results:
    """What load() returns: .configs, .curves, .columns (module docstring),
    .files (one dict of root attributes per file, with `source`, `path`,
    `delta_n`), .notes (what the loader decided, e.g. de-duplication), and
    .delta_n (the ΔN list: the union over the files)."""

    def __init__(self, configs, curves, columns, files, notes):
        self.configs = configs
        self.curves = curves
        self.columns = columns
        self.files = files
        self.notes = notes
        self.delta_n = tuple(sorted(set(x for fm in files for x in fm["delta_n"])))

    @property
    def tasks(self):
        return list(dict.fromkeys(self.configs.task))

    def cols(self, task, role=None, split=None, ndim=None):
        """Column metadata rows of `task`, filtered by role/split/ndim."""
        c = self.columns[self.columns.task == task]
        if role is not None:
            c = c[c.role == role]
        if split is not None:
            c = c[c.split == split]
        if ndim is not None:
            c = c[c["dims"] == ndim]
        return c

    def params(self, task):
        """Parameter column names of `task` (file order: width, train_iters,
        seed first, then the task's)."""
        names = list(self.cols(task, role="parameter").name)
        first = [n for n in ("width", "train_iters", "seed") if n in names]
        return first + [n for n in names if n not in first]

    def curve(self, task, role, split):
        """The name of the one curve of `task` with this role and split, or
        None."""
        c = self.cols(task, role=role, split=split, ndim=2)
        return c.name.iloc[0] if len(c) else None

    def to_xarray(self, task):
        """One task as an xarray Dataset with dims (config, n): coordinates
        config_id (hex text), n, every parameter; data variables every
        per-config column (status as names) and every curve; each variable's
        attrs carry description, role and unit from the file."""
        import xarray as xr

        cf = self.configs[self.configs.task == task].reset_index(drop=True)
        for c in cf.columns:  # nullable integers (NA for other tasks) back to plain numpy types
            if str(cf[c].dtype) == "Int64":
                cf[c] = cf[c].astype("int64") if not cf[c].isna().any() else cf[c].astype(float)
        cu = self.curves[self.curves.task == task]
        ns = np.array(sorted(cu.n.unique()))
        meta = self.cols(task).drop_duplicates("name").set_index("name")
        coords = {"config": np.arange(len(cf)), "n": ns, "config_id": ("config", cf.config_id.values),
                  "source": ("config", cf.source.values)}
        data = {}
        pos = {(s, c): i for i, (s, c) in enumerate(zip(cf.source, cf.config_id))}
        rows = np.array([pos[(s, c)] for s, c in zip(cu.source, cu.config_id)])
        cols = np.searchsorted(ns, cu.n.values)
        for name, m in meta.iterrows():
            if name in ("config_id", "test_iters"):
                continue
            attrs = {k: m[k] for k in ("description", "role", "unit", "split", "evaluated_at") if isinstance(m[k], str)}
            if m["dims"] == 2 and name in cu:
                arr = np.full((len(cf), len(ns)), np.nan)
                arr[rows, cols] = cu[name].values
                data[name] = (("config", "n"), arr, attrs)
            elif name in cf and m.role == "parameter":
                coords[name] = ("config", cf[name].values, attrs)
            elif name in cf:
                data[name] = ("config", cf[name].values, attrs)
        for extra in ("flagged", "flagged_limit", "flag_reasons"):
            data[extra] = ("config", cf[extra].values, {"description": "validity flags (isweep_analysis)"})
        return xr.Dataset(data, coords=coords, attrs={"task": task})


def load(paths):
    """Load one results file or several (a path or a list of paths) into a
    Results.  Several files (a sweep split in parts, or sweeps to compare)
    share the tables with their `source` (the file's base name, made unique).
    A config in two files with the same identity (task, sweep_seed,
    config_id) is kept once: an ok row before any other, then the newer row
    (start_time of the row, else the file's start); each such choice is
    counted in .notes.  Raises IsweepFileError (one line) for a missing,
    foreign, damaged or other-schema file or a missing dataset."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise IsweepFileError("no results file given")
    files, cfgs, curs, cols = [], [], [], []
    seen = {}
    for p in paths:
        base = os.path.basename(p)
        src = base if base not in seen else "%s#%d" % (base, len(seen))
        seen[src] = 1
        meta, c, u, m = _read_file(p, src)
        files.append(meta)
        for x in c:
            x["sweep_seed"] = np.uint64(int(np.asarray(meta.get("sweep_seed", 0)).item()))
        cfgs += c
        curs += u
        cols += m
    ints = set(c for x in cfgs for c in x.columns if x[c].dtype.kind in "iu" and c != "sweep_seed")
    configs = pd.concat(cfgs, ignore_index=True, sort=False)
    for c in ints:  # integer columns stay integers where other tasks lack them (NA)
        if configs[c].dtype.kind not in "iu":
            configs[c] = configs[c].astype("Int64")
    curves = pd.concat(curs, ignore_index=True, sort=False)
    columns = pd.concat(cols, ignore_index=True, sort=False)
    notes = []
    if len(paths) > 1:
        configs, curves, n_dup, won = _dedupe(configs, curves, files)
        if n_dup:
            notes.append("%d config(s) appear in more than one file with the same identity (task, sweep_seed, "
                         "config_id); kept once each: the ok row, and among ok rows the newer one (%s)"
                         % (n_dup, ", ".join("%d from %s" % (v, k) for k, v in sorted(won.items()))))
    configs = _flags(configs, columns)
    for fm in files:
        if fm["delta_n_from"].startswith("spec_text"):
            notes.append("%s: ΔN %s taken from the spec text (the file has no delta_n attribute)"
                         % (fm["source"], ",".join(map(str, fm["delta_n"]))))
        if not fm["has_roles"]:
            notes.append("%s: no column role attributes (written before they existed): roles inferred from the "
                         "schema and the task contract; no validity flags" % fm["source"])
    return Results(configs, curves, columns, files, notes)


def _dedupe(configs, curves, files):
    start = {fm["source"]: fm.get("start_time", "") for fm in files}
    key = configs.task + "|" + configs.sweep_seed.astype(str) + "|" + configs.config_id
    t_row = configs.start_time.astype(float) if "start_time" in configs else pd.Series(np.nan, index=configs.index)
    t_file = configs.source.map(start)
    order = pd.DataFrame({"key": key, "ok": (configs.status == "ok").astype(int), "t": t_row.fillna(-np.inf),
                          "tf": t_file, "i": np.arange(len(configs))})
    order = order.sort_values(["key", "ok", "t", "tf"], ascending=[True, False, False, False])
    keep = order.drop_duplicates("key", keep="first")
    dup_keys = order.key[order.key.duplicated()].unique()
    winners = keep[keep.key.isin(dup_keys)]
    won = configs.source.iloc[winners.i.values].value_counts().to_dict()
    kept = configs.iloc[np.sort(keep.i.values)].reset_index(drop=True)
    pair = set(zip(kept.source, kept.config_id, kept.task))
    mask = [t in pair for t in zip(curves.source, curves.config_id, curves.task)]
    return kept, curves[np.array(mask, bool)].reset_index(drop=True), len(dup_keys), won
