// The tensor-core weight layout (scheme/fragment_layout.hpp, quant/fragment_arrays.hpp), checked on the CPU before any
// GPU run: the index maps are bijections, every scheme and shape class round-trips to the native layout, and an
// emulation of what each lane of kernels/cuda/mma_wa16.cuh loads and dequantizes gives the reference weights exactly,
// through mma.sync m16n8k16's fragment maps to the product.
#include "ptq/core/rng.hpp"
#include "ptq/quant/fragment_arrays.hpp"
#include "ptq/quant/packed.hpp"

#include "test_util.hpp"

#include <numeric>
#include <set>

namespace {

/// A random packed weight: act-order like GPTQ's (channels visited in a random order, g_idx[perm[i]] = i / group).
ptq::PackedWeight random_packed(const ptq::QuantSpec& spec, std::int64_t n, std::int64_t k, bool act_order,
                                std::uint64_t seed) {
  ptq::Rng rng(seed);
  auto p = ptq::PackedWeight::empty(spec, n, k);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < k; ++c) p.set_code(r, c, static_cast<int>(rng.below(1u << spec.bits)));
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t g = 0; g < p.groups(); ++g) {
      const int zero = spec.sym() ? 1 << (spec.bits - 1) : static_cast<int>(rng.below(1u << spec.bits));
      p.set_params(r, g, {ptq::fp16_scale(0.001f + rng.uniform()), zero});
    }
  if (act_order) {
    std::vector<std::int32_t> order(static_cast<std::size_t>(k));
    std::iota(order.begin(), order.end(), 0);
    for (std::int64_t i = k - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<std::uint64_t>(i + 1))]);
    p.g_idx.resize(static_cast<std::size_t>(k));
    for (std::int64_t i = 0; i < k; ++i) p.g_idx[order[i]] = static_cast<std::int32_t>(i / p.group());
  }
  return p;
}

struct Case {
  int bits, group;
  ptq::Symmetry sym;
  bool act_order;
  std::int64_t n, k;
};

/// Every scheme of the layout against every shape class: N and K multiples of the tile, N not a multiple of 64,
/// K not a multiple of 16 (a short last tile) or of the group (a short last group), one strip, many strips.
std::vector<Case> cases() {
  std::vector<Case> out;
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{64, 128}, {100, 200}, {7, 48}, {130, 384}};
  for (int bits : {4, 8})
    for (int group : {16, 32, 64, 128, ptq::kPerChannel})
      for (auto sym : {ptq::Symmetry::kSymmetric, ptq::Symmetry::kAsymmetric})
        for (bool act_order : {false, true})
          for (const auto& [n, k] : shapes)
            if (!(act_order && group == ptq::kPerChannel)) out.push_back({bits, group, sym, act_order, n, k});
  return out;
}

std::string name(const Case& c) {
  return fmt::format("{}{} {}x{}", ptq::config_name({c.bits, c.group, c.sym}), c.act_order ? " act-order" : "", c.n, c.k);
}

}  // namespace

TEST_CASE("fragment layout: the code, scale and zero maps are bijections onto the padded tiles", "[quant][fragment]") {
  for (const ptq::FragmentLayout l : {ptq::FragmentLayout{100, 200, 128, 4}, ptq::FragmentLayout{64, 48, 16, 8},
                                      ptq::FragmentLayout{7, 40, 40, 4}}) {
    INFO(fmt::format("n {} k {} group {} bits {}", l.n, l.k, l.group, l.bits));
    const int codes_per_word = 32 / l.bits;
    REQUIRE(l.words() * codes_per_word == l.strips() * 64 * l.tiles_k() * 16);  // the padded tiles exactly
    for (std::int64_t w = 0; w < l.words(); ++w)
      for (int c = 0; c < codes_per_word; ++c) {
        std::int64_t n = -1, kp = -1;
        l.coords_of(w, c, n, kp);
        REQUIRE((n >= 0 && n < l.strips() * 64 && kp >= 0 && kp < l.tiles_k() * 16));
        const ptq::FragmentSlot s = l.slot_of(n, kp);
        REQUIRE((s.word == w && s.slot == c));
      }
    std::set<std::int64_t> scales, zeros;
    for (std::int64_t n = 0; n < l.strips() * 64; ++n)
      for (std::int64_t g = 0; g < l.groups(); ++g) {
        scales.insert(l.scale_index(n, g));
        zeros.insert(l.zero_index(n, g));
      }
    REQUIRE((scales.size() == static_cast<std::size_t>(l.params()) && *scales.rbegin() == l.params() - 1));
    REQUIRE((zeros.size() == static_cast<std::size_t>(l.params()) && *zeros.rbegin() == l.params() - 1));
  }
}

