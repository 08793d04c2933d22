// Leaderboard row "rtn": round-to-nearest, W4, groups of 128, symmetric (the GPTQ repository's quantizer).
#include "ptq/leaderboard/row.hpp"

int main(int argc, char** argv) {
  return ptq::run_row(argc, argv, ptq::row_of<ptq::W4G128Sym>("rtn", ptq::Rtn{}, "RTN W4 g128 sym"));
}
