# Sourced by bench/gpu_check.sh and bench/gpu_rehearsal.sh: makes l2o's build find each
# dependency in the system where it is installed, else in the bundle of bench/gpu_bundle.sh.
#   l2o_deps BUNDLE_DIR
# unpacks the bundle's .deb files with `dpkg -x` (or `ar` + `tar` where dpkg is missing)
# into build-gpu-deps/ (L2O_DEPS_ROOT; never into /, and outside the bundle so that the
# bundle travels as the .deb files alone), and sets
#   L2O_DEPS_CMAKE   array of CMake arguments (per-package hints, not a global prefix,
#                    so that a package the system has is taken from the system)
#   L2O_DEPS_REPORT  one line: where each dependency comes from
#   LD_LIBRARY_PATH  extended only by the runtime libraries the system lacks
#   L2O_FASHION_MNIST_DIR  when the data comes from the bundle
# With L2O_BUNDLE_ONLY=1 every dependency comes from the bundle and CMake ignores /usr
# and /usr/local (the rehearsal: proves the bundle alone is enough).

l2o_unpack_deb() {  # DEB DEST
  if command -v dpkg >/dev/null 2>&1; then
    dpkg -x "$1" "$2"
  else
    local t
    t=$(mktemp -d)
    (cd "$t" && ar x "$1" && tar -xf data.tar.* -C "$2")
    rm -rf "$t"
  fi
}

l2o_deps() {
  local bundle=$1 root arch have_bundle=0 only=${L2O_BUNDLE_ONLY:-0}
  L2O_DEPS_CMAKE=()
  L2O_DEPS_REPORT=""
  arch=x86_64-linux-gnu
  if compgen -G "$bundle/*.deb" >/dev/null; then
    have_bundle=1
    bundle=$(cd "$bundle" && pwd)
    mkdir -p "${L2O_DEPS_ROOT:-build-gpu-deps}"
    root=$(cd "${L2O_DEPS_ROOT:-build-gpu-deps}" && pwd)
    if [ ! -f "$root/.unpacked" ] || [ -n "$(find "$bundle" -maxdepth 1 -name '*.deb' -newer "$root/.unpacked")" ]; then
      rm -rf "$root"
      mkdir -p "$root"
      local deb
      for deb in "$bundle"/*.deb; do l2o_unpack_deb "$deb" "$root" || return 1; done
      # Absolute links (zlib1g-dev's libz.so -> /lib/...) would point into the system:
      # point them into the bundle instead.
      local link target
      while IFS= read -r link; do
        target=$(readlink "$link")
        case $target in /*) [ -e "$root$target" ] && ln -sfn "$root$target" "$link" ;; esac
      done < <(find "$root" -type l)
      touch "$root/.unpacked"
    fi
  fi
  # dep NAME SYSTEM_TEST -> "system" | "bundle" | "missing"
  local where
  pick() {
    if [ "$only" != 1 ] && eval "$2" >/dev/null 2>&1; then
      where=system
    elif [ $have_bundle = 1 ]; then
      where=bundle
    else
      where=missing
    fi
    L2O_DEPS_REPORT+="$1 $where; "
  }
  local sys_inc="/usr/include /usr/local/include"
  pick gtest "ls $sys_inc 2>/dev/null | grep -qx gtest"
  [ $where = bundle ] && L2O_DEPS_CMAKE+=("-DGTest_DIR=$root/usr/lib/$arch/cmake/GTest")
  pick benchmark "ls $sys_inc 2>/dev/null | grep -qx benchmark"
  [ $where = bundle ] && L2O_DEPS_CMAKE+=("-Dbenchmark_DIR=$root/usr/lib/$arch/cmake/benchmark")
  pick zlib "[ -f /usr/include/zlib.h ] || [ -f /usr/local/include/zlib.h ]"
  [ $where = bundle ] && L2O_DEPS_CMAKE+=("-DZLIB_ROOT=$root/usr")
  pick openblas "ldconfig -p | grep -q 'libopenblas\.so' && find /usr/include /usr/local/include -name cblas.h | grep -q ."
  [ $where = bundle ] && L2O_DEPS_CMAKE+=("-DCMAKE_LIBRARY_PATH=$root/usr/lib/$arch/openblas-pthread")
  local blas_from=$where
  pick fashion-mnist "[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]"
  [ $where = bundle ] && export L2O_FASHION_MNIST_DIR=$root/usr/share/datasets/fashion-mnist
  # OpenBLAS's own runtime needs: only what the system lacks goes on LD_LIBRARY_PATH, from
  # a folder holding just those libraries (never the bundle's whole lib folder).
  if [ "$blas_from" = bundle ]; then
    local libs="$root/l2o-libs" lib
    mkdir -p "$libs"
    for lib in libgfortran.so.5 libquadmath.so.0; do
      if [ "$only" = 1 ] || ! ldconfig -p | grep -q "$lib "; then
        ln -sfn "$root/usr/lib/$arch/$lib" "$libs/$lib"
        L2O_DEPS_REPORT+="$lib bundle; "
      fi
    done
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  [ "$only" = 1 ] && L2O_DEPS_CMAKE+=("-DCMAKE_IGNORE_PREFIX_PATH=/usr;/usr/local")
  # NCCL (the GPU exchange of data-parallel meta-training): the CUDA toolkit's, else the
  # nvidia-nccl Python wheel's (nvidia/nccl/{include,lib}); optional: without it the build
  # leaves the NCCL exchange out and its test skips.
  local nccl_root=""
  if ! compgen -G "/usr/local/cuda/include/nccl.h" >/dev/null && [ ! -f /usr/include/nccl.h ]; then
    nccl_root=$("${PYTHON:-python3}" -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
    [ -n "$nccl_root" ] && [ ! -f "$nccl_root/include/nccl.h" ] && nccl_root=""
  fi
  if [ -n "$nccl_root" ]; then
    L2O_DEPS_CMAKE+=("-DL2O_NCCL_ROOT=$nccl_root")
    export LD_LIBRARY_PATH="$nccl_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    L2O_DEPS_REPORT+="nccl python-wheel; "
  elif compgen -G "/usr/local/cuda/include/nccl.h" >/dev/null || [ -f /usr/include/nccl.h ]; then
    L2O_DEPS_REPORT+="nccl system; "
  else
    L2O_DEPS_REPORT+="nccl absent (optional); "
  fi
  case $L2O_DEPS_REPORT in *missing*) return 2 ;; esac
  return 0
}