TEST_CASE("fragment layout: every scheme and shape round-trips to the native layout", "[quant][fragment]") {
  std::uint64_t seed = 1;
  for (const Case& c : cases()) {
    INFO(name(c));
    const auto p = random_packed({c.bits, c.group, c.sym}, c.n, c.k, c.act_order, seed++);
    const auto f = ptq::fragment_arrays(p.view());
    REQUIRE(f.has_value());
    CHECK(f->zeros.empty() == (c.sym == ptq::Symmetry::kSymmetric));
    CHECK(f->perm.empty() == !c.act_order);
    const ptq::PackedArrays back = ptq::native_arrays(*f);
    REQUIRE(back.qweight == p.qweight);
    REQUIRE(back.qzeros == p.qzeros);
    REQUIRE(back.g_idx == p.g_idx);
    for (std::size_t i = 0; i < p.scales.size(); ++i) REQUIRE(back.scales[i] == p.scales[i].bits);
  }
}

TEST_CASE("fragment layout: weights without one stay native", "[quant][fragment]") {
  const auto w3 = random_packed({3, 128, ptq::Symmetry::kAsymmetric}, 64, 256, false, 1);
  CHECK_FALSE(ptq::fragment_arrays(w3.view()).has_value());  // 3-bit codes: no whole pairs per word
  const auto g8 = random_packed({4, 8, ptq::Symmetry::kSymmetric}, 64, 256, false, 2);
  CHECK_FALSE(ptq::fragment_arrays(g8.view()).has_value());  // a group inside one k16 step
  auto scattered = random_packed({4, 32, ptq::Symmetry::kSymmetric}, 64, 256, false, 3);
  scattered.g_idx.resize(256);
  for (int c = 0; c < 256; ++c) scattered.g_idx[c] = c % 5;  // groups of 52 and 51 channels, not runs of 32
  CHECK_FALSE(ptq::fragment_perm(scattered.view()).has_value());
  CHECK_FALSE(ptq::fragment_arrays(scattered.view()).has_value());
}

namespace {

/// What lane `lane` of the kernel dequantizes for tile (kt, nt): its B fragments as q - z for the 8 subtiles, by the
/// exponent-bias trick with `magic` (the device subtracts the biased zero point in 16-bit arithmetic; the result,
/// a small integer, is exact there as in float), indexed [s][e] with e = b0..b3.
std::array<std::array<float, 4>, 8> lane_fragments(const ptq::FragmentArrays& f, std::int64_t kt, std::int64_t nt,
                                                   int lane, std::uint16_t magic) {
  const ptq::FragmentLayout& l = f.layout;
  const int g = lane / 4, P = l.pairs_per_word();
  const std::int64_t gi = kt * 16 / l.group;  // a tile lies in one group
  const std::int64_t base = (nt * l.tiles_k() + kt) * l.tile_words() + lane * l.words_per_lane();
  const std::int64_t zeros = (nt * l.groups() + gi) * 64 + g * 8;  // the lane's 8 zero points, one 8-byte read
  auto to_float = [&](std::uint32_t h) {
    return magic == ptq::kFp16Magic ? ptq::to_float(ptq::fp16{static_cast<std::uint16_t>(h)})
                                    : ptq::to_float(ptq::bf16{static_cast<std::uint16_t>(h)});
  };
  std::array<std::array<float, 4>, 8> out{};
  for (int j = 0; j < l.words_per_lane(); ++j)
    for (int i = 0; i < P; ++i) {
      const std::uint32_t pair = l.bits == 4 ? ptq::biased_pair<4>(f.tiles[base + j], i, magic)
                                             : ptq::biased_pair<8>(f.tiles[base + j], i, magic);
      const int p = P * j + i, s = p / 2, h = p % 2;
      const std::uint32_t z = f.zeros.empty() ? 1u << (l.bits - 1) : f.zeros[zeros + s];
      const float biased_zero = to_float(magic + z);  // magic + z, exact: its ulp is 1
      out[s][2 * h] = to_float(pair & 0xffffu) - biased_zero;
      out[s][2 * h + 1] = to_float(pair >> 16) - biased_zero;
    }
  return out;
}

}  // namespace

