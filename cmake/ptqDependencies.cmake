# Finds ptq's dependencies. Each failure names the Debian package that provides it (tools/setup.sh
# installs them all). Used by the build tree and by the installed ptqConfig.cmake.
include(CMakeFindDependencyMacro)

macro(ptq_require name debian_package)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "ptq: dependency ${name} not found. Install the Debian package "
                        "'${debian_package}' (or run tools/setup.sh).")
  endif()
endmacro()

ptq_require(fmt libfmt-dev)
ptq_require(Boost libboost1.81-dev 1.81 CONFIG)         # header-only use: Boost.PFR
ptq_require(nlohmann_json nlohmann-json3-dev 3.10)
ptq_require(OpenMP "g++ (libgomp)")

# BLAS: prefer Debian's OpenMP build of OpenBLAS so that BLAS calls made inside our OpenMP regions run
# single-threaded instead of starting a second thread pool. Its CMake package is not on the default path.
find_package(OpenBLAS CONFIG QUIET NO_DEFAULT_PATH
             PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp/cmake/openblas)
if(NOT OpenBLAS_FOUND)
  find_package(OpenBLAS CONFIG QUIET)
endif()
if(NOT OpenBLAS_FOUND)
  message(FATAL_ERROR "ptq: OpenBLAS not found. Install the Debian package 'libopenblas-openmp-dev' "
                      "(or run tools/setup.sh).")
endif()

# oneDNN: the bf16 matrix product on CPUs with AVX-512 BF16 / AMX (kernels/ref/onednn.hpp). Its package config
# looks for OpenCL (Debian builds it with the OpenCL GPU runtime; libdnnl-dev depends on the headers and loader).
ptq_require(dnnl libdnnl-dev CONFIG)

# Tokenizer: PCRE2 (pre-tokenizer regex, JIT) and utf8proc (NFC), through pkg-config.
find_package(PkgConfig QUIET)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "ptq: pkg-config not found. Install the Debian package 'pkg-config' (or run tools/setup.sh).")
endif()
pkg_check_modules(PTQ_PCRE2 QUIET IMPORTED_TARGET GLOBAL libpcre2-8)
if(NOT PTQ_PCRE2_FOUND)
  message(FATAL_ERROR "ptq: PCRE2 not found. Install the Debian package 'libpcre2-dev' (or run tools/setup.sh).")
endif()
pkg_check_modules(PTQ_UTF8PROC QUIET IMPORTED_TARGET GLOBAL libutf8proc)
if(NOT PTQ_UTF8PROC_FOUND)
  message(FATAL_ERROR "ptq: utf8proc not found. Install the Debian package 'libutf8proc-dev' (or run tools/setup.sh).")
endif()
