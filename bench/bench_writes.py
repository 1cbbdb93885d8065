#!/usr/bin/python3
"""Write calls into the results file per row and per dataset, and bytes per call (strace).

A sweep of the cheapest family at its smallest size (linear-meta, width 1, one task of one
row, train_iters 1, test_iters 0:40), whose only axis is `seeds`, runs on 2 ranks under
`strace -f -y` (every write(2), pwrite64(2), pwritev(2) and pwritev2(2) of every rank, with
the path of the file descriptor).  Counted: the calls on the results file itself after it
is in place, i.e. the row writes (the creation writes a temporary beside it, which is
renamed: its calls are counted apart, as "creation").  Per row and per dataset: calls /
(rows x per-row datasets of the group).

  bench_writes.py [--exe ISWEEP] [--base ISWEEP_BEFORE] [--configs 2000]

--base: an isweep built at another commit (e.g. b659671, before issue 14: every rank wrote
its own rows through MPI-IO), measured right before --exe on the same sweep.
Prints one table and the load average before and after; asserts nothing (label bench).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
SPEC = """[sweep]
tasks = linear-meta
seeds = 0:%d
train_iters = 1
test_iters = 0:40
seed = 5
max_configs = %d

[linear-meta]
widths = 1
tasks = 1
support = 1
query = 1
test_tasks = 1
"""
CALL = re.compile(r"^(write|pwrite64|pwritev|pwritev2)\((\d+)<([^>]*)>.*\)\s+=\s+(-?\d+)")


def row_datasets(path):
    """(rows, per-row datasets) of the file's one group, read with h5py."""
    import h5py
    with h5py.File(path, "r") as f:
        g = f[list(f)[0]]
        rows = g["status"].shape[0]
        n = sum(1 for k, d in g.items() if k not in ("test_iters",) and d.shape[:1] == (rows,))
    return rows, n


def measure(exe, configs, tmp, label):
    spec = os.path.join(tmp, "writes.ini")
    with open(spec, "w") as f:
        f.write(SPEC % (configs - 1, configs))
    out = os.path.join(tmp, "writes-%s.h5" % label)
    trace = os.path.join(tmp, "trace-%s" % label)
    # -ff: one trace file per thread, so that no call is split into unfinished/resumed lines
    cmd = ["strace", "-ff", "-y", "-qq", "-s", "0", "-e", "trace=write,pwrite64,pwritev,pwritev2", "-o", trace,
           "mpirun", "-np", "2", "--oversubscribe", exe, "run", spec, "-o", out, "--quiet"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        print("FAIL: %s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
        sys.exit(1)
    real = os.path.realpath(out)
    rows_calls = rows_bytes = create_calls = create_bytes = 0
    base = os.path.basename(out)
    for name in os.listdir(tmp):
        if not name.startswith("trace-%s." % label):
            continue
        with open(os.path.join(tmp, name)) as f:
            for line in f:
                m = CALL.match(line)
                if not m or int(m.group(4)) < 0:
                    continue
                path, n = m.group(3), int(m.group(4))
                if path == real:
                    rows_calls += 1
                    rows_bytes += n
                elif os.path.basename(path).startswith("." + base + ".isweep-tmp"):
                    create_calls += 1
                    create_bytes += n
    rows, nds = row_datasets(out)
    per_row = rows_calls / rows
    per_ds = rows_calls / (rows * nds)
    print("%-8s %6d %5d %9d %9.3f %11.5f %12s %10.0f %9d %11d" % (
        label, rows, nds, rows_calls, per_row, per_ds, "1 per %.0f" % (1 / per_ds) if per_ds else "-",
        rows_bytes / max(rows_calls, 1), create_calls, create_bytes), flush=True)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--exe", default=os.path.join(os.path.dirname(here), "build", "isweep"))
    ap.add_argument("--base", default=None)
    ap.add_argument("--configs", type=int, default=2000)
    a = ap.parse_args()
    if not shutil.which("strace"):
        print("skipped: strace is not installed (apt install strace)")
        return 0
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    print("%-8s %6s %5s %9s %9s %11s %12s %10s %9s %11s" % (
        "build", "rows", "dsets", "calls", "calls/row", "calls/row/ds", "rows/ds/call", "B/call",
        "create_n", "create_B"))
    with tempfile.TemporaryDirectory(prefix="isweep-bench-writes-") as tmp:
        if a.base:
            measure(a.base, a.configs, tmp, "before")
        measure(a.exe, a.configs, tmp, "now")
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
