// The linears' two products (kernels/ref/matmul_path.hpp) against a float64 reference: float32 operands, and bf16
// operands with float32 sums (oneDNN's native product where the CPU has it, its emulation everywhere). Every
// assertion is the float32 summation bound |ŷ - y| <= (K + 2) u Σ|x w| (u = 2^-24), which holds for any kernel's
// blocking and order, so nothing here depends on one BLAS build's rounding.
#include "ptq/kernels/ref/linear.hpp"
#include "ptq/kernels/ref/onednn.hpp"
#include "ptq/quant/packed.hpp"

#include "test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

using ptq::ref::MatmulPath;

std::vector<float> random_values(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

float bf16_rounded(float v) { return ptq::to_float(ptq::to_bf16(v)); }

/// y (M, N) = x (M, K) · W (N, K)^T in float64 and the float32 bound (K + 2) u Σ|x w| per element; operands rounded
/// to bf16 first when `bf16`.
struct Reference {
  std::vector<double> y, bound;
};
Reference reference(const std::vector<float>& x, std::int64_t m, const std::vector<float>& w, std::int64_t n,
                    std::int64_t k, bool bf16) {
  Reference r{std::vector<double>(static_cast<std::size_t>(m * n)), std::vector<double>(static_cast<std::size_t>(m * n))};
  const double u = std::ldexp(1.0, -24);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0, a = 0;
      for (std::int64_t c = 0; c < k; ++c) {
        const float xv = x[i * k + c], wv = w[j * k + c];
        const double p = static_cast<double>(bf16 ? bf16_rounded(xv) : xv) * (bf16 ? bf16_rounded(wv) : wv);
        s += p;
        a += std::fabs(p);
      }
      r.y[i * n + j] = s;
      r.bound[i * n + j] = static_cast<double>(k + 2) * u * a;
    }
  return r;
}

/// The largest |ŷ - y| / bound (≤ 1: within the float32 summation bound).
double worst_ratio(const std::vector<float>& y, const Reference& r) {
  double worst = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    worst = std::max(worst, std::fabs(y[i] - r.y[i]) / std::max(r.bound[i], 1e-30));
  return worst;
}

/// The mean |ŷ - y|.
double mean_error(const std::vector<float>& y, const Reference& r) {
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += std::fabs(y[i] - r.y[i]);
  return s / static_cast<double>(y.size());
}

/// A (N, K) weight stored as `dtype` (bf16 rounds it), viewed as a TensorRef.
struct StoredWeight {
  std::vector<std::byte> bytes;
  ptq::TensorRef ref;
  std::vector<float> values;  // what is stored, as float
  StoredWeight(const std::vector<float>& w, std::int64_t n, std::int64_t k, ptq::DType dtype) {
    bytes.resize(w.size() * ptq::dtype_size(dtype));
    values = w;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (dtype == ptq::DType::kBF16) {
        const ptq::bf16 h = ptq::to_bf16(w[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
        values[i] = ptq::to_float(h);
      } else {
        std::memcpy(bytes.data() + 4 * i, &w[i], 4);
      }
    }
    ref = ptq::TensorRef{"w", dtype, {n, k}, bytes.data()};
  }
};

}  // namespace

