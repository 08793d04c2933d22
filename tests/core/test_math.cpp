#include "ptq/core/math.hpp"

#include "test_util.hpp"

#include <cmath>
#include <limits>

TEST_CASE("exp_approx is within 2 ulp of exp on the float range it serves", "[core][math]") {
  // Every 97th float bit pattern in [-87, 88] plus the ends: relative error against exp in double.
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x = std::nextafter(x + std::fabs(x) * 1e-5f, 100.0f)) {
    const double ref = std::exp(static_cast<double>(x));
    const double rel = std::fabs(ptq::exp_approx(x) - ref) / ref;
    worst = std::max(worst, rel);
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 2 * 5.96e-8);  // 2 ulp of float (2^-24 each)
  CHECK(ptq::exp_approx(0.0f) == 1.0f);
  CHECK(ptq::exp_approx(-1000.0f) < 1e-37f);
  CHECK(ptq::exp_approx(-1000.0f) >= 0.0f);
  // NaN in, NaN out, with no undefined float-to-int conversion on the way (a UBSan finding; tools/sanitize.sh).
  CHECK(std::isnan(ptq::exp_approx(std::numeric_limits<float>::quiet_NaN())));
}
