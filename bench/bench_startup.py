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


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [10**4, 10**5, 10**6]
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
            os.unlink(out)
    finally:
        shutil.rmtree(d)
    print("# isweep start-up on 2 ranks: linear-meta at its smallest size, configs = seeds")
    print("# %9s  %-7s  %13s  %13s  %8s  %8s  %8s  %8s" % ("configs", "command", "rank0_peak_MB", "rank1_peak_MB",
                                                         "rank0_s", "rank1_s", "rank0_cpu", "rank1_cpu"))
    for n, what, got in rows:
        print("%11d  %-7s  %13.1f  %13.1f  %8.2f  %8.2f  %9.2f  %9.2f" % (
            n, what, got[0][0] / 1024, got[1][0] / 1024, got[0][1], got[1][1], got[0][2], got[1][2]))
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
