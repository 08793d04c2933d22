/// @file GPTQ's parameters, shared by the CPU (quant/gptq.hpp) and GPU (quant/cuda/gptq.cuh) implementations.
#pragma once

#include <array>
#include <string_view>

namespace ptq {

struct GptqParams {
  float damp = 0.01f;         // fraction of mean(diag H) added to the diagonal (percdamp)
  int block_size = 128;       // lazy-batch width (columns)
  bool act_order = false;     // quantize columns by decreasing H_ii (desc_act); stores g_idx
  bool static_groups = false; // group grids from the original weights (act-order without g_idx)
  static constexpr std::array<std::string_view, 4> field_names{"damp", "block_size", "act_order", "static_groups"};
};

}  // namespace ptq
