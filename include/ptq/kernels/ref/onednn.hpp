/// @file The one place that includes oneDNN: its matrix product C (M, N) float32 = A (M, K) · B (N, K)^T, the
/// CPU's native bf16 product (kernels/ref/matmul_path.hpp says when it runs).
///
/// Why oneDNN: on CPUs with AVX-512 BF16 or AMX it multiplies bf16 pairs into float32 sums in hardware (what torch's
/// bf16 CPU path runs); OpenBLAS 0.3.21 (Debian 12) has no bf16 product. oneDNN 2.6 refuses bf16 on CPUs without
/// AVX-512, so the same wrapper also takes float32 operands: that instantiation runs on every CPU and tests the
/// shapes, strides and primitive cache that the bf16 one shares. Its C API, not dnnl.hpp: this header reaches every
/// translation unit that runs a linear, and dnnl.hpp's 13,000 lines cost each of them a second of compile time.
///
/// Threads: the primitives run inside ptq's own OpenMP regions (one panel per thread, kernels/ref/linear.hpp), where
/// oneDNN's OpenMP build runs single-threaded, so a product's summation order never depends on the thread count.
#pragma once

#include "ptq/core/numeric.hpp"
#include "ptq/core/status.hpp"

#include <oneapi/dnnl/dnnl.h>

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

namespace detail {

inline void ok(dnnl_status_t s, const char* what) {
  check(s == dnnl_success, "", "oneDNN", "{} failed (dnnl_status_t {})", what, static_cast<int>(s));
}

inline dnnl_engine_t engine() {
  static const dnnl_engine_t e = [] {
    dnnl_engine_t made = nullptr;
    ok(dnnl_engine_create(&made, dnnl_cpu, 0), "creating the CPU engine");
    return made;  // lives as long as the process
  }();
  return e;
}

}  // namespace detail

/// The instruction set oneDNN dispatches to on this CPU.
inline std::string isa_name() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
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
    const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    const auto bf16_isa = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
    return (isa & bf16_isa) == bf16_isa;
  }();
  return native;
}

namespace detail {

/// A matmul primitive for one shape and its operands' memory objects (data handles set per call); one thread's.
class Product {
 public:
  Product(dnnl_data_type_t type, std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t lda, std::int64_t ldb,
          std::int64_t ldc) {
    dnnl_memory_desc_t a, b, c;
    const dnnl_dims_t a_dims{m, k}, a_strides{lda, 1};
    const dnnl_dims_t b_dims{k, n}, b_strides{1, ldb};  // B (N, K) row-major read as (K, N)
    const dnnl_dims_t c_dims{m, n}, c_strides{ldc, 1};
    ok(dnnl_memory_desc_init_by_strides(&a, 2, a_dims, type, a_strides), "describing A");
    ok(dnnl_memory_desc_init_by_strides(&b, 2, b_dims, type, b_strides), "describing B");
    ok(dnnl_memory_desc_init_by_strides(&c, 2, c_dims, dnnl_f32, c_strides), "describing C");
    dnnl_matmul_desc_t op;
    ok(dnnl_matmul_desc_init(&op, &a, &b, nullptr, &c), "describing the matmul");
    dnnl_primitive_desc_t pd = nullptr;
    ok(dnnl_primitive_desc_create(&pd, &op, nullptr, engine(), nullptr),
       fmt::format("finding a matmul for M {} N {} K {}", m, n, k).c_str());
    const dnnl_status_t made = dnnl_primitive_create(&primitive_, pd);
    dnnl_primitive_desc_destroy(pd);
    ok(made, "creating the matmul");
    ok(dnnl_memory_create(&memory_[0], &a, engine(), DNNL_MEMORY_NONE), "creating A's memory");
    ok(dnnl_memory_create(&memory_[1], &b, engine(), DNNL_MEMORY_NONE), "creating B's memory");
    ok(dnnl_memory_create(&memory_[2], &c, engine(), DNNL_MEMORY_NONE), "creating C's memory");
    ok(dnnl_stream_create(&stream_, engine(), dnnl_stream_default_flags), "creating a stream");
  }
  Product(const Product&) = delete;
  Product& operator=(const Product&) = delete;
  ~Product() {
    dnnl_stream_destroy(stream_);
    for (dnnl_memory_t mem : memory_) dnnl_memory_destroy(mem);
    dnnl_primitive_destroy(primitive_);
  }

  void run(const void* a, const void* b, float* c) {
    // oneDNN takes non-const handles; it never writes the sources.
    ok(dnnl_memory_set_data_handle(memory_[0], const_cast<void*>(a)), "binding A");
    ok(dnnl_memory_set_data_handle(memory_[1], const_cast<void*>(b)), "binding B");
    ok(dnnl_memory_set_data_handle(memory_[2], c), "binding C");
    const dnnl_exec_arg_t args[3]{{DNNL_ARG_SRC, memory_[0]}, {DNNL_ARG_WEIGHTS, memory_[1]}, {DNNL_ARG_DST, memory_[2]}};
    ok(dnnl_primitive_execute(primitive_, stream_, 3, args), "running the matmul");
    ok(dnnl_stream_wait(stream_), "waiting for the matmul");
  }

 private:
  dnnl_primitive_t primitive_ = nullptr;
  dnnl_memory_t memory_[3]{};
  dnnl_stream_t stream_ = nullptr;
};

/// The calling thread's product for a shape and leading dimensions, created on first use (creating one costs tens
/// of microseconds; a panel product costs milliseconds, but decode-time products are small).
template <Operand T>
Product& product(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t lda, std::int64_t ldb, std::int64_t ldc) {
  using key_t = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
  thread_local std::map<key_t, Product> cache;
  const key_t key{m, n, k, lda, ldb, ldc};
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.try_emplace(key, std::same_as<T, bf16> ? dnnl_bf16 : dnnl_f32, m, n, k, lda, ldb, ldc).first;
  return it->second;
}

}  // namespace detail

/// C (M, N) = A (M, K) · B (N, K)^T, row-major with leading dimensions; C is overwritten.
template <Operand T>
void gemm_nt(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda, const T* b,
             std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  detail::product<T>(m, n, k, lda, ldb, ldc).run(a, b, c);
}

}  // namespace ptq::ref::onednn
