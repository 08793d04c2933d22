// Leaderboard row "fp16": the model as stored (bf16 weights, float32 compute), evaluated.
#include "ptq/leaderboard/row.hpp"

int main(int argc, char** argv) {
  ptq::RowSpec row;
  row.key = "fp16";
  row.label = "FP16 (stored bf16 weights)";
  return ptq::run_row(argc, argv, row);
}
