/// @file The seven linear layers of a Qwen2 decoder layer and where they read their input; plain data shared by the
/// CPU model and pipelines and the GPU ones (nvcc compiles it).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace ptq {

/// Where a decoder layer's linear layers read their input: q/k/v share one, gate/up share one.
enum class LinearInput : std::uint8_t { kAttention, kAttentionOutput, kMlp, kMlpDown };

/// The seven linears in execution order (q, k, v, o, gate, up, down): names under model.layers.<i>. and inputs.
inline constexpr std::array<const char*, 7> kLinearNames{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                         "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                         "mlp.down_proj"};

/// The seven linears of a layer type that names them as Hugging Face does (Qwen2Layer on the CPU, LayerImage for
/// the GPU), as member pointers in kLinearNames' order: the one list that every loop over a layer's linears uses.
template <class Layer>
constexpr auto linear_members() {
  return std::array{&Layer::q_proj, &Layer::k_proj,     &Layer::v_proj,   &Layer::o_proj,
                    &Layer::gate_proj, &Layer::up_proj, &Layer::down_proj};
}

/// The linears that read the same input (GPTQ calibrates each group on one Hessian), in execution order, and what
/// produces that input: the RMSNorm before them, or a linear (AWQ folds a group's scales into it).
struct LinearGroup {
  LinearInput input;
  std::array<int, 3> slots;  // indexes into kLinearNames; the first `count` are used
  int count;
  int producer;              // the linear (kLinearNames index) whose output is the input, or -1: an RMSNorm
  [[nodiscard]] constexpr std::span<const int> members() const { return {slots.data(), static_cast<std::size_t>(count)}; }
};
inline constexpr std::array<LinearGroup, 4> kLinearGroups{{{LinearInput::kAttention, {0, 1, 2}, 3, -1},
                                                           {LinearInput::kAttentionOutput, {3, 0, 0}, 1, 2},  // v -> o
                                                           {LinearInput::kMlp, {4, 5, 0}, 2, -1},
                                                           {LinearInput::kMlpDown, {6, 0, 0}, 1, 5}}};      // up -> down

/// The input linear `slot` (kLinearNames index) reads.
constexpr LinearInput linear_input(int slot) {
  for (const LinearGroup& g : kLinearGroups)
    for (const int m : g.members())
      if (m == slot) return g.input;
  return LinearInput::kAttention;  // not reached for slots 0..6
}
static_assert(linear_input(3) == LinearInput::kAttentionOutput && linear_input(5) == LinearInput::kMlp);

/// Whether AWQ scales `g` (AutoAWQ): o_proj only when v_proj's output feeds it channel for channel (no GQA shape
/// change: v and o have the same shape); every other group always.
constexpr bool awq_scales_group(const LinearGroup& g, std::int64_t v_out, std::int64_t v_in, std::int64_t o_out,
                                std::int64_t o_in) {
  return g.input != LinearInput::kAttentionOutput || (v_out == o_out && v_in == o_in);
}

}  // namespace ptq