TEST_CASE("fragment layout: each lane dequantizes the reference weights exactly", "[quant][fragment]") {
  std::uint64_t seed = 100;
  for (const Case& c : cases()) {
    INFO(name(c));
    const auto p = random_packed({c.bits, c.group, c.sym}, c.n, c.k, c.act_order, seed++);
    std::vector<float> ref(static_cast<std::size_t>(c.n * c.k));
    p.dequantize_rows(0, c.n, ref.data());
    const auto f = ptq::fragment_arrays(p.view());
    REQUIRE(f.has_value());
    const ptq::FragmentLayout& l = f->layout;
    for (const std::uint16_t magic : {ptq::kFp16Magic, ptq::kBf16Magic}) {
      if (magic == ptq::kBf16Magic && c.bits == 8) continue;  // bf16's ulp is 1 up to 255 - 128: W4 only
      for (std::int64_t nt = 0; nt < l.strips(); ++nt)
        for (std::int64_t kt = 0; kt < l.tiles_k(); ++kt)
          for (int lane = 0; lane < 32; ++lane) {
            const auto q = lane_fragments(*f, kt, nt, lane, magic);
            const int g = lane / 4, t = lane % 4;
            const std::int64_t gi = kt * 16 / l.group;
            for (int s = 0; s < 8; ++s)
              for (int e = 0; e < 4; ++e) {
                // b_e of subtile s: column 8s + g, row 2t + (e & 1) + 8 (e >> 1) (PTX ISA, mma.m16n8k16 B layout).
                const std::int64_t n = nt * 64 + 8 * s + g, kp = kt * 16 + 2 * t + (e & 1) + 8 * (e >> 1);
                // The scale is read by the lane whose accumulator holds column n: [t'][s][j], n % 8 = 2t' + j.
                const std::int64_t scale_at = (nt * l.groups() + gi) * 64 + (g / 2) * 16 + s * 2 + g % 2;
                REQUIRE(scale_at == l.scale_index(n, gi));
                const float w = ptq::to_float(ptq::fp16{f->scales[scale_at]}) * q[s][e];
                const bool inside = n < c.n && kp < c.k;
                const float expect = inside ? ref[n * c.k + (f->perm.empty() ? kp : f->perm[kp])] : 0.0f;
                if (w != expect) FAIL(fmt::format("n {} k' {} lane {}: {} != {}", n, kp, lane, w, expect));
              }
          }
    }
  }
}

