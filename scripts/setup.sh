#!/usr/bin/env bash
# Installs the Debian packages l2o needs to build, test and run (idempotent; root or sudo).
# The CUDA toolkit is not installed here: without nvcc l2o builds its CPU backend only.
set -euo pipefail
packages=(cmake make g++ libgtest-dev libbenchmark-dev zlib1g-dev libopenblas-dev
          dataset-fashion-mnist python3 pkg-config binutils)
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
