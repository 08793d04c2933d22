/// @file The one place that includes oneDNN: its matrix product C (M, N) float32 = A (M, K) · B (N, K)^T, the
/// CPU's native bf16 product (kernels/ref/matmul_path.hpp says when it runs).
///
/// Why oneDNN: on CPUs with AVX-512 BF16 or AMX it multiplies bf16 pairs into float32 sums in hardware (what torch's
/// bf16 CPU path runs); OpenBLAS 0.3.21 (Debian 12) has no bf16 product. oneDNN 2.6 refuses bf16 on CPUs without
/// AVX-512, so the same wrapper also takes float32 operands: that instantiation runs on every CPU and tests the
/// shapes, strides and primitive cache that the bf16 one shares.
///
/// Threads: the primitives run inside ptq's own OpenMP regions (one panel per thread, kernels/ref/linear.hpp), where
/// oneDNN's OpenMP build runs single-threaded, so a product's summation order never depends on the thread count.
#pragma once

#include "ptq/core/numeric.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace ptq::ref::onednn {

/// An operand type the wrapper multiplies: bf16 (the native path) or float32 (the same code, testable anywhere).
template <class T>
concept Operand = std::same_as<T, bf16> || std::same_as<T, float>;

inline const dnnl::engine& engine() {
  static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// The instruction set oneDNN dispatches to on this CPU.
inline std::string isa_name() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx2: return "avx2";
    default: return "older than avx2";
  }
}

/// "oneDNN 2.6.3 avx512_core_amx": the library and the kernels it chose, for records and benchmarks.
inline std::string describe() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("oneDNN {}.{}.{} {}", v->major, v->minor, v->patch, isa_name());
}

/// Whether this CPU multiplies bf16 in hardware: AVX-512 BF16 (vdpbf16ps) or AMX tiles. oneDNN also runs bf16 on
/// plain AVX-512 by emulation, slower than its float32 product, so that does not count.
inline bool native_bf16() {
  static const bool native = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16_isa = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16_isa) == bf16_isa;
  }();
  return native;
}

namespace detail {

template <Operand T>
constexpr dnnl::memory::data_type data_type() {
  return std::same_as<T, bf16> ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

/// A matmul primitive and its operands' descriptions.
struct Product {
  dnnl::memory::desc a, b, c;
  dnnl::matmul primitive;
};

/// A product per shape and leading dimensions, created once per thread (creating one costs tens of microseconds;
/// a panel product costs milliseconds, but decode-time products are small).
template <Operand T>
const Product& product(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t lda, std::int64_t ldb,
                       std::int64_t ldc) {
  using key_t = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
  thread_local std::map<key_t, Product> cache;
  const key_t key{m, n, k, lda, ldb, ldc};
  auto it = cache.find(key);
  if (it == cache.end()) {
    using dnnl::memory;
    const memory::desc a({m, k}, data_type<T>(), memory::dims{lda, 1});
    const memory::desc b({k, n}, data_type<T>(), memory::dims{1, ldb});  // B (N, K) row-major read as (K, N)
    const memory::desc c({m, n}, memory::data_type::f32, memory::dims{ldc, 1});
    dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), engine()));
    it = cache.emplace(key, Product{a, b, c, std::move(mm)}).first;
  }
  return it->second;
}

}  // namespace detail

/// C (M, N) = A (M, K) · B (N, K)^T, row-major with leading dimensions; C is overwritten.
template <Operand T>
void gemm_nt(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda, const T* b,
             std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  const detail::Product& p = detail::product<T>(m, n, k, lda, ldb, ldc);
  thread_local dnnl::stream stream(engine());
  // oneDNN takes non-const handles; it never writes the sources.
  dnnl::memory am(p.a, engine(), const_cast<T*>(a));
  dnnl::memory bm(p.b, engine(), const_cast<T*>(b));
  dnnl::memory cm(p.c, engine(), c);
  p.primitive.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  stream.wait();
}

}  // namespace ptq::ref::onednn
