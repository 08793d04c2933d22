// Mixed precision under a bit budget: GPTQ gives each linear W3 g128 asym, W4 g128 sym or W8 g128 sym, whichever the
// measured sensitivity (each linear's output error alone, per candidate) buys best within 3.6 bits per weight over
// the quantized linears. Build, run, and the leaderboard shows the row on its Pareto front.
#include "ptq/leaderboard/row.hpp"

int main(int argc, char** argv) {
  const ptq::MixedParams budget{3.6, {ptq::spec_of<ptq::W3G128Asym>(), ptq::spec_of<ptq::W4G128Sym>(),
                                      ptq::spec_of<ptq::QuantScheme<8, 128, ptq::Symmetry::kSymmetric>>()}};
  return ptq::run_row(argc, argv, ptq::mixed_row("gptq_mix3.6", ptq::Gptq{}, budget, "GPTQ mixed, 3.6 bits per weight"));
}
