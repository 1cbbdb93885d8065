#!/usr/bin/python3
"""Start-up time and peak RSS per rank against the number of configs.

A sweep of the cheapest family at its smallest size (linear-meta, width 1, one task of one
row, train_iters 1, test_iters 0) whose only axis is `seeds`, so the number of configs is
the one thing that changes.  For 10^4, 10^5 and 10^6 configs (argv: other sizes), on 2
ranks, each rank wrapped in /usr/bin/time (peak RSS = its VmHWM, wall time from exec to
exit, MPI start included):

  plan      `isweep plan` (the whole plan printed, to a pipe that discards it)
  run       `isweep run --force` up to the first hand-out: ISW_FAULT=after-startup ends
            every rank just before the dispatcher starts (the spec is read and checked,
            the file created, the jobs ordered)
  resume    `isweep run --resume` of that file up to the first hand-out
  summary   the end-of-run summary of that file once 3 of its rows are ok (isweep run
            --resume --only 'seed<3'), alone: bench_startup.c (--probe EXE) reports its
            process's peak RSS before and after isw_summary_print

and, per (command, rank), the growth in bytes per config between the two largest sizes.
Rank 0 expands the grid; the other rank is a worker.  Wall time on a loaded machine is
noisy; the CPU seconds (user + system) beside it are steadier.  Figures only; no verdict.
"""
import os
import shutil
import subprocess
import sys
import tempfile

EXE = os.environ.get("ISW_EXE", "isweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
SPEC = """[sweep]
tasks = linear-meta
seeds = 0:{last}
train_iters = 1
test_iters = 0
max_configs = {n}
output = {out}
[linear-meta]
widths = 1
tasks = 1
support = 1
query = 1
test_tasks = 1
"""


def measured(d, args, fault=None):
    """Run args on 2 ranks, each under /usr/bin/time; {rank: (peak_kB, wall_s, cpu_s)}."""
    env = dict(ENV, ISW_BENCH_DIR=d)
    if fault:
        env["ISW_FAULT"] = fault
    wrap = 'exec /usr/bin/time -o "$ISW_BENCH_DIR/time.$OMPI_COMM_WORLD_RANK" -f "%M %e %U %S" "$@"'
    cmd = ["mpirun", "-np", "2", "--mca", "orte_abort_on_non_zero_status", "0", "sh", "-c", wrap, "sh", EXE] + args
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    got = {}
    for r in (0, 1):
        with open(os.path.join(d, "time.%d" % r)) as f:
            kb, s, u, k = f.read().split()[-4:]
        got[r] = (int(kb), float(s), float(u) + float(k))
        os.unlink(os.path.join(d, "time.%d" % r))
    ok = p.returncode == 0 if not fault else "ISW_FAULT=" + fault in p.stderr
    if not ok:
        sys.stderr.write("bench_startup: %s failed (exit %d):\n%s" % (" ".join(args), p.returncode, p.stderr))
        sys.exit(1)
    return got


def summary_probe(probe, spec, out):
    """(peak_kB before, peak_kB after, seconds) of the summary of `out` after 3 rows ran."""
    p = subprocess.run(["mpirun", "-np", "2", EXE, "run", spec, "--resume", "--only", "seed<3", "--quiet"],
                       env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    q = subprocess.run([probe, out], env=ENV, capture_output=True, text=True) if p.returncode == 0 else p
    if q.returncode != 0:
        sys.stderr.write("bench_startup: the summary of %s failed:\n%s" % (out, q.stderr))
        sys.exit(1)
    t = q.stdout.split()
    return int(t[3]), int(t[5]), float(t[7])


def main():
    args = sys.argv[1:]
    probe = None
    if len(args) >= 2 and args[0] == "--probe":
        probe, args = args[1], args[2:]
    sizes = [int(a) for a in args] or [10**4, 10**5, 10**6]
    sums = []
    d = tempfile.mkdtemp(prefix="isw_bench_startup_")
    rows = []
    try:
        for n in sizes:
            spec = os.path.join(d, "s%d.ini" % n)
            out = os.path.join(d, "s%d.h5" % n)
            with open(spec, "w") as f:
                f.write(SPEC.format(last=n - 1, n=n, out=out))
            rows.append((n, "plan", measured(d, ["plan", spec])))
            rows.append((n, "run", measured(d, ["run", spec, "--force", "--quiet"], "after-startup")))
            rows.append((n, "resume", measured(d, ["run", spec, "--resume", "--quiet"], "after-startup")))
            if probe:
                sums.append((n, summary_probe(probe, spec, out)))
            os.unlink(out)
    finally:
        shutil.rmtree(d)
    print("# isweep start-up on 2 ranks: linear-meta at its smallest size, configs = seeds")
    print("# %9s  %-7s  %13s  %13s  %8s  %8s  %8s  %8s" % ("configs", "command", "rank0_peak_MB", "rank1_peak_MB",
                                                         "rank0_s", "rank1_s", "rank0_cpu", "rank1_cpu"))
    for n, what, got in rows:
        print("%11d  %-7s  %13.1f  %13.1f  %8.2f  %8.2f  %9.2f  %9.2f" % (
            n, what, got[0][0] / 1024, got[1][0] / 1024, got[0][1], got[1][1], got[0][2], got[1][2]))
    if sums:
        print("# end-of-run summary of a file of n rows, 3 ok and the rest pending (one process)")
        print("# %9s  %15s  %14s  %14s  %8s" % ("rows", "peak_before_MB", "peak_after_MB", "summary_MB", "seconds"))
        for n, (a, b, t) in sums:
            print("%11d  %15.1f  %14.1f  %14.1f  %8.2f" % (n, a / 1024, b / 1024, (b - a) / 1024, t))
    if len(sizes) >= 2:
        a, b = sorted(sizes)[-2:]
        print("# growth from %d to %d configs, bytes per config:" % (a, b))
        for what in ("plan", "run", "resume"):
            ga = next(g for n, w, g in rows if n == a and w == what)
            gb = next(g for n, w, g in rows if n == b and w == what)
            per = [1024.0 * (gb[r][0] - ga[r][0]) / (b - a) for r in (0, 1)]
            print("#   %-7s rank 0: %7.1f B   rank 1 (worker): %7.1f B" % (what, per[0], per[1]))


if __name__ == "__main__":
    main()
