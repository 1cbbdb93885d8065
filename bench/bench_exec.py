#!/usr/bin/python3
"""Runner overhead of the exec family per config: a program that exits at once.

The program is /bin/sh writing a fixed result file (a shell starts in about a millisecond),
so the time per config is isweep's own cost: spawn, wait, result parsing and the row write,
plus the dispatcher's round trip.  Measured on 1 and 2 ranks as (sweep wall time - the same
sweep with 1 config) / (configs - 1), and as configs per second.  Target: <= 20 ms per config.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

EXE = os.environ.get("ISW_EXE", "isweep")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
SPEC = """[sweep]
tasks = exec
test_iters = 0,1,5
max_configs = 1000000
[exec]
command = printf '{{"train_loss":[1,0.5,{width}],"test_loss":[1,0.6,0.3],"rho":0.5}}' > {output}
shell = yes
curves = train_loss, test_loss
scalars = rho
widths = 1:%d
train_iters = 5
"""


def sweep(d, np_, n):
    spec = os.path.join(d, "b%d.ini" % n)
    with open(spec, "w") as f:
        f.write(SPEC % n)
    out = os.path.join(d, "b%d_%d.h5" % (n, np_))
    t0 = time.time()
    p = subprocess.run(["mpirun", "-np", str(np_), "--oversubscribe", EXE, "run", spec, "-o", out, "--quiet", "--force"],
                       env=ENV, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit(1)
    return wall


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    d = tempfile.mkdtemp(prefix="isw_bench_exec_")
    worst = 0.0
    print("# exec runner overhead, %d configs of a program that exits at once" % n)
    print("# ranks  wall_s(n)  wall_s(1)  ms_per_config  configs_per_s")
    for np_ in (1, 2):
        base = min(sweep(d, np_, 1) for _ in range(2))
        wall = sweep(d, np_, n)
        per = (wall - base) / (n - 1)
        worst = max(worst, per)
        print("%7d  %9.2f  %9.2f  %13.2f  %13.1f" % (np_, wall, base, 1e3 * per, 1.0 / per))
    shutil.rmtree(d)
    print("target <= 20 ms per config: %s (worst %.2f ms)" % ("met" if worst <= 0.020 else "NOT met", 1e3 * worst))


if __name__ == "__main__":
    main()
