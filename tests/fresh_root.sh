#!/usr/bin/env bash
# Run the README's test command (tests/run.sh) on a clean clone inside a brand-new Debian 12
# root, as on a fresh machine: only what jobs/install-deps.sh installs is there.
#
#   tests/fresh_root.sh [options] [COMMIT_OR_BRANCH] [-- ARGS for tests/run.sh]
#       COMMIT_OR_BRANCH   what to test (default HEAD of this checkout)
#       --repo PATH        the git repository to clone (default: this checkout's)
#       --root DIR         build the root in DIR (must not exist, or be empty; default a new
#                          /var/tmp/isweep-fresh.XXXXXX)
#       --log FILE         the run's log (default DIR.log, beside the root)
#       --keep             keep the root afterwards (unmounted) for a look inside
#
# Needs root and mmdebstrap (installed with apt-get when missing).  The root is made with
# `mmdebstrap --variant=apt bookworm` (bookworm, bookworm-updates, bookworm-security) and
# gets proc; sys as a recursive bind (with the machine's cgroup file system: slurmd needs
# it); binds of /dev and /dev/pts; tmpfs on /dev/shm and /tmp; the installer's /etc/hosts.  The commit
# is cloned into DIR/proj by the machine's git, and `cd /proj && bash tests/run.sh` runs
# there under chroot with a clean environment, its output teed to the log.  Everything
# runs in a private mount namespace.  On exit every process left in the root (SLURM and
# munge daemons) is killed, everything mounted under DIR is unmounted (lazily if busy) and
# DIR is removed -- never while anything is still mounted under it.
# Prints the ctest summary and the result; exits with tests/run.sh's status (2: usage).
# shellcheck disable=SC2317  # cleanup and its helpers run from the EXIT trap
set -euo pipefail

SELF=$(readlink -f "$0")
say() { echo "fresh_root: $*" >&2; }
die() { say "error: $1"; exit "${2:-1}"; }
usage() { sed -n '2,22p' "$SELF" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap, mount, chroot)" 2
# A private mount namespace: nothing mounted below can propagate to the machine's own /dev
# or /tmp, and whatever a crash leaves mounted goes away with the namespace.
if [[ -z ${ISW_FRESH_NS:-} ]]; then
  command -v unshare >/dev/null || die "unshare (util-linux) not found"
  ISW_FRESH_NS=1 exec unshare --mount --propagation private -- bash "$SELF" "$@"
fi

repo="" root="" log="" keep=0 ref=HEAD run_args=()
while (($#)); do
  case $1 in
    --repo) (($# >= 2)) || usage; repo=$2; shift 2 ;;
    --root) (($# >= 2)) || usage; root=$2; shift 2 ;;
    --log) (($# >= 2)) || usage; log=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; run_args=("$@"); break ;;
    -h | --help) usage ;;
    -*) say "unknown option $1"; usage ;;
    *) ref=$1; shift ;;
  esac
done

# --- what to test ------------------------------------------------------------------------
# (names are resolved in this checkout, a worktree's HEAD included; the clone is made from
# its repository, which holds every commit)
where=${repo:-$(dirname "$SELF")}
[[ -n $repo ]] || repo=$(git -C "$where" rev-parse --path-format=absolute --git-common-dir) ||
  die "$where is not in a git checkout: give --repo" 2
commit=$(git -C "$where" rev-parse --verify --quiet "$ref^{commit}") ||
  die "$ref is not a commit of $where" 2

# --- the root ----------------------------------------------------------------------------
made_root=0
if [[ -z $root ]]; then
  root=$(mktemp -d /var/tmp/isweep-fresh.XXXXXX)
  made_root=1
else
  [[ $root == /* ]] || root=$PWD/$root
  [[ $root != *[[:space:]]* ]] || die "--root must not contain white space" 2
  case $(realpath -m "$root") in
    / | /tmp | /tmp/*) die "keep the root out of / and /tmp (shared): use /var/tmp" 2 ;;
  esac
  if [[ -e $root ]]; then
    [[ -d $root && -z $(ls -A "$root") ]] || die "--root $root exists and is not an empty folder" 2
  else
    mkdir "$root"
  fi
  made_root=1
  root=$(cd "$root" && pwd -P)
fi
[[ -n $log ]] || log=$root.log

# Mount points at or under the root, deepest last (the order /proc/self/mountinfo has them).
mounts_under_root() {
  local mp
  while read -r _ _ _ _ mp _; do
    mp=${mp//\\040/ }
    if [[ $mp == "$root" || $mp == "$root"/* ]]; then echo "$mp"; fi
  done </proc/self/mountinfo
  return 0
}

# Processes whose root directory is the fresh root (daemons the tests left behind).
pids_in_root() {
  local d r
  for d in /proc/[0-9]*; do
    r=$(readlink "$d/root" 2>/dev/null) || continue
    if [[ $r == "$root" ]]; then echo "${d#/proc/}"; fi
  done
  return 0
}

cleanup() {
  local rc=$? pids i mp left
  trap - EXIT INT TERM HUP
  set +e
  pids=$(pids_in_root | tr '\n' ' ')
  if [[ -n ${pids// /} ]]; then
    say "stopping processes left in the root: $pids"
    # shellcheck disable=SC2086  # one argument per pid
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [[ -z $(pids_in_root) ]] && break; sleep 0.1; done
    pids=$(pids_in_root | tr '\n' ' ')
    # shellcheck disable=SC2086
    [[ -z ${pids// /} ]] || { say "SIGKILL: $pids"; kill -KILL $pids 2>/dev/null || true; sleep 0.5; }
  fi
  for mp in $(mounts_under_root | tac); do
    umount "$mp" 2>/dev/null || { say "$mp busy: lazy unmount"; umount -l "$mp" || true; }
  done
  left=$(mounts_under_root)
  if [[ -n $left ]]; then
    say "still mounted, so $root is NOT removed: $left"
  elif ((keep)); then
    say "kept the root: $root"
  elif ((made_root)); then
    say "removing $root"
    # --one-file-system as a second guard: never descend into anything mounted there
    rm -rf --one-file-system "$root"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

t0=$SECONDS
command -v mmdebstrap >/dev/null || {
  say "installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
}
say "making a Debian 12 root in $root"
mirror=http://deb.debian.org/debian
mmdebstrap --quiet --variant=apt bookworm "$root" "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" "deb http://deb.debian.org/debian-security bookworm-security main" ||
  die "mmdebstrap failed"
[[ -s $root/etc/resolv.conf ]] || cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# the installer's /etc/hosts: the machine knows its own name
[[ -e $root/etc/hosts ]] || printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  "$(hostname)" >"$root/etc/hosts"

mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"  # with /sys/fs/cgroup, as a booted machine has it
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"  # apt logs through a pty
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"

say "cloning $commit of $repo into $root/proj"
git clone -q --no-checkout "$repo" "$root/proj"
git -C "$root/proj" checkout -q --detach "$commit"

say "running tests/run.sh ${run_args[*]} in the root (log: $log)"
set +e
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c 'cd /proj && exec bash tests/run.sh "$@"' _ "${run_args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1 || true)
say "${summary:-no ctest summary in the log}"
say "$( ((rc == 0)) && echo PASS || echo FAIL): tests/run.sh at ${commit:0:12} exited $rc after $((SECONDS - t0)) s; log: $log"
exit "$rc"
