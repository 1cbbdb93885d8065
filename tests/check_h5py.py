#!/usr/bin/python3
"""check_h5py.py FILE — check that an isweep results file reads as is with
h5py into pandas.

For every task group: build a DataFrame from the per-config 1-D columns
(bytes decoded, the status enum mapped to its names), then assert that the
common columns exist, every status is one of the enum's names, config_id is
unique and is the dimension scale of dim 0, n_configs matches, and every curve
is (n_configs, len(test_iters)) with test_iters attached to dim 1.

Prints "N groups, M rows, statuses {...}" and exits 0, or prints what is
wrong and exits 1.  Used by ctest on a sample file and by the lead on real
sweep outputs.

check_h5py.py --expect-error TEXT FILE inverts the verdict (the checker's own
test): exit 0 only when the check fails with a message containing TEXT."""
import sys

import h5py
import numpy as np
import pandas as pd

STATUS_NAMES = ["pending", "running", "ok", "diverged", "failed"]
COMMON = ["config_id", "width", "train_iters", "seed", "status", "message", "rank", "host",
          "start_time", "train_seconds", "eval_seconds", "rho", "n_params"]
ROOT_ATTRS = ["schema_version", "isweep_version", "git_commit", "spec_path", "spec_text",
              "spec_canonical", "sweep_seed", "command_line", "mpi_size", "hdf5_version",
              "mpi_version", "blas_info", "start_time", "end_time", "runs"]


class Bad(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Bad(msg)


def decode(a):
    if isinstance(a, np.ndarray) and a.dtype.kind == "S":
        return [x.decode("utf-8", "replace") for x in a]
    return a


def attached_name(dset, dim):
    """Name of the first dimension scale attached to dim `dim`, or None."""
    scales = list(dset.dims[dim].values())
    return scales[0].name.rsplit("/", 1)[-1] if scales else None


def group_frame(name, grp):
    n = int(grp.attrs["n_configs"]) if "n_configs" in grp.attrs else None
    need(n is not None, f"/{name}: no n_configs attribute")
    need("test_iters" in grp, f"/{name}: no test_iters dataset")
    n_test = grp["test_iters"].shape[0]
    cols, curves = {}, {}
    for key, d in grp.items():
        if not isinstance(d, h5py.Dataset):
            raise Bad(f"/{name}/{key}: not a dataset")
        if key == "test_iters":
            continue
        if d.ndim == 1:
            need(d.shape[0] == n, f"/{name}/{key}: {d.shape[0]} rows, n_configs is {n}")
            values = d[()]
            mapping = h5py.check_enum_dtype(d.dtype)
            if mapping is not None:
                names = {v: k for k, v in mapping.items()}
                bad = sorted({int(v) for v in values if int(v) not in names})
                need(not bad, f"/{name}/{key}: values {bad} are not enum members")
                values = [names[int(v)] for v in values]
            cols[key] = decode(values)
            if key != "config_id":
                need(attached_name(d, 0) == "config_id",
                     f"/{name}/{key}: config_id is not attached to dim 0")
        elif d.ndim == 2:
            need(d.shape == (n, n_test),
                 f"/{name}/{key}: curve shape {d.shape}, expected ({n}, {n_test})")
            need(attached_name(d, 0) == "config_id", f"/{name}/{key}: config_id not on dim 0")
            need(attached_name(d, 1) == "test_iters", f"/{name}/{key}: test_iters not on dim 1")
            curves[key] = d[()]
        else:
            raise Bad(f"/{name}/{key}: {d.ndim} dimensions")
    df = pd.DataFrame(cols)
    missing = [c for c in COMMON if c not in df.columns]
    need(not missing, f"/{name}: missing columns {missing}")
    need("train_loss" in curves and "test_loss" in curves,
         f"/{name}: curves train_loss and test_loss expected, found {sorted(curves)}")
    bad = sorted(set(df["status"]) - set(STATUS_NAMES))
    need(not bad, f"/{name}/status: unknown statuses {bad}")
    dup = df["config_id"][df["config_id"].duplicated()].tolist()
    need(not dup, f"/{name}/config_id is not unique: {dup[:5]} repeated")
    need(df["config_id"].dtype == np.uint64, f"/{name}/config_id: dtype {df['config_id'].dtype}")
    need(df["status"].map(type).eq(str).all(), f"/{name}/status: not decoded to names")
    return df, curves


def check(path):
    """0 and the summary line, or 1 and what is wrong."""
    try:
        with h5py.File(path, "r") as f:
            missing = [a for a in ROOT_ATTRS if a not in f.attrs]
            need(not missing, f"{path}: missing root attributes {missing}")
            need(len(f) > 0, f"{path}: no task groups")
            rows, statuses = 0, {}
            for name, grp in f.items():
                need(isinstance(grp, h5py.Group), f"{path}: /{name} is not a group")
                df, _ = group_frame(name, grp)
                rows += len(df)
                for s, c in df["status"].value_counts().items():
                    statuses[s] = statuses.get(s, 0) + int(c)
            summary = ", ".join(f"{s}: {statuses[s]}" for s in STATUS_NAMES if s in statuses)
            return 0, f"{len(f)} groups, {rows} rows, statuses {{{summary}}}"
    except Bad as e:
        return 1, f"check_h5py: {e}"
    except (OSError, KeyError) as e:
        return 1, f"check_h5py: {path}: {e}"


def main(argv):
    if len(argv) == 4 and argv[1] == "--expect-error":
        rc, msg = check(argv[3])
        print(msg)
        if rc == 1 and argv[2] in msg:
            print("check_h5py: rejected as expected")
            return 0
        print(f"check_h5py: expected a failure mentioning '{argv[2]}'")
        return 1
    if len(argv) != 2:
        print("usage: check_h5py.py [--expect-error TEXT] FILE", file=sys.stderr)
        return 2
    rc, msg = check(argv[1])
    print(msg)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
