#!/usr/bin/env bash
# Workstation quick start, the whole loop in one command: install what is missing
# (Debian 12), build, run a sweep with mpirun on every core, then write the report.
#   jobs/local.sh                 the embedded default sweep -> isweep-results.h5 and
#                                 isweep-results.report/ (tables, CSV, figures)
#   jobs/local.sh SPEC [ARGS...]  another spec; ARGS go to `isweep run` (e.g. -o FILE, --resume)
# Environment: NP (ranks, default: all cores), BUILD (build dir, default ./build),
# ISWEEP (an isweep binary to use as it is: no install, no build).
#
# Ctrl-C (or SIGTERM to this script) stops the sweep cleanly: no new configs, configs
# that check for a stop go back to pending, the others finish; the file is closed and
# the script exits 75 (continue with --resume).  A second Ctrl-C ends mpirun at once:
# it gives the ranks OMPI_MCA_odls_base_sigkill_timeout seconds (default here 5) to
# close the file before it kills them.  Progress: an updating line when this script's
# stderr is a terminal (--progress bar), otherwise a line every 10 s.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n ${ISWEEP:-} ]]; then
  isweep=$ISWEEP
else
  build="${BUILD:-$here/build}"
  bash "$here/jobs/install-deps.sh"
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$(nproc)" >/dev/null
  isweep="$build/isweep"
fi
np="${NP:-$(nproc)}"
export OPENBLAS_NUM_THREADS=1
# On SIGINT/SIGTERM mpirun sends the ranks SIGTERM after this many seconds and SIGKILL
# after as many again; the ranks need that time to stop and close the file.
export OMPI_MCA_odls_base_sigkill_timeout="${OMPI_MCA_odls_base_sigkill_timeout:-5}"
mpi_flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi_flags+=(--allow-run-as-root)
run_args=("$@")
# under mpirun the ranks' stderr is a pipe: ask for the updating line when ours is a terminal
if [[ -t 2 && " $* " != *" --progress "* ]]; then run_args+=(--progress bar); fi
# the results file this run writes (the plan's header names it)
out=$("$isweep" plan "$@" 2>/dev/null | sed -n '1s/.* output \(.*\)$/\1/p') || true
echo "local.sh: mpirun -np $np isweep run ${run_args[*]}" >&2

# mpirun runs in a session of its own, so a Ctrl-C in the terminal reaches only this
# script, which asks isweep to stop (SIGUSR1, which mpirun hands to every rank) instead
# of mpirun killing the job; a second one sends SIGTERM to mpirun.
stops=0
pid=""
# shellcheck disable=SC2317  # called from the trap
on_stop() {
  stops=$((stops + 1))
  [[ -n $pid ]] || return 0
  if ((stops == 1)); then
    echo "local.sh: stopping: no new configs; running ones end or go back to pending (Ctrl-C again: stop now)" >&2
    kill -USR1 "$pid" 2>/dev/null || true
  else
    echo "local.sh: stopping now: mpirun ends the ranks within ${OMPI_MCA_odls_base_sigkill_timeout} s" >&2
    kill -TERM "$pid" 2>/dev/null || true
  fi
}
trap on_stop INT TERM HUP
status=0
setsid mpirun -np "$np" "${mpi_flags[@]}" "$isweep" run "${run_args[@]}" &
pid=$!
# `wait` returns early (>128) when a trapped signal arrives: wait until mpirun is gone
while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
wait "$pid" || status=$?
if [[ $status -eq 0 && -n $out && -f $out ]]; then
  echo "local.sh: isweep report $out -o ${out%.h5}.report" >&2
  "$isweep" report "$out" -o "${out%.h5}.report" --quiet
  echo "local.sh: report in ${out%.h5}.report/ (index.html, summary.md, CSV files, fig*.png/svg)" >&2
fi
exit $status
