// A scheme of your own: 3-bit codes, groups of 64, zero points, GPTQ with act-order and 5% damping.
// The scheme and the algorithm are types; the algorithm's settings are plain data. Build, run (--device cpu|cuda),
// and the leaderboard shows a new row.
#include "ptq/leaderboard/row.hpp"

using W3G64Asym = ptq::QuantScheme<3, 64, ptq::Symmetry::kAsymmetric>;

int main(int argc, char** argv) {
  const ptq::Gptq gptq{{.damp = 0.05f, .act_order = true}};
  return ptq::run_row(argc, argv, ptq::row_of<W3G64Asym>("gptq_w3g64a_actorder", gptq, "GPTQ W3 g64 asym act-order"));
}