TEST_CASE("fragment layout: an emulated m16n8k16 product with per-group scaling is the reference product",
          "[quant][fragment]") {
  // The kernel's arithmetic on the CPU, fragment by fragment: A from x (rows g, g + 8; columns 2t, 2t+1, 2t+8, 2t+9),
  // B from lane_fragments, C (rows g, g + 8; columns 2t, 2t+1) accumulated per group, then scaled by the column's
  // scale and added: y = sum over groups of s * sum (q - z) x. Against a double product of the reference weights.
  const Case c{4, 64, ptq::Symmetry::kAsymmetric, true, 100, 200};
  const auto p = random_packed({c.bits, c.group, c.sym}, c.n, c.k, c.act_order, 7);
  std::vector<float> ref(static_cast<std::size_t>(c.n * c.k));
  p.dequantize_rows(0, c.n, ref.data());
  const auto f = ptq::fragment_arrays(p.view());
  REQUIRE(f.has_value());
  const ptq::FragmentLayout& l = f->layout;
  const int m = 5;  // rows of x, padded to 16 with zeros
  ptq::Rng rng(9);
  std::vector<float> x(static_cast<std::size_t>(m * c.k));
  for (auto& v : x) v = rng.normal();
  auto x_at = [&](int row, std::int64_t kp) {  // the kernel's shared-memory tile: x gathered through perm
    return row < m && kp < c.k ? x[row * c.k + (f->perm.empty() ? kp : f->perm[kp])] : 0.0f;
  };
  std::vector<double> y(static_cast<std::size_t>(m * c.n), 0.0);
  for (std::int64_t nt = 0; nt < l.strips(); ++nt) {
    float total[32][8][4] = {};  // [lane][subtile][c0..c3]
    for (std::int64_t gi = 0; gi < l.groups(); ++gi) {
      float acc[32][8][4] = {};
      const std::int64_t end = gi + 1 == l.groups() ? l.tiles_k() : (gi + 1) * l.group / 16;
      for (std::int64_t kt = gi * l.group / 16; kt < end; ++kt) {
        std::array<std::array<std::array<float, 4>, 8>, 32> b;
        for (int lane = 0; lane < 32; ++lane) b[lane] = lane_fragments(*f, kt, nt, lane, ptq::kBf16Magic);
        for (int s = 0; s < 8; ++s) {
          float bm[16][8], am[16][16];  // B (k16 x n8) and A (m16 x k16) rebuilt from the lanes' fragments
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            for (int e = 0; e < 4; ++e) bm[2 * t + (e & 1) + 8 * (e >> 1)][g] = b[lane][s][e];
            for (int e = 0; e < 8; ++e) {  // a0..a7: row g + 8 ((e / 2) % 2), column 2t + e % 2 + 8 (e / 4)
              const int row = g + 8 * ((e / 2) % 2), col = 2 * t + e % 2 + 8 * (e / 4);
              am[row][col] = x_at(row, kt * 16 + col);
            }
          }
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            for (int e = 0; e < 4; ++e) {  // c0..c3: row g + 8 (e / 2), column 2t + e % 2
              double sum = 0;
              for (int kk = 0; kk < 16; ++kk) sum += double(am[g + 8 * (e / 2)][kk]) * bm[kk][2 * t + e % 2];
              acc[lane][s][e] += static_cast<float>(sum);
            }
          }
        }
      }
      for (int lane = 0; lane < 32; ++lane)
        for (int s = 0; s < 8; ++s)
          for (int e = 0; e < 4; ++e) {
            const std::int64_t scale_at = (nt * l.groups() + gi) * 64 + (lane % 4) * 16 + s * 2 + e % 2;
            total[lane][s][e] += ptq::to_float(ptq::fp16{f->scales[scale_at]}) * acc[lane][s][e];
          }
    }
    for (int lane = 0; lane < 32; ++lane)
      for (int s = 0; s < 8; ++s)
        for (int e = 0; e < 4; ++e) {
          const int row = lane / 4 + 8 * (e / 2);
          const std::int64_t n = nt * 64 + 8 * s + 2 * (lane % 4) + e % 2;
          if (row < m && n < c.n) y[row * c.n + n] = total[lane][s][e];
        }
  }
  for (int row = 0; row < m; ++row)
    for (std::int64_t n = 0; n < c.n; ++n) {
      double expect = 0, scale = 0;
      for (std::int64_t k = 0; k < c.k; ++k) {
        expect += double(ref[n * c.k + k]) * x[row * c.k + k];
        scale += std::abs(double(ref[n * c.k + k]) * x[row * c.k + k]);
      }
      REQUIRE(std::abs(y[row * c.n + n] - expect) <= 1e-5 * scale + 1e-6);
    }
}
