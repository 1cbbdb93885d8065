#!/usr/bin/env bash
# isweep on SLURM: one batch script for one node or many, launched by mpirun or srun.
#
#   sbatch jobs/slurm.sh SPEC OUT [ISWEEP-RUN-ARGS...]
#
# Single node (the header below: one node, all its cores):
#   sbatch jobs/slurm.sh jobs/default.ini results.h5
# Multi node, Open MPI's mpirun (starts its daemons through SLURM):
#   sbatch --nodes=4 --ntasks-per-node=32 jobs/slurm.sh my.ini results.h5
# Multi node, SLURM's own launcher with PMIx (`srun --mpi=pmix`):
#   sbatch --nodes=4 --ntasks-per-node=32 --export=ALL,ISW_LAUNCHER=srun jobs/slurm.sh my.ini results.h5
#
# Submit from the isweep checkout (the binary defaults to ./build/isweep), or set ISWEEP.
# Relative SPEC and OUT are taken from the submit folder.  Options on the sbatch command
# line override the #SBATCH lines below (time, partition, account, nodes...).
#
# Stopping and resuming.  `isweep run` always gets --resume: on a missing OUT it starts
# the sweep, on an existing one it runs only the configs that are not ok yet.  So the
# same command can be resubmitted, and a requeued job (node failure, preemption,
# `scontrol requeue`) continues where it stopped.  --signal=B:USR1@300 makes SLURM send
# USR1 to this script 5 minutes before the time limit (make it longer than your longest
# config); the trap forwards it to the launcher, which hands it to every rank: isweep
# stops handing out work, running configs finish or (those that check for a stop) go back
# to pending, the file is closed, exit status 75.
# Send the same by hand: `scancel --batch --signal=USR1 JOBID`.  With ISW_REQUEUE=1 a job
# stopped this way requeues itself (at most ISW_MAX_RESTARTS=10 times) and goes on.
#
# After a complete sweep the script writes the report (`isweep report`): tables in the
# log, summary.md, CSV files and figures in OUT-without-.h5 + ".report".
#
# Exit status: isweep's (0 all configs ran; 75 stopped with configs left; 2 bad input),
# the report's if it failed, or 2 when this script is called wrongly.
#
# Environment (all optional):
#   ISWEEP            the isweep binary (default: SUBMIT_DIR/build/isweep, else isweep on PATH)
#   ISW_LAUNCHER      mpirun (default) or srun (srun --mpi=pmix)
#   ISW_MPIRUN_ARGS   extra mpirun arguments;  ISW_SRUN_ARGS  extra srun arguments
#   ISW_REQUEUE       1: requeue this job when isweep stopped early on USR1
#   ISW_MAX_RESTARTS  cap for ISW_REQUEUE (default 10)
#   ISW_REPORT        0: no report after a complete sweep (default: `isweep report OUT`
#                     into ISW_REPORT_DIR, default OUT without .h5 plus .report)
#   ISW_SIGNAL_GRACE  seconds after the launch during which a stop is held (default 60)
#   OMPI_MCA_odls_base_sigkill_timeout  mpirun's grace on SIGTERM, seconds (default here 10)
#
#SBATCH --job-name=isweep
#SBATCH --nodes=1
#SBATCH --exclusive
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.log
set -uo pipefail

log() { echo "isweep-slurm: $*"; }
usage_error() { echo "isweep-slurm: error: $*" >&2; exit 2; }

