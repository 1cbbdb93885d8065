#!/usr/bin/env bash
# A private SLURM cluster on this machine, for the SLURM job-script tests.
#
#   cluster.sh install                 install Debian's SLURM and munge if missing (root)
#   cluster.sh start DIR [options]     start munged, slurmctld and slurmd(s) in DIR (created)
#       --nodes N      fake compute nodes (default 2): n1..nN, all on this machine, each
#                      with its own slurmd on 127.0.0.N and its own port, spool and TmpFS
#       --cpus C       CPUs each node declares (default 2)
#       --owner PID    stop the cluster (and remove DIR) when process PID ends, so that a
#                      test killed by a timeout leaves no daemon behind
#   cluster.sh stop DIR [--remove]     cancel every job, stop the daemons by PID, check
#                                      that no process of the cluster is left (exit 1 if
#                                      one was), then remove DIR with --remove
#
# Everything lives in DIR: slurm.conf, munge key and socket, state, spools, TmpFS, logs,
# PID files.  Clients find the cluster through SLURM_CONF=DIR/slurm.conf (`start` prints
# the export line and writes it to DIR/env).  Runs as root: the daemons are started as
# root and SlurmUser is root.  No cgroup plugin (proctrack/linuxproc, task/none), but
# slurmd still wants a cgroup file system mounted on /sys/fs/cgroup.
# The fake nodes share one machine: give a multi-node job one rank per node (Open MPI's
# shared-memory segments of two "nodes" would collide), and expect munged to log
# "Replayed credential" when both slurmds check the same credential, and "Unauthorized
# credential for client UID=0 GID=0" a few times at start-up (a working cluster does too).
# A requeued job may start again after cred_expire (10 s here; SLURM's default is 120 s).
set -euo pipefail

SELF=$(readlink -f "$0")
say() { echo "cluster.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# jobs/install-deps.sh --with-slurm: the one list of packages (keeps their services from
# starting on install: this cluster runs daemons of its own)
cmd_install() {
  bash "$(dirname "$SELF")/../../jobs/install-deps.sh" --with-slurm
}

# A TCP port nobody listens on (small race: fine for a test).
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# PIDs of live processes whose environment carries NAME=VALUE.
pids_with_env() {
  local want="$1=$2" f pid
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}; pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if grep -qzxF -- "$want" "$f" 2>/dev/null; then echo "$pid"; fi
  done
}