TEST_CASE("oneDNN's product with float32 operands is within float32's summation bound", "[matmul][onednn]") {
  // The float32 instantiation shares the bf16 one's descriptors (leading dimensions, B read transposed) and cache.
  for (const auto [m, n, k] : {std::array<std::int64_t, 3>{1, 1, 1}, {3, 5, 7}, {17, 33, 64}, {64, 288, 896}}) {
    for (const std::int64_t pad : {0, 3}) {
      INFO("M " << m << " N " << n << " K " << k << " padding " << pad);
      const std::int64_t lda = k + pad, ldb = k + 2 * pad, ldc = n + pad;
      const auto a = random_values(static_cast<std::size_t>(m * lda), 1);
      const auto b = random_values(static_cast<std::size_t>(n * ldb), 2);
      std::vector<float> c(static_cast<std::size_t>(m * ldc), -7.0f);
      ptq::ref::onednn::gemm_nt(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
      std::vector<float> ad, bd, cd;  // dense copies for the reference
      for (std::int64_t i = 0; i < m; ++i) ad.insert(ad.end(), a.begin() + i * lda, a.begin() + i * lda + k);
      for (std::int64_t j = 0; j < n; ++j) bd.insert(bd.end(), b.begin() + j * ldb, b.begin() + j * ldb + k);
      for (std::int64_t i = 0; i < m; ++i) cd.insert(cd.end(), c.begin() + i * ldc, c.begin() + i * ldc + n);
      CHECK(worst_ratio(cd, reference(ad, m, bd, n, k, false)) <= 1.0);
      for (std::int64_t i = 0; i < m; ++i)  // the padding of C is left alone
        for (std::int64_t j = n; j < ldc; ++j) CHECK(c[i * ldc + j] == -7.0f);
    }
  }
}

TEST_CASE("oneDNN's product inside ptq's OpenMP regions: each thread's call whole and single-threaded",
          "[matmul][onednn]") {
  // The panel loops call oneDNN from every thread of an OpenMP region, where oneDNN's OpenMP build must run the
  // whole product on the calling thread (not a share of a team that nesting never starts).
  const std::int64_t m = 64, n = 288, k = 896;
  const auto a = random_values(static_cast<std::size_t>(m * k), 6), b = random_values(static_cast<std::size_t>(n * k), 7);
  const Reference r = reference(a, m, b, n, k, false);
  std::vector<std::vector<float>> c(2, std::vector<float>(static_cast<std::size_t>(m * n)));
#pragma omp parallel for num_threads(2) schedule(static, 1)
  for (int t = 0; t < 2; ++t) ptq::ref::onednn::gemm_nt(m, n, k, a.data(), k, b.data(), k, c[t].data(), n);
  CHECK(worst_ratio(c[0], r) <= 1.0);
  CHECK(c[0] == c[1]);
}

TEST_CASE("the bf16 path multiplies bf16-rounded operands with float32 sums; the f32 path does not round",
          "[matmul][bf16]") {
  const std::int64_t n = 300, k = 2048;  // panels of 128 rows at K 2048: two full ones and a tail of 44
  const auto w = random_values(static_cast<std::size_t>(n * k), 3, 0.05f);
  const auto packed = ptq::quantize_rtn(w, n, k, ptq::QuantSpec{4, 128, ptq::Symmetry::kSymmetric});
  std::vector<float> deq(w.size());
  packed.dequantize_rows(0, n, deq.data());
  const StoredWeight as_bf16(w, n, k, ptq::DType::kBF16), as_f32(w, n, k, ptq::DType::kF32);
  for (const std::int64_t m : {1, 7, 40}) {
    const auto x = random_values(static_cast<std::size_t>(m * k), 9);
    auto run = [&](MatmulPath path, auto&& weight) {
      ptq::test::ScopedMatmulPath scoped(path);
      std::vector<float> y(static_cast<std::size_t>(m * n));
      ptq::ref::linear(x.data(), m, weight, {}, y.data());
      return y;
    };
    INFO("M " << m << ", bf16 product: " << ptq::ref::onednn::describe()
              << (ptq::ref::onednn::native_bf16() ? " (native)" : " (emulated)"));
    // Stored bf16 (used in place), stored float32 (rounded per panel), packed W4 (dequantized, rounded per panel).
    CHECK(worst_ratio(run(MatmulPath::kBf16, as_bf16.ref), reference(x, m, as_bf16.values, n, k, true)) <= 1.0);
    CHECK(worst_ratio(run(MatmulPath::kBf16, as_f32.ref), reference(x, m, w, n, k, true)) <= 1.0);
    CHECK(worst_ratio(run(MatmulPath::kBf16, ptq::PackedRows{packed}), reference(x, m, deq, n, k, true)) <= 1.0);
    // The f32 path keeps the operands: within the bound of the unrounded product. The bf16 path's rounding (2^-9
    // relative per operand) moves the sums ~100x more than float32 summation does (measured ~1000x).
    const Reference exact = reference(x, m, w, n, k, false);
    const auto f32 = run(MatmulPath::kF32, as_f32.ref);
    CHECK(worst_ratio(f32, exact) <= 1.0);
    CHECK(worst_ratio(run(MatmulPath::kF32, ptq::PackedRows{packed}), reference(x, m, deq, n, k, false)) <= 1.0);
    const double f32_error = mean_error(f32, exact), bf16_error = mean_error(run(MatmulPath::kBf16, as_f32.ref), exact);
    INFO("mean error against the unrounded product: f32 " << f32_error << ", bf16 " << bf16_error);
    CHECK(bf16_error > 100 * f32_error);
  }
}

TEST_CASE("oneDNN's native bf16 product, where the CPU has one", "[matmul][bf16][onednn]") {
  if (!ptq::ref::onednn::native_bf16()) {
    // oneDNN 2.6 runs no bf16 product without AVX-512; the bf16 path is emulated here (the case above).
    WARN("not run: this CPU has no native bf16 product (" << ptq::ref::onednn::describe() << ")");
    return;
  }
  const std::int64_t m = 37, n = 130, k = 200;
  const auto a = random_values(static_cast<std::size_t>(m * k), 4), b = random_values(static_cast<std::size_t>(n * k), 5);
  std::vector<ptq::bf16> ab(a.size()), bb(b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ab[i] = ptq::to_bf16(a[i]);
  for (std::size_t i = 0; i < b.size(); ++i) bb[i] = ptq::to_bf16(b[i]);
  std::vector<float> c(static_cast<std::size_t>(m * n));
  ptq::ref::onednn::gemm_nt(m, n, k, ab.data(), k, bb.data(), k, c.data(), n);
  CHECK(worst_ratio(c, reference(a, m, b, n, k, true)) <= 1.0);
}

TEST_CASE("PTQ_MATMUL chooses the path: f32, bf16, auto (the CPU's native bf16), anything else refused",
          "[matmul][path]") {
  const char* saved = std::getenv("PTQ_MATMUL");
  const std::string keep = saved ? saved : "";
  setenv("PTQ_MATMUL", "f32", 1);
  CHECK(ptq::ref::default_matmul_path() == MatmulPath::kF32);
  setenv("PTQ_MATMUL", "bf16", 1);
  CHECK(ptq::ref::default_matmul_path() == MatmulPath::kBf16);
  setenv("PTQ_MATMUL", "auto", 1);
  CHECK(ptq::ref::default_matmul_path() ==
        (ptq::ref::onednn::native_bf16() ? MatmulPath::kBf16 : MatmulPath::kF32));
  setenv("PTQ_MATMUL", "fp8", 1);
  CHECK_THROWS_WITH(ptq::ref::default_matmul_path(), Catch::Contains("PTQ_MATMUL") && Catch::Contains("'fp8'"));
  if (saved) setenv("PTQ_MATMUL", keep.c_str(), 1); else unsetenv("PTQ_MATMUL");
  {
    ptq::test::ScopedMatmulPath scoped(MatmulPath::kBf16);
    CHECK(ptq::ref::matmul_path_info().starts_with(ptq::ref::onednn::native_bf16() ? "bf16 (oneDNN" : "bf16 (emulated"));
  }
  ptq::test::ScopedMatmulPath scoped(MatmulPath::kF32);
  CHECK(ptq::ref::matmul_path_info().starts_with("f32 (OpenBLAS"));
}
