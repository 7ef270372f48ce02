#!/usr/bin/env bash
# Installs the Debian packages l2o needs to build, test and run (idempotent; root or sudo).
# The CUDA toolkit is not installed here: without nvcc l2o builds its CPU backend only.
set -euo pipefail
packages=(cmake make g++ libgtest-dev libbenchmark-dev zlib1g-dev libopenblas-dev
          dataset-fashion-mnist python3 pkg-config binutils
          python3-dev python3-pip python3-numpy python3-pytest python3-torch
          clang libclang-rt-14-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "l2o setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
sudo_pip=""
[ "$(id -u)" -eq 0 ] || sudo_pip="sudo"
# The Python package's build tools, into Debian's python3 (the one python3-torch serves),
# from PyPI: Debian 12 packages neither nanobind nor scikit-build-core.
py=/usr/bin/python3
if ! $py -c "import nanobind, scikit_build_core" 2>/dev/null; then
  echo "l2o setup: pip install nanobind scikit-build-core"
  $sudo_pip $py -m pip install -q --break-system-packages --root-user-action=ignore \
    "nanobind>=2.0" "scikit-build-core>=0.8"
fi

