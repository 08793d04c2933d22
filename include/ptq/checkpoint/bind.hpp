/// @file Binding a quantized linear's packed tensors from a checkpoint: shapes and dtypes checked against the format,
/// converted to ptq's PackedWeight (model/weights.hpp binds whole models with it).
#pragma once

#include "ptq/checkpoint/format.hpp"
#include "ptq/core/tensor.hpp"
#include "ptq/io/safetensors.hpp"

#include <cmath>
#include <cstring>
#include <string>

namespace ptq::detail {

/// The packed tensors <prefix>.{qweight, qzeros, scales[, g_idx]} of a quantized linear in the checkpoint's
/// format (quant/packed.hpp, checkpoint/format.hpp), each checked against the shape that bits, group size, out and
/// in imply, converted to a PackedWeight.
inline PackedWeight bind_packed(const TensorStore& store, const std::string& prefix, std::int64_t out,
                                std::int64_t in, const QuantizedCheckpoint& q) {
  const QuantSpec& spec = q.spec;
  if (q.format == CheckpointFormat::kGptq)
    check(in * spec.bits % 32 == 0 && out * spec.bits % 32 == 0, store.dir(), prefix + ".qweight",
          "a ({}, {}) layer at {} bits does not fill whole 32-bit words (GPTQ packing)", out, in, spec.bits);
  if (q.format == CheckpointFormat::kAwq)
    check(out % 8 == 0 && in % spec.group(in) == 0, store.dir(), prefix + ".qweight",
          "a ({}, {}) layer does not fit AWQ GEMM packing with group size {}", out, in, spec.group_size);
  const auto shapes = expected_shapes(out, in, q);
  auto copy = [&](const std::string& name, DType dtype, const Shape& shape, auto& dst) {
    const TensorRef& t = store.at(prefix + name);
    check(t.dtype == dtype, store.dir(), t.name, "dtype {} where the {} format has {}", dtype_name(t.dtype),
          format_name(q.format), dtype_name(dtype));
    check(t.shape == shape, store.dir(), t.name, "shape {} contradicts bits {} and group size {} for a ({}, {}) layer "
          "in the {} format (expected {})", shape_str(t.shape), spec.bits, spec.group_size, out, in,
          format_name(q.format), shape_str(shape));
    dst.resize(static_cast<std::size_t>(t.numel()));
    std::memcpy(dst.data(), t.data, t.nbytes());
    release_mapped_pages(t.data, t.nbytes());
  };
  FormatTensors t;
  copy(".qweight", DType::kI32, shapes[0], t.qweight);
  copy(".qzeros", DType::kI32, shapes[1], t.qzeros);
  copy(".scales", DType::kF16, shapes[2], t.scales);
  if (store.find(prefix + ".g_idx")) copy(".g_idx", DType::kI32, {in}, t.g_idx);
  if (q.format != CheckpointFormat::kNative) return from_format(t, out, in, q, store.dir() + ": " + prefix);

  PackedWeight p = PackedWeight::empty(spec, out, in);
  p.qweight = std::move(t.qweight);
  p.qzeros = std::move(t.qzeros);
  p.scales = std::move(t.scales);
  p.g_idx = std::move(t.g_idx);
  for (std::int64_t c = 0; c < static_cast<std::int64_t>(p.g_idx.size()); ++c)
    check(p.g_idx[c] >= 0 && p.g_idx[c] < p.groups(), store.dir(), prefix + ".g_idx", "entry {} is {}, outside 0..{}",
          c, p.g_idx[c], p.groups() - 1);
  for (std::int64_t i = 0; i < out * p.groups(); ++i)
    check(std::isfinite(to_float(p.scales[i])) && to_float(p.scales[i]) > 0, store.dir(), prefix + ".scales",
          "entry {} is {} (scales must be positive and finite)", i, to_float(p.scales[i]));
  return p;
}

}  // namespace ptq::detail
