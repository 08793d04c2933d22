// Leaderboard row "gptq": GPTQ (damping 0.01, blocks of 128, true-sequential), W4, groups of 128, symmetric,
// calibrated on 128 x 2048 tokens of WikiText-2 validation.
#include "ptq/leaderboard/row.hpp"

int main(int argc, char** argv) {
  return ptq::run_row(argc, argv, ptq::row_of<ptq::W4G128Sym>("gptq", ptq::Gptq{}, "GPTQ W4 g128 sym"));
}
