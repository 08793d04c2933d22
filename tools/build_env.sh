# Sourced by tools/test.sh, sanitize.sh and fuzz.sh from the repository root: what every build of the scripts
# shares. ccache, when present, makes a rebuild of unchanged sources nearly free; CCACHE_BASEDIR makes its entries
# hold for any clone of the repository (CI builds a fresh clone, perhaps on a machine that built the same sources).
ptq_launcher=()
if command -v ccache > /dev/null; then
  ptq_launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$PWD"
fi