cmd_start() {
  local dir="" nodes=2 cpus=2 owner=""
  while (($#)); do
    case $1 in
      --nodes) nodes=$2; shift 2 ;;
      --cpus) cpus=$2; shift 2 ;;
      --owner) owner=$2; shift 2 ;;
      -*) die "start: unknown option $1" ;;
      *) [[ -z $dir ]] || die "start: one DIR"; dir=$1; shift ;;
    esac
  done
  [[ -n $dir ]] || die "start needs a DIR"
  [[ $nodes =~ ^[1-9]$ ]] || die "--nodes must be 1..9"
  for p in slurmctld slurmd munged sbatch; do
    command -v "$p" >/dev/null || die "$p not found: run '$0 install' first"
  done
  # slurmd (SLURM 22.05) loads its cgroup plugin at start-up even with proctrack/linuxproc
  # and task/none, and exits ("No filesystem mounted on /sys/fs/cgroup") without one.  A
  # booted machine has it (systemd mounts it); a chroot with a bare sysfs does not.
  local cgfs
  cgfs=$(stat -f -c %T /sys/fs/cgroup 2>/dev/null) || cgfs="nothing"
  case $cgfs in
    cgroup2fs | tmpfs | cgroupfs) ;;
    *) die "slurmd needs a cgroup file system on /sys/fs/cgroup, found $cgfs (in a chroot, bind the machine's: mount --rbind /sys ROOT/sys)" ;;
  esac
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ ! -e $dir/slurm.conf ]] || die "$dir already holds a cluster"
  mkdir -p "$dir"/{state,log,tmp,munge,spool}
  chmod 755 "$dir" "$dir/munge"   # munged wants a socket folder others can read, not write

  # --- munge: its own key, socket, PID, seed and log --------------------------------
  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  local sock="$dir/munge/munge.socket.2"
  # --origin: the address munged records in credentials, so that it needs no lookup of the
  # host name (a machine without its name in /etc/hosts logs 'Failed to lookup origin')
  ISW_SLURM_DAEMON="$dir" setsid munged -F --force --key-file="$dir/munge.key" --socket="$sock" \
    --origin=127.0.0.1 \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
    --log-file="$dir/log/munged.log" </dev/null >>"$dir/log/munged.out" 2>&1 &
  echo $! >"$dir/munged.pid"
  local i
  for ((i = 0; i < 100; i++)); do [[ -S $sock ]] && break; sleep 0.05; done
  [[ -S $sock ]] || start_failed "$dir" "munged did not start"

  # --- slurm.conf ----------------------------------------------------------------------
  local host ctld_port conf="$dir/slurm.conf"
  host=$(hostname -s)
  ctld_port=$(free_port)
  {
    echo "# private test cluster made by tests/slurm/cluster.sh"
    echo "ClusterName=iswtest"
    echo "SlurmctldHost=$host(127.0.0.1)"
    echo "SlurmctldPort=$ctld_port"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    # cred_expire: also how long a requeued job waits before it may start again (default 120 s)
    echo "AuthInfo=socket=$sock,cred_expire=10"
    echo "StateSaveLocation=$dir/state"
    echo "SlurmdSpoolDir=$dir/spool/%n"
    echo "SlurmctldPidFile=$dir/slurmctld.pidfile"
    echo "SlurmdPidFile=$dir/slurmd.%n.pidfile"
    echo "SlurmctldLogFile=$dir/log/slurmctld.log"
    echo "SlurmdLogFile=$dir/log/slurmd.%n.log"
    echo "SlurmctldDebug=info"
    echo "SlurmdDebug=info"
    echo "TmpFS=$dir/tmp/%n"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "MpiDefault=pmix"
    echo "EnforcePartLimits=ALL"
    echo "MailProg=/bin/true"
    echo "SlurmdParameters=config_overrides"
    echo "ReturnToService=2"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/none"
    echo "MinJobAge=3600"
    echo "KillWait=5"
    echo "InactiveLimit=0"
    echo "SchedulerType=sched/backfill"
    echo "SchedulerParameters=sched_interval=2"
    echo "PlugStackConfig=$dir/plugstack.conf"
    local n port
    for ((n = 1; n <= nodes; n++)); do
      port=$(free_port)
      echo "NodeName=n$n NodeHostname=n$n NodeAddr=127.0.0.$n Port=$port CPUs=$cpus RealMemory=1024 State=UNKNOWN"
    done
    echo "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } >"$conf"
  : >"$dir/plugstack.conf"
  echo "export SLURM_CONF=$conf" >"$dir/env"
  export SLURM_CONF=$conf

  # --- daemons, in the foreground of background shells, PIDs recorded -----------------
  ISW_SLURM_DAEMON="$dir" setsid slurmctld -D -i -f "$conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
  echo $! >"$dir/slurmctld.pid"
  for ((n = 1; n <= nodes; n++)); do
    mkdir -p "$dir/spool/n$n" "$dir/tmp/n$n"
    ISW_SLURM_DAEMON="$dir" setsid slurmd -D -f "$conf" -N "n$n" </dev/null >>"$dir/log/slurmd.n$n.out" 2>&1 &
    echo $! >"$dir/slurmd.n$n.pid"
  done

  if [[ -n $owner ]]; then
    # Watchdog: stop everything if the owner dies without calling stop.
    # shellcheck disable=SC2016  # $1 and $2 expand in the watchdog's shell
    ISW_SLURM_WATCHDOG="$dir" setsid bash -c '
      while kill -0 '"$owner"' 2>/dev/null && [[ -e "$1/slurm.conf" ]]; do sleep 1; done
      [[ -e "$1/slurm.conf" ]] && exec "$2" stop "$1" --remove --from-watchdog' _ "$dir" "$SELF" \
      </dev/null >>"$dir/log/watchdog.out" 2>&1 &
    echo $! >"$dir/watchdog.pid"
  fi

  # --- wait until every node is idle -------------------------------------------------
  local t0=$SECONDS state=""
  while ((SECONDS - t0 < 60)); do
    state=$(sinfo -h -N -o '%N %t' 2>/dev/null | sort -u | tr '\n' ' ') || true
    if [[ -n $state ]] && ! grep -qv idle <<<"$(sinfo -h -N -o '%t' 2>/dev/null)"; then
      echo "export SLURM_CONF=$conf"
      say "up in $((SECONDS - t0)) s: $state"
      return 0
    fi
    for f in "$dir"/slurmctld.pid "$dir"/slurmd.n*.pid; do
      kill -0 "$(cat "$f")" 2>/dev/null || start_failed "$dir" "$(basename "$f" .pid) died during start-up"
    done
    sleep 0.2
  done
  start_failed "$dir" "nodes not idle after 60 s: $state"
}

