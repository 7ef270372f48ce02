#!/usr/bin/env bash
# Builds and tests l2o in two configurations, installs each and builds a consumer project
# against the installed package (examples/consumer), and checks a shared CPU-only library
# and l2o taken as a subproject:
#   build/      the CUDA-enabled build (every .cu file compiled and linked; the GPU tests
#               run where a device is present and skip visibly elsewhere) — needs nvcc;
#   build-cpu/  the CPU-only build (L2O_CUDA=OFF), which must not need CUDA at all;
# then the Python package (pip install .) and its pytest suite.
# Set L2O_REQUIRE_CUDA=1 to fail when nvcc is missing instead of skipping that build.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}

configure() {
  local dir=$1
  shift
  echo "== l2o: configure $dir ($*)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
}

# Installs the build into DIR/install and builds and runs examples/consumer against it,
# with CMake's find_package and with pkg-config.
consume_installed() {
  local dir=$1 prefix
  prefix=$(pwd)/$dir/install
  echo "== l2o: install $dir and build a consumer against it"
  rm -rf "$prefix" "$dir/consumer"
  cmake --install "$dir" --prefix "$prefix" >/dev/null
  cmake -S examples/consumer -B "$dir/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$dir/consumer.configure.log" 2>&1 ||
    { cat "$dir/consumer.configure.log"; exit 1; }
  cmake --build "$dir/consumer" -j "$jobs" >/dev/null
  "$dir/consumer/l2o_consumer"
  local pc=(pkg-config --cflags --libs l2o)
  [ -f "$prefix/lib/libl2o.a" ] && pc+=(--static)
  # shellcheck disable=SC2046
  c++ -std=c++17 -O1 examples/consumer/main.cpp -o "$dir/consumer/l2o_consumer_pc" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" "${pc[@]}") -Wl,-rpath,"$prefix/lib"
  "$dir/consumer/l2o_consumer_pc" >/dev/null && echo "pkg-config consumer: ok"
}

configure_build_test() {
  local dir=$1
  configure "$@"
  echo "== l2o: build $dir"
  cmake --build "$dir" -j "$jobs"
  consume_installed "$dir"
  echo "== l2o: test $dir"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

mkdir -p build build-cpu
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="$PATH:/usr/local/cuda/bin"
  configure_build_test build -DL2O_CUDA=ON
elif [ "${L2O_REQUIRE_CUDA:-0}" = 1 ]; then
  echo "l2o: nvcc not found and L2O_REQUIRE_CUDA=1" >&2
  exit 1
else
  echo "== l2o: nvcc not found: skipping the CUDA-enabled build"
fi
# A shared libl2o (CPU-only) exports its API and nothing else; a project that takes the
# source tree with add_subdirectory gets the library without tests or benchmarks.
configure build-shared -DL2O_CUDA=OFF -DBUILD_SHARED_LIBS=ON -DL2O_BUILD_TESTS=OFF \
  -DL2O_BUILD_BENCH=OFF -DL2O_BUILD_EXAMPLES=OFF
cmake --build build-shared -j "$jobs" >/dev/null
consume_installed build-shared
# Internal: a symbol whose own name (not its argument types) is in l2o::detail or kernels.
leaked=$(nm -DC --defined-only build-shared/install/lib/libl2o.so | sed 's/(.*//' |
  grep -cE 'l2o::(detail|kernels)::' || true)
echo "shared libl2o: $(nm -DC --defined-only build-shared/install/lib/libl2o.so | grep -c ' l2o::') l2o symbols exported, $leaked internal"
[ "$leaked" = 0 ] || { echo "l2o: the shared library exports internal symbols" >&2; exit 1; }
echo "== l2o: examples/consumer with l2o as a subproject (add_subdirectory)"
cmake -S examples/consumer -B build-subproject -DL2O_SOURCE_DIR="$(pwd)" -DL2O_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=Release >build-subproject.configure.log 2>&1 ||
  { cat build-subproject.configure.log; exit 1; }
cmake --build build-subproject -j "$jobs" >/dev/null
build-subproject/l2o_consumer >/dev/null && echo "subproject consumer: ok"
configure_build_test build-cpu -DL2O_CUDA=OFF
# The Python package (with the CUDA backend where nvcc is), installed into Debian's
# python3, and its tests; L2O_CLI lets them check that a phi trained in Python is used by
# the command line.
echo "== l2o: pip install . and pytest (python/tests)"
py=/usr/bin/python3
$py -m pip install -v --break-system-packages --no-build-isolation . >build-python.log 2>&1 ||
  { tail -40 build-python.log; exit 1; }
(cd "$(mktemp -d)" && L2O_CLI="$OLDPWD/build-cpu/l2o" $py -m pytest -rs -q "$OLDPWD/python/tests")
