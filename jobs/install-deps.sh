#!/usr/bin/env bash
# Install isweep's build and test dependencies from Debian 12's packages
# (needs root, or sudo).  Does nothing when everything is there already.
#   jobs/install-deps.sh                build, run, report, the Python analysis and tests
#   jobs/install-deps.sh --with-slurm   also SLURM and munge, for the SLURM tests
#   jobs/install-deps.sh --with-torch   also PyTorch (optional imports)
#   jobs/install-deps.sh --list [--with-...]  print the packages those options install,
#                                       one a line, and install nothing
#   jobs/install-deps.sh --optional     print each optional group: OPTION PACKAGE...
# tests/check_deps.py (ctest deps_installed) checks that every Python module and program the
# tests use comes from a package listed here: add a new dependency here, not by hand.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git openmpi-bin libopenmpi-dev libhdf5-openmpi-dev
      hdf5-tools libscalapack-openmpi-dev libopenblas-dev liblapacke-dev libcunit1-dev
      libinih-dev libjansson-dev zlib1g-dev python3-h5py python3-numpy python3-pandas python3-scipy
      python3-matplotlib python3-xarray python3-h5netcdf mount strace)
declare -A optional=(
  [--with-slurm]="slurm-wlm slurmctld slurmd slurm-client munge"
  [--with-torch]="python3-torch"
)
list=0
for a in "$@"; do
  case $a in
    --list) list=1 ;;
    --optional)
      for o in "${!optional[@]}"; do echo "$o ${optional[$o]}"; done | sort
      exit 0 ;;
    --with-*)
      [[ -n ${optional[$a]:-} ]] || { echo "install-deps: unknown option $a" >&2; exit 2; }
      read -ra more <<<"${optional[$a]}"
      pkgs+=("${more[@]}") ;;
    *) echo "install-deps: unknown option $a (see the head of $0)" >&2; exit 2 ;;
  esac
done
if ((list)); then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  # keep the packages' services (munge, slurmctld, slurmd) from starting on install:
  # the SLURM tests start a private cluster of their own
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
