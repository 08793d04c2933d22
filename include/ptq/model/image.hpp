/// @file A model as plain data for another device: shapes, and borrowed pointers to the host tensors (stored dtype,
/// packed codes as they are). Built from a loaded Qwen2Model by image_of (model/image_of.hpp, C++ compiler), read by
/// the GPU model (model/cuda/qwen2.cuh, nvcc). No library types cross: nvcc never compiles ptq's host headers.
/// Every pointer borrows from the Qwen2Model (and its mapped checkpoint), which must outlive the image's use.
#pragma once

#include "ptq/scheme/packed_layout.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ptq {

enum class RawDtype : std::uint8_t { kF32, kF16, kBF16 };

struct RawTensor {         // a dense row-major matrix in its stored dtype
  const void* data = nullptr;
  std::int64_t rows = 0, cols = 0;
  RawDtype dtype = RawDtype::kBF16;
};

struct LinearImage {
  std::string name;                         // checkpoint name, for messages
  RawTensor dense;                          // (out, in) when not packed
  PackedView packed;                        // when packed.bits != 0
  const float* bias = nullptr;              // (out) or null
  [[nodiscard]] bool is_packed() const { return packed.bits != 0; }
  [[nodiscard]] std::int64_t out_features() const { return is_packed() ? packed.n : dense.rows; }
  [[nodiscard]] std::int64_t in_features() const { return is_packed() ? packed.k : dense.cols; }
};

struct LayerImage {
  const float* input_layernorm = nullptr;            // (H)
  LinearImage q_proj, k_proj, v_proj, o_proj;
  const float* post_attention_layernorm = nullptr;   // (H)
  LinearImage gate_proj, up_proj, down_proj;
};

struct ModelImage {
  std::int64_t hidden_size = 0, intermediate_size = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab_size = 0;
  double rope_theta = 0, rms_norm_eps = 0;
  RawTensor embed_tokens;                   // (V, H)
  std::vector<LayerImage> layers;
  const float* norm = nullptr;              // (H)
  RawTensor lm_head;                        // (V, H)
};

}  // namespace ptq
