#include "ptq/core/tensor.hpp"

#include "test_util.hpp"

TEST_CASE("dtype table: names, sizes and parsing agree", "[core][tensor]") {
  for (const auto& e : ptq::kDTypes) {
    CHECK(ptq::parse_dtype(e.name) == e.dtype);
    CHECK(ptq::dtype_size(e.dtype) == e.bytes);
    CHECK(ptq::dtype_name(e.dtype) == e.name);
  }
  CHECK_FALSE(ptq::parse_dtype("F8_E4M3").has_value());
  CHECK(ptq::dtype_size(ptq::DType::kBF16) == 2);
}

TEST_CASE("TensorView indexes with shape and strides", "[core][tensor]") {
  std::vector<int> data(24);
  for (int i = 0; i < 24; ++i) data[i] = i;
  auto v = ptq::TensorView<int, 3>::contiguous(data.data(), {2, 3, 4});  // (2, 3, 4)
  CHECK(v.stride == std::array<std::int64_t, 3>{12, 4, 1});
  CHECK(v(1, 2, 3) == 23);
  CHECK(v(0, 1, 0) == 4);
  CHECK(v.numel() == 24);
  // A transposed view of a (3, 4) matrix: strides swapped, no copy.
  ptq::MatrixView<int> m{data.data(), {4, 3}, {1, 4}};
  CHECK(m(3, 2) == 11);
  auto row = ptq::MatrixView<int>::contiguous(data.data(), {6, 4}).row(5);
  CHECK(row.size() == 4);
  CHECK(row[0] == 20);
}

TEST_CASE("Buffer is aligned, sized and movable", "[core][tensor]") {
  ptq::Buffer<float> b(1000, 1.5f);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
  CHECK(b.size() == 1000);
  CHECK(b[999] == 1.5f);
  ptq::Buffer<float> c = std::move(b);
  CHECK(c.size() == 1000);
  CHECK(c[0] == 1.5f);
  ptq::Buffer<float> empty;
  CHECK(empty.size() == 0);
  CHECK(empty.data() == nullptr);
}

TEST_CASE("to_float converts stored dtypes, unaligned included", "[core][tensor]") {
  std::vector<std::byte> bytes(1 + 3 * 2);
  const ptq::bf16 vals[3] = {ptq::to_bf16(1.0f), ptq::to_bf16(-2.5f), ptq::to_bf16(3.0e5f)};
  std::memcpy(bytes.data() + 1, vals, 6);
  ptq::TensorRef t{"x", ptq::DType::kBF16, {3}, bytes.data() + 1};
  std::vector<float> out(3);
  ptq::to_float(t, 0, out);
  CHECK(out == std::vector<float>{1.0f, -2.5f, ptq::to_float(vals[2])});
  CHECK(ptq::load_float(t, 1) == -2.5f);
  ptq::TensorRef ints{"i", ptq::DType::kI32, {1}, bytes.data()};
  PTQ_REQUIRE_ERROR(ptq::load_float(ints, 0), "i", "not a float type");
}
