#!/usr/bin/env bash
# Install isweep's build and test dependencies from Debian 12's packages
# (needs root, or sudo).  Does nothing when everything is there already.
#   jobs/install-deps.sh               build, run, report
#   jobs/install-deps.sh --with-slurm  also SLURM and munge, for the SLURM tests
set -euo pipefail
pkgs=(build-essential cmake pkg-config git openmpi-bin libopenmpi-dev libhdf5-openmpi-dev
      hdf5-tools libscalapack-openmpi-dev libopenblas-dev liblapacke-dev libcunit1-dev
      libinih-dev zlib1g-dev python3-h5py python3-numpy python3-pandas python3-scipy
      python3-matplotlib python3-xarray python3-h5netcdf)
[[ ${1:-} == --with-slurm ]] && pkgs+=(slurm-wlm slurmctld slurmd slurm-client munge)
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
