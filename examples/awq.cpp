// Leaderboard row "awq": AWQ (AutoAWQ's search, duo scaling, clipping), W4, groups of 128, zero points,
// calibrated on the same base model as every other row (128 x 512 tokens of WikiText-2 validation).
#include "ptq/leaderboard/row.hpp"

int main(int argc, char** argv) {
  return ptq::run_row(argc, argv, ptq::row_of<ptq::W4G128Asym>("awq", ptq::Awq{}, "AWQ W4 g128 zero-point"));
}
