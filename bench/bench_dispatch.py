#!/usr/bin/python3
"""Driver of bench_dispatch: the real dispatcher and transport with no-op configs at
1, 2, 4, 8, 16, 32, 64 ranks (mpirun --oversubscribe), then the dispatcher's CPU while
every rank runs long configs (its idle cost) and the hand-out latency with 1 ms configs.

  bench_dispatch.py [--exe PATH] [--base PATH] [--ranks 1,2,4] [--configs N] [-- EXTRA ARGS]
  bench_dispatch.py --teams [--isweep PATH] [--teams-seeds A:B] [--rounds R]
  bench_dispatch.py --teams-sleep [--exe PATH] [--teams-seeds A:B] [--rounds R] [--us-per-gflop U]

--teams: instead, the makespan of tests/specs/team-mixed.ini (teams of 3 among single configs)
with --teams-seeds (default 0:23: 192 configs) on 4 ranks with EASY backfilling and without
(ISW_NO_BACKFILL=1), alternating, --rounds times each (default 3), with the isweep executable
of --isweep; the makespan is read from the file's timings (first start to last end), so
mpirun's start-up is left out.
--teams-sleep: the same grid (--teams-seeds) through bench_dispatch --mixed on 4 ranks: the
real dispatcher and transport, each config a sleep of its predicted time (--us-per-gflop,
default 1.4e6: 3 s ideal for 192 configs) so that 4 ranks on 2 cores take no CPU from each
other, exactly as predicted (noise 0) and off by up to 30 % (noise 0.3), EASY backfilling
and strict order alternating, --rounds times each; the makespan is bench_dispatch's wall time.
--base: a bench_dispatch built at another commit (e.g. b659671, before issue 14), run right
before each run of --exe so both see the same load; EXTRA ARGS go to --exe only.
Prints the load average before and after (the machine may be shared) and one table.
Exit status 0 unless a run failed.
"""
import argparse
import os
import subprocess
import sys

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
HEAD = "%5s %8s %8s %10s %11s %8s %12s %8s  %s" % ("ranks", "configs", "seconds", "configs/s", "overhead_ms",
                                              "wait_ms", "disp_cpu_pct", "cpu_ms", "case")


