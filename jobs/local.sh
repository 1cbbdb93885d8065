#!/usr/bin/env bash
# Workstation quick start, the whole loop in one command: install what is missing
# (Debian 12), build, run a sweep with mpirun on every core, then write the report.
#   jobs/local.sh                 the embedded default sweep -> isweep-results.h5 and
#                                 isweep-results.report/ (tables, CSV, figures)
#   jobs/local.sh SPEC [ARGS...]  another spec; ARGS go to `isweep run` (e.g. -o FILE, --resume)
# Environment: NP (ranks, default: all cores), BUILD (build dir, default ./build).
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
isweep="$build/isweep"
# the results file this run writes (the plan's header names it)
out=$("$isweep" plan "$@" 2>/dev/null | sed -n '1s/.* output \(.*\)$/\1/p') || true
echo "local.sh: mpirun -np $np isweep run $*" >&2
status=0
mpirun -np "$np" "${mpi_flags[@]}" "$isweep" run "$@" || status=$?
if [[ $status -eq 0 && -n $out && -f $out ]]; then
  echo "local.sh: isweep report $out -o ${out%.h5}.report" >&2
  "$isweep" report "$out" -o "${out%.h5}.report" --quiet
  echo "local.sh: report in ${out%.h5}.report/ (index.html, summary.md, CSV files, fig*.png/svg)" >&2
fi
exit $status
