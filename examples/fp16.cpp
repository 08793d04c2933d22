// Leaderboard row "fp16": the model as stored (bf16 weights, float32 compute), evaluated.
#include "ptq/leaderboard/row.hpp"

int main(int argc, char** argv) {
  return ptq::run_row(argc, argv, ptq::baseline_row("fp16", "FP16 (stored bf16 weights)"));
}
