/// @file Element types, non-owning tensor views and owning aligned buffers.
///
/// `TensorRef` is a typeless view of stored bytes (what a checkpoint holds: dtype + shape + bytes);
/// `TensorView<T, Rank>` is a typed strided view for compute; `Buffer<T>` owns aligned memory (RAII).
#pragma once

#include "ptq/core/numeric.hpp"
#include "ptq/core/status.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ptq {

/// Element types of stored tensors (safetensors names in `dtype_name`).
enum class DType : std::uint8_t { kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF64 };

inline constexpr struct {
  DType dtype;
  std::string_view name;  // as in safetensors headers
  std::size_t bytes;
} kDTypes[] = {{DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
               {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4}, {DType::kI16, "I16", 2},
               {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},
               {DType::kF64, "F64", 8}};

constexpr std::size_t dtype_size(DType d) {
  for (const auto& e : kDTypes) if (e.dtype == d) return e.bytes;
  return 0;
}
constexpr std::string_view dtype_name(DType d) {
  for (const auto& e : kDTypes) if (e.dtype == d) return e.name;
  return "?";
}
constexpr std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& e : kDTypes) if (e.name == name) return e.dtype;
  return std::nullopt;
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<fp16>() { return DType::kF16; }
template <> constexpr DType dtype_of<bf16>() { return DType::kBF16; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::kI32; }
template <> constexpr DType dtype_of<std::int8_t>() { return DType::kI8; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::kU8; }

using Shape = std::vector<std::int64_t>;

inline std::int64_t numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>());
}
inline std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

/// A stored tensor: dtype, row-major shape and its bytes (owned elsewhere: a mapped file or a Buffer).
struct TensorRef {
  std::string name;              // checkpoint name, for error messages
  DType dtype = DType::kF32;
  Shape shape;
  const std::byte* data = nullptr;

  [[nodiscard]] std::int64_t numel() const { return ptq::numel(shape); }
  [[nodiscard]] std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
};

/// Reads element i of a float-typed TensorRef (F32/F16/BF16) as float. Unaligned-safe.
inline float load_float(const TensorRef& t, std::int64_t i) {
  const std::byte* p = t.data + static_cast<std::size_t>(i) * dtype_size(t.dtype);
  switch (t.dtype) {
    case DType::kF32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::kBF16: { bf16 v; std::memcpy(&v, p, 2); return to_float(v); }
    case DType::kF16: { fp16 v; std::memcpy(&v, p, 2); return to_float(v); }
    default: throw Error("", t.name, fmt::format("dtype {} is not a float type", dtype_name(t.dtype)));
  }
}

/// Converts elements [begin, begin + out.size()) of a float-typed TensorRef to float32.
inline void to_float(const TensorRef& t, std::int64_t begin, std::span<float> out) {
  const std::byte* p = t.data + static_cast<std::size_t>(begin) * dtype_size(t.dtype);
  const std::size_t n = out.size();
  switch (t.dtype) {
    case DType::kF32: std::memcpy(out.data(), p, n * 4); return;
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b; std::memcpy(&b, p + 2 * i, 2);
        out[i] = to_float(bf16{b});
      }
      return;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b; std::memcpy(&b, p + 2 * i, 2);
        out[i] = to_float(fp16{b});
      }
      return;
    default: throw Error("", t.name, fmt::format("dtype {} is not a float type", dtype_name(t.dtype)));
  }
}

/// Owning, 64-byte aligned, uninitialized array of trivially copyable T (RAII, move-only).
template <class T>
class Buffer {
  static_assert(std::is_trivially_copyable_v<T>);
  struct Free { void operator()(T* p) const { ::operator delete[](p, std::align_val_t{64}); } };

 public:
  Buffer() = default;
  explicit Buffer(std::size_t n)
      : data_(n ? static_cast<T*>(::operator new[](n * sizeof(T), std::align_val_t{64})) : nullptr), size_(n) {}
  Buffer(std::size_t n, T fill) : Buffer(n) { std::fill_n(data_.get(), n, fill); }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return data_.get()[i]; }
  const T& operator[](std::size_t i) const { return data_.get()[i]; }
  std::span<T> span() { return {data(), size_}; }
  std::span<const T> span() const { return {data(), size_}; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }

 private:
  std::unique_ptr<T[], Free> data_;
  std::size_t size_ = 0;
};

/// Non-owning strided view of a typed tensor. Strides are in elements.
template <class T, int Rank>
struct TensorView {
  T* data = nullptr;
  std::array<std::int64_t, Rank> shape{};
  std::array<std::int64_t, Rank> stride{};

  /// Contiguous row-major view.
  static TensorView contiguous(T* data, std::array<std::int64_t, Rank> shape) {
    TensorView v{data, shape, {}};
    std::int64_t s = 1;
    for (int d = Rank - 1; d >= 0; --d) { v.stride[d] = s; s *= shape[d]; }
    return v;
  }
  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) == Rank);
    const std::array<std::int64_t, Rank> i{static_cast<std::int64_t>(idx)...};
    std::int64_t off = 0;
    for (int d = 0; d < Rank; ++d) off += i[d] * stride[d];
    return data[off];
  }
  /// Row r of a 2-D view with unit inner stride.
  std::span<T> row(std::int64_t r) const requires(Rank == 2) {
    return {data + r * stride[0], static_cast<std::size_t>(shape[1])};
  }
  [[nodiscard]] std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

template <class T> using MatrixView = TensorView<T, 2>;  // (rows, cols)

}  // namespace ptq
