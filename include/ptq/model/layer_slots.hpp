/// @file The seven linear layers of a Qwen2 decoder layer and where they read their input; plain data shared by the
/// CPU model and pipelines and the GPU ones (nvcc compiles it).
#pragma once

#include <array>
#include <cstdint>

namespace ptq {

/// Where a decoder layer's linear layers read their input: q/k/v share one, gate/up share one.
enum class LinearInput : std::uint8_t { kAttention, kAttentionOutput, kMlp, kMlpDown };

/// The seven linears in execution order (q, k, v, o, gate, up, down): names under model.layers.<i>. and inputs.
inline constexpr std::array<const char*, 7> kLinearNames{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                         "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                         "mlp.down_proj"};
inline constexpr std::array<LinearInput, 7> kLinearInputs{
    LinearInput::kAttention, LinearInput::kAttention, LinearInput::kAttention, LinearInput::kAttentionOutput,
    LinearInput::kMlp,       LinearInput::kMlp,       LinearInput::kMlpDown};

}  // namespace ptq