def run(exe, np_, args, label):
    cmd = ["mpirun", "-np", str(np_), "--oversubscribe", exe] + args
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        print("FAIL: %s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
        sys.exit(1)
    line = [l for l in p.stdout.splitlines() if l.strip()][-1]
    print("%s  %s" % (line, label), flush=True)


def makespan(path):
    """Seconds from the first config's start to the last one's end, from the file's timings."""
    import h5py
    import numpy as np
    first, last = np.inf, -np.inf
    with h5py.File(path, "r") as f:
        for g in f:
            t0 = f[g]["start_time"][()]
            t1 = t0 + f[g]["train_seconds"][()] + f[g]["eval_seconds"][()]
            first, last = min(first, t0.min()), max(last, t1.max())
    return last - first


def teams(exe, seeds, rounds):
    import tempfile
    import time
    src = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = os.path.join(src, "tests", "specs", "team-mixed.ini")
    tmp = tempfile.mkdtemp(prefix="bench-backfill-")
    print("tests/specs/team-mixed.ini with sweep.seeds=%s on 4 ranks; makespan = first start to last end "
          "(the file's start_time, train_seconds, eval_seconds), wall = mpirun's" % seeds)
    print("%-22s %10s %10s" % ("order (4 ranks)", "makespan", "wall"))
    spans = {}
    for rep in range(rounds):
        for name, extra in (("strict (no backfill)", {"ISW_NO_BACKFILL": "1"}), ("EASY backfilling", {})):
            out = os.path.join(tmp, "%s-%d.h5" % (name.split()[0], rep))
            cmd = ["mpirun", "-np", "4", "--oversubscribe", exe, "run", spec, "-o", out, "--quiet",
                   "--set", "sweep.seeds=%s" % seeds]
            t0 = time.time()
            p = subprocess.run(cmd, env=dict(ENV, **extra), capture_output=True, text=True, timeout=3600)
            if p.returncode != 0:
                print("FAIL: %s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
                sys.exit(1)
            wall = time.time() - t0
            span = makespan(out)
            spans.setdefault(name, []).append(span)
            print("%-22s %10.2f %10.2f" % (name, span, wall), flush=True)
            os.unlink(out)
    os.rmdir(tmp)
    a, b = min(spans["strict (no backfill)"]), min(spans["EASY backfilling"])
    print("min makespan: strict %.2f s, EASY backfilling %.2f s (%.3f of strict)" % (a, b, b / a))


def teams_sleep(exe, seeds, rounds, us_per_gflop):
    src = os.environ.get("ISW_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = os.path.join(src, "tests", "specs", "team-mixed.ini")
    print("bench_dispatch --mixed tests/specs/team-mixed.ini --seeds %s on 4 ranks, sleeps of %.3g us per Gflop"
          % (seeds, us_per_gflop))
    print("%-6s %-22s %10s" % ("noise", "order (4 ranks)", "makespan"))
    spans = {}
    for noise in (0.0, 0.3):
        for rep in range(rounds):
            for name, extra in (("strict (no backfill)", ["--no-backfill"]), ("EASY backfilling", [])):
                cmd = ["mpirun", "-np", "4", "--oversubscribe", exe, "--mixed", spec, "--seeds", seeds,
                       "--us-per-gflop", repr(us_per_gflop), "--noise", repr(noise)] + extra
                p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=3600)
                if p.returncode != 0:
                    print("FAIL: %s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
                    sys.exit(1)
                span = float([l for l in p.stdout.splitlines() if l.strip()][-1].split()[2])
                spans.setdefault((noise, name), []).append(span)
                print("%-6.1f %-22s %10.3f" % (noise, name, span), flush=True)
    for noise in (0.0, 0.3):
        a, b = spans[(noise, "strict (no backfill)")], spans[(noise, "EASY backfilling")]
        print("noise %.1f: mean makespan strict %.3f s, EASY backfilling %.3f s (%.3f of strict); min %.3f / %.3f s"
              % (noise, sum(a) / len(a), sum(b) / len(b), sum(b) / sum(a), min(a), min(b)))


def main():
    build = os.environ.get("ISW_BUILD_DIR", "build")
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default=os.path.join(build, "bench", "bench_dispatch"))
    ap.add_argument("--ranks", default="1,2,4,8,16,32,64")
    ap.add_argument("--configs", type=int, default=5000)
    ap.add_argument("--base", default=None)
    ap.add_argument("--teams", action="store_true")
    ap.add_argument("--teams-seeds", default="0:23")
    ap.add_argument("--teams-sleep", action="store_true")
    ap.add_argument("--us-per-gflop", type=float, default=1.4e6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--isweep", default=os.path.join(build, "isweep"))
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    if not os.path.exists(a.exe):
        a.exe = os.path.join(build, "tests", "bench_dispatch")
    print("load average before: %.2f %.2f %.2f on %d cores" % (*os.getloadavg(), os.cpu_count()))
    if a.teams:
        teams(a.isweep, a.teams_seeds, a.rounds)
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())
        return
    if a.teams_sleep:
        teams_sleep(a.exe, a.teams_seeds, a.rounds, a.us_per_gflop)
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())
        return
    print(HEAD)
    # (ranks, arguments, arguments for --exe only, label)
    cases = [(np_, ["--configs", str(a.configs)], [], "no-op configs") for np_ in [int(x) for x in a.ranks.split(",")]]
    cases += [(4, ["--configs", "16", "--sleep-us", "250000"], [], "idle: 0.25 s configs"),
              (4, ["--configs", "2000", "--sleep-us", "1000"], [], "1 ms configs"),
              # no prefetch: a worker's wait is the hand-out round trip (base: always so)
              (2, ["--configs", "200", "--sleep-us", "10000"], ["--depth", "1"], "hand-out latency, 10 ms configs")]
    for np_, args, own, label in cases:
        if a.base:
            run(a.base, np_, args, label + " [base]")
        run(a.exe, np_, args + own + a.extra, label + (" (depth 1)" if own else ""))
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
