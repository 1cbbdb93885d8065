#!/usr/bin/env bash
# The README's test command: install what is missing (Debian 12, as root),
# build, and run the whole test suite through ctest (benchmarks excluded:
# run them with `ctest --test-dir build -L bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/install-deps.sh --with-slurm
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)"
export OPENBLAS_NUM_THREADS=1
ctest --test-dir build --output-on-failure -LE bench "$@"
