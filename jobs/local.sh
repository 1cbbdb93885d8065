#!/usr/bin/env bash
# Workstation quick start: install what is missing (Debian 12), build, and run
# a sweep with mpirun on every core.
#   jobs/local.sh                 the embedded default sweep -> isweep-results.h5
#   jobs/local.sh SPEC [ARGS...]  another spec; ARGS go to `isweep run` (e.g. -o FILE, --resume)
# Environment: NP (ranks, default: all cores), BUILD (build dir, default build).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$here/build}"
bash "$here/jobs/install-deps.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
np="${NP:-$(nproc)}"
export OPENBLAS_NUM_THREADS=1
mpi_flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi_flags+=(--allow-run-as-root)
echo "local.sh: mpirun -np $np isweep run $*" >&2
exec mpirun -np "$np" "${mpi_flags[@]}" "$build/isweep" run "$@"
