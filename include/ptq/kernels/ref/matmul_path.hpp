/// @file Which product the CPU's linears and lm_head run: float32 (OpenBLAS sgemm) or bf16 (bf16 operands, float32
/// sums), chosen once per process from the CPU's features.
///
/// bf16 is the default where the CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX, through oneDNN): the
/// checkpoints are bf16 and torch runs them there twice as fast as in float32. Everywhere else float32 is the
/// default. PTQ_MATMUL=f32|bf16|auto (environment) overrides the choice; bf16 on a CPU without native bf16 runs
/// emulated: the same bf16-rounded operands widened to float32 (exact) and multiplied by OpenBLAS, so it computes
/// what the native product computes up to the summation order. Tests use the emulation to check the bf16 path on
/// every CPU; tolerances against the float32 path and transformers' float32 logits: docs/reliability.md.
#pragma once

#include "ptq/core/status.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/kernels/ref/onednn.hpp"

#include <cstdlib>
#include <string>
#include <string_view>

namespace ptq::ref {

enum class MatmulPath { kF32, kBf16 };

inline std::string_view matmul_path_name(MatmulPath p) { return p == MatmulPath::kBf16 ? "bf16" : "f32"; }

/// "f32", "bf16" or "auto" (bf16 where the CPU has native bf16, f32 elsewhere); anything else is refused naming
/// `what` (the variable or option it came from).
inline MatmulPath parse_matmul_path(std::string_view v, std::string_view what) {
  if (v == "f32") return MatmulPath::kF32;
  if (v == "bf16") return MatmulPath::kBf16;
  check(v == "auto", "", std::string(what), "'{}' is not a matrix product path (f32, bf16 or auto)", v);
  return onednn::native_bf16() ? MatmulPath::kBf16 : MatmulPath::kF32;
}

/// The path PTQ_MATMUL asks for (unset: auto).
inline MatmulPath default_matmul_path() {
  const char* env = std::getenv("PTQ_MATMUL");
  return parse_matmul_path(env ? env : "auto", "PTQ_MATMUL");
}

namespace detail {
inline MatmulPath& matmul_path_slot() {
  static MatmulPath path = default_matmul_path();
  return path;
}
}  // namespace detail

/// The path every dense and packed linear product takes (not the attention or GPTQ's float32 algebra).
inline MatmulPath matmul_path() { return detail::matmul_path_slot(); }

/// Sets the path for the rest of the process (tests, benchmarks); not while a product runs.
inline void set_matmul_path(MatmulPath p) { detail::matmul_path_slot() = p; }

/// The path and what runs it: "f32 (OpenBLAS ...)", "bf16 (oneDNN 2.6.3 avx512_core_amx)" or "bf16 (emulated ...)".
/// Records carry it (environment.matmul): a results digest holds for one path on one kind of CPU.
inline std::string matmul_path_info() {
  if (matmul_path() == MatmulPath::kF32) return fmt::format("f32 ({})", openblas_get_config());
  if (onednn::native_bf16()) return fmt::format("bf16 ({})", onednn::describe());
  return fmt::format("bf16 (emulated on {}: bf16 operands, OpenBLAS float32 product)", onednn::isa_name());
}

}  // namespace ptq::ref