# Stop signals are caught from the first line on (USR1 would otherwise kill bash): USR1
# is the time-limit warning, TERM comes from scancel, preemption or the limit itself.
# Each is recorded and handed to the launcher as USR1 -- but not in the first
# ISW_SIGNAL_GRACE seconds (default 60) after the launch: a USR1 that reaches mpirun,
# orted or a rank before it has set up its handlers kills it or hangs the start-up, so
# an early stop is held until then.
launcher_pid=""
launch_time=0
stop_signal=""
forwarded=""
grace=${ISW_SIGNAL_GRACE:-60}
# shellcheck disable=SC2317  # called from the traps
forward() {
  stop_signal=$1
  log "received SIG$1 at $(date -Is): asking isweep to stop cleanly (USR1 to the launcher)"
  pass_on
}
# shellcheck disable=SC2317
pass_on() {
  [[ -n $launcher_pid && -n $stop_signal && -z $forwarded ]] || return 0
  if ((SECONDS - launch_time < grace)); then
    log "holding the stop until ${grace} s after the launch (isweep may still be starting)"
    return 0
  fi
  kill -USR1 "$launcher_pid" 2>/dev/null
  forwarded=1
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM
trap 'forward INT' INT

(($# >= 2)) || usage_error "usage: sbatch jobs/slurm.sh SPEC OUT [ISWEEP-RUN-ARGS...]"
[[ -n ${SLURM_JOB_ID:-} ]] || usage_error "not inside a SLURM job: submit with sbatch jobs/slurm.sh SPEC OUT"
submit_dir=${SLURM_SUBMIT_DIR:-$PWD}
cd "$submit_dir" || usage_error "cannot enter the submit folder $submit_dir"
abspath() { [[ $1 == /* ]] && echo "$1" || echo "$submit_dir/$1"; }
spec=$(abspath "$1")
out=$(abspath "$2")
shift 2
[[ -r $spec ]] || usage_error "spec $spec is not a readable file"
[[ -d $(dirname "$out") ]] || usage_error "the folder of $out does not exist"

isweep=${ISWEEP:-}
if [[ -z $isweep ]]; then
  if [[ -x $submit_dir/build/isweep ]]; then isweep=$submit_dir/build/isweep
  else isweep=$(command -v isweep || true); fi
fi
[[ -n $isweep && -x $isweep ]] ||
  usage_error "isweep binary not found: set ISWEEP=/path/to/isweep or submit from the checkout with build/isweep"

# Ranks: the job's task count; without --ntasks (e.g. --exclusive alone), one per
# allocated CPU, summed over SLURM_TASKS_PER_NODE ("2(x3),1" = 2+2+2+1).
tasks_from_per_node() {
  local sum=0 item n m
  IFS=, read -ra items <<<"${SLURM_TASKS_PER_NODE:-1}"
  for item in "${items[@]}"; do
    n=${item%%(*}; m=1
    [[ $item == *"(x"* ]] && { m=${item#*(x}; m=${m%)}; }
    sum=$((sum + n * m))
  done
  echo "$sum"
}
launcher=${ISW_LAUNCHER:-mpirun}
ntasks=${SLURM_NTASKS:-$(tasks_from_per_node)}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# scancel and the time limit send SIGTERM to every process of the job, mpirun too, which
# then gives the ranks this many seconds before SIGTERM and as many again before SIGKILL
# (Open MPI's default: 1): time to abandon their configs and close the file.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-10}
case $launcher in
  mpirun)
    cmd=(mpirun -np "$ntasks")
    [[ $(id -u) -eq 0 ]] && cmd+=(--allow-run-as-root)
    # shellcheck disable=SC2206  # word splitting wanted: a list of options
    cmd+=(${ISW_MPIRUN_ARGS:-}) ;;
  srun)
    # shellcheck disable=SC2206
    cmd=(srun --mpi=pmix --ntasks="$ntasks" ${ISW_SRUN_ARGS:-}) ;;
  *) usage_error "ISW_LAUNCHER=$launcher: use mpirun or srun" ;;
esac
cmd+=("$isweep" run "$spec" -o "$out" --resume "$@")

# --- provenance: what runs where, from which commit, when --------------------------
restarts=${SLURM_RESTART_COUNT:-0}
log "---- job ${SLURM_JOB_ID} (${SLURM_JOB_NAME:-}) start $(date -Is) restart ${restarts} ----"
log "job_id=${SLURM_JOB_ID} array=${SLURM_ARRAY_JOB_ID:-}-${SLURM_ARRAY_TASK_ID:-} partition=${SLURM_JOB_PARTITION:-} account=${SLURM_JOB_ACCOUNT:-}"
log "nodes=${SLURM_JOB_NODELIST:-} num_nodes=${SLURM_JOB_NUM_NODES:-} ntasks=${ntasks} tasks_per_node=${SLURM_TASKS_PER_NODE:-} batch_host=$(hostname)"
# The commit is the one the binary was built from (`isweep --version`: "isweep X (git SHA)").
version=$("$isweep" --version 2>/dev/null | head -n 1)
commit=$(sed -n 's/.*(git \([^)]*\)).*/\1/p' <<<"$version")
log "isweep=${isweep} version=\"${version}\""
log "commit=${commit:-unknown}"
if git -C "$submit_dir" rev-parse --git-dir >/dev/null 2>&1; then
  log "submit_checkout=${submit_dir} head=$(git -C "$submit_dir" rev-parse HEAD 2>/dev/null)"
fi
log "date=$(date -Is) spec=${spec} out=${out}"
if [[ -e $out ]]; then log "resuming: ${out} exists; only configs not ok yet will run"
else log "starting: ${out} is new"; fi
log "launch: ${cmd[*]}"

# --- run, forwarding the stop signals to the launcher ------------------------------
# Bash runs a trap only between commands, so the launcher runs in the background and
# the script waits for it; `wait` returns early when a trapped signal arrives.
if [[ -n $stop_signal ]]; then
  log "stop requested before the launch: nothing run"
  status=75
else
  launch_time=$SECONDS
  "${cmd[@]}" &
  launcher_pid=$!
  # `wait` returns early (>128) when a trapped signal arrives: loop until the launcher is
  # gone; while a stop is held, poll each second to pass it on when the grace is over.
  while kill -0 "$launcher_pid" 2>/dev/null; do
    if [[ -n $stop_signal && -z $forwarded ]]; then
      sleep 1 &
      wait $!
      ((SECONDS - launch_time < grace)) || pass_on
    else
      wait "$launcher_pid"
    fi
  done
  wait "$launcher_pid"  # bash keeps a finished child's status: this returns it
  status=$?
fi
case $status in
  0) log "isweep finished: every config ran (exit 0)" ;;
  75) log "isweep stopped early with configs left (exit 75); resubmit the same command, or requeue, to resume" ;;
  2) log "isweep rejected its input (exit 2): see the error above" ;;
  *) log "isweep failed (exit ${status})" ;;
esac

# --- report (after a complete sweep): tables in this log, files in the report folder --
if ((status == 0)) && [[ ${ISW_REPORT:-1} != 0 ]]; then
  report_dir=${ISW_REPORT_DIR:-${out%.h5}.report}
  log "report: $isweep report $out -o $report_dir"
  "$isweep" report "$out" -o "$report_dir"
  rc=$?
  if ((rc != 0)); then
    status=$rc
    log "report failed (exit ${rc}); the results file is complete: run the report command again"
  fi
fi

# --- requeue after a clean stop on USR1 (the time-limit warning), if asked -----------
# Not after TERM: that is scancel or the scheduler ending the job on purpose.
if ((status == 75)) && [[ $stop_signal == USR1 && ${ISW_REQUEUE:-0} == 1 ]]; then
  if ((restarts < ${ISW_MAX_RESTARTS:-10})); then
    log "requeueing job ${SLURM_JOB_ID} (restart $((restarts + 1)) of at most ${ISW_MAX_RESTARTS:-10})"
    scontrol requeue "$SLURM_JOB_ID" || log "scontrol requeue failed: resubmit by hand"
  else
    log "not requeueing: restart count ${restarts} reached ISW_MAX_RESTARTS=${ISW_MAX_RESTARTS:-10}"
  fi
fi
log "---- job ${SLURM_JOB_ID} end $(date -Is) exit ${status} ----"
exit "$status"
