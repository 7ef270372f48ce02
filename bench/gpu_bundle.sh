#!/usr/bin/env bash
# Makes the dependency bundle that bench/gpu_check.sh carries to a GPU machine without a
# package registry: the Debian packages l2o's build, tests, benchmarks and Fashion-MNIST
# meta-training need beyond a CUDA image (nvcc, CMake, a C++ compiler), downloaded as .deb
# files with `apt-get download` (nothing is installed) into one git-ignored folder,
# ~45 MB in all. Run it on a Debian machine with network access; it is idempotent.
#   bash bench/gpu_bundle.sh [DIR]        (default: .gpu-bundle in the repository root)
# docs/gpu.md says how the bundle travels and how gpu_check.sh unpacks it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.gpu-bundle}
# Each line: a package and what it brings. Runtime libraries of the -dev packages come
# with them (dpkg -x does not resolve dependencies).
packages=(
  libgtest-dev          # GoogleTest: headers, static libraries, CMake package
  libbenchmark-dev      # Google Benchmark: headers, CMake package
  libbenchmark1debian   #   its shared library
  libopenblas-pthread-dev  # OpenBLAS: cblas.h, libopenblas.so, CMake package
  libopenblas0-pthread  #   its shared library
  libgfortran5          #   which needs the Fortran runtime
  libquadmath0          #   which needs libquadmath
  zlib1g-dev            # zlib: zlib.h, libz.so
  zlib1g                #   its shared library
  dataset-fashion-mnist # the MLP optimizee's data (IDX files, gzipped)
)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
missing=()
for p in "${packages[@]}"; do
  compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  echo "l2o gpu bundle: downloading ${missing[*]}"
  # apt's sandbox user may not write here: download into a temporary folder it owns.
  tmp=$(mktemp -d)
  chmod 777 "$tmp"
  (cd "$tmp" && apt-get download -q "${missing[@]}" 2>&1 | grep -v "unsandboxed" || true)
  mv "$tmp"/*.deb "$dir"/
  rmdir "$tmp" 2>/dev/null || rm -rf "$tmp"
fi
for p in "${packages[@]}"; do
  compgen -G "$dir/${p}_*.deb" >/dev/null || {
    echo "l2o gpu bundle: $p was not downloaded" >&2
    exit 1
  }
done
# Where the bundle came from, for the check's log.
(
  for f in "$dir"/*.deb; do dpkg-deb -f "$f" Package Version | paste -sd' '; done
) >"$dir/MANIFEST"
echo "l2o gpu bundle: $(ls "$dir"/*.deb | wc -l) packages, $(du -sh "$dir" | cut -f1) in $dir"
