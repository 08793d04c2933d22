// Qwen2 cases built on the host (C++ compiler): a real model loaded from disk (optionally quantized on the CPU by RTN,
// GPTQ or AWQ), its image for the GPU model, random token ids and calibration windows, and the CPU reference's hidden
// states and scores; and synthetic Qwen2.5-shaped models for the GPU benchmarks.
#pragma once

#include "ptq/kernels/score_batch.hpp"
#include "ptq/model/image.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ptq::cuda_test {

struct ModelCase {
  std::shared_ptr<const void> model;      // keeps the CPU model (and the image's tensors) alive
  ModelImage image;
  std::vector<std::int32_t> ids, targets; // (T): targets[t] = ids[t + 1], the last one random
  std::vector<float> hidden;              // (T, H) final-norm hidden states, CPU float32 reference
  std::vector<float> logprob;             // (T)
  std::vector<int> greedy;                // (T)
  // A packed pass (the evaluation harness's kind): two segments of the ids above, the second a prefix and two
  // branches with restarted positions, every position scored; the CPU model's scores of it.
  ScoreBatch batch;
  std::vector<float> batch_logprob;
  std::vector<int> batch_greedy;
  std::vector<std::vector<std::int32_t>> calibration;  // random windows (GPTQ)
  std::string name;
};

enum class CpuMethod { kNone, kRtn, kGptq, kAwq };

/// kNone: the model as stored; else RTN, GPTQ or AWQ (default parameters, `calibration`: 4 windows of 256 random
/// tokens) with (bits, group, sym).
ModelCase make_model_case(const std::string& model_dir, std::int64_t t_len, CpuMethod method, int bits, int group,
                          bool sym, std::uint64_t seed);

struct SyntheticModel {
  std::shared_ptr<const void> model;  // keeps the host weights alive
  ModelImage image;
};

/// A random-weight model of Qwen2.5's shape ("0.5B", "7B"), bf16 weights.
SyntheticModel make_synthetic_model(const std::string& size, std::uint64_t seed);

}  // namespace ptq::cuda_test