# Show the daemons' last log lines, stop what was started, and fail.
start_failed() {
  tail -n 30 "$1"/log/*.log "$1"/log/*.out >&2 2>/dev/null
  cmd_stop "$1" >&2 || true
  die "$2"
}

# Send TERM to the daemons named by PID files, wait up to $1 s for all, then KILL the
# rest.  Prints the names of those that needed KILL.
stop_daemons() {
  local wait=$1 f i alive
  shift
  local -A pids=()
  for f in "$@"; do
    [[ -f $f ]] || continue
    pids[$(basename "$f" .pid)]=$(cat "$f")
    kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  for ((i = 0; i < wait * 10; i++)); do
    alive=0
    for f in "${pids[@]}"; do kill -0 "$f" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for f in "${!pids[@]}"; do
    if kill -0 "${pids[$f]}" 2>/dev/null; then
      kill -KILL "${pids[$f]}" 2>/dev/null || true
      echo "$f"
    fi
  done
  rm -f "$@"
}

cmd_stop() {
  local dir="" remove=0 watchdog=0 rc=0
  while (($#)); do
    case $1 in
      --remove) remove=1; shift ;;
      --from-watchdog) watchdog=1; shift ;;
      -*) die "stop: unknown option $1" ;;
      *) dir=$1; shift ;;
    esac
  done
  [[ -n $dir && -d $dir ]] || die "stop needs the cluster's DIR"
  dir=$(cd "$dir" && pwd)
  export SLURM_CONF=$dir/slurm.conf
  if ((!watchdog)) && [[ -f $dir/watchdog.pid ]]; then
    kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
  fi
  # 1. jobs first, while the daemons still run
  local ctld_pid=""
  [[ -f $dir/slurmctld.pid ]] && ctld_pid=$(cat "$dir/slurmctld.pid")
  if [[ -n $ctld_pid ]] && kill -0 "$ctld_pid" 2>/dev/null; then
    local jobs i
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      say "cancelling jobs: ${jobs//$'\n'/ }"
      # shellcheck disable=SC2086  # one argument per job id
      timeout 10 scancel --full $jobs 2>/dev/null || true
      for ((i = 0; i < 150; i++)); do
        [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null) ]] && break
        sleep 0.2
      done
    fi
  fi
  # 2. the daemons by PID, all at once (each takes a second or two to exit)
  local killed
  killed=$(stop_daemons 15 "$dir"/slurmd.n*.pid "$dir"/slurmctld.pid "$dir"/munged.pid)
  if [[ -n $killed ]]; then say "needed SIGKILL: ${killed//$'\n'/ }"; rc=1; fi
  # 3. anything of this cluster still alive: a slurmstepd (inherits the daemons'
  #    marker) or a job process (carries SLURM_CONF of this cluster and a job id)
  local left=() pid
  for pid in $(pids_with_env ISW_SLURM_DAEMON "$dir") $(pids_with_env SLURM_CONF "$dir/slurm.conf"); do
    [[ -r /proc/$pid/environ ]] || continue
    if grep -qz -e '^ISW_SLURM_DAEMON=' -e '^SLURM_JOB_ID=' "/proc/$pid/environ" 2>/dev/null; then
      left+=("$pid")
    fi
  done
  if ((${#left[@]})); then
    say "error: processes of the cluster left after stop:"
    for pid in "${left[@]}"; do
      say "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
      kill -KILL "$pid" 2>/dev/null || true
    done
    rc=1
  fi
  if ((remove)); then rm -rf "$dir"; fi
  ((watchdog)) && say "stopped by the watchdog (its owner ended)"
  return $rc
}

case ${1:-} in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,24p' "$SELF" >&2; exit 2 ;;
esac
