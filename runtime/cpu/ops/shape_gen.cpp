// CPU reference kernels: ops that make tensors from attributes or shapes (Constant,
// ConstantOfShape, Range, EyeLike), mask them (Trilu) or rearrange blocks (DepthToSpace,
// SpaceToDepth, ReverseSequence).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/shape_internal.h"

namespace kiln::cpu::shape_ops {
namespace {

Status constant_kernel(OpContext& ctx) {
  static const char* kNames[] = {"value",      "value_float",  "value_floats",  "value_int",
                                 "value_ints", "value_string", "value_strings", "sparse_value"};
  int count = 0;
  for (const char* n : kNames) count += ctx.has_attr(n) ? 1 : 0;
  if (count != 1)
    return ctx.invalid("exactly one of the value attributes must be set, got " +
                       std::to_string(count));
  if (ctx.has_attr("sparse_value")) return ctx.unsupported_here("sparse_value is not supported");
  if (ctx.has_attr("value_string") || ctx.has_attr("value_strings"))
    return ctx.unsupported_here("string constants are not supported");
  if (ctx.has_attr("value")) {
    const Tensor* t = ctx.attr_tensor("value");
    if (!t) return Status::ok();  // wrong attribute type: reported by the executor
    if (!t->defined() || !is_storable(t->dtype()))
      return ctx.unsupported_here("the value tensor has a dtype kiln cannot hold");
    ctx.set_output(0, *t);
    return Status::ok();
  }
  if (ctx.opset() < 12) return ctx.invalid("only 'value' is allowed before opset 12");
  Tensor out;
  if (ctx.has_attr("value_float")) {
    out = Tensor::scalar(ctx.attr_float("value_float", 0.0f));
  } else if (ctx.has_attr("value_int")) {
    out = Tensor::scalar(ctx.attr_int("value_int", 0));
  } else if (ctx.has_attr("value_floats")) {
    std::vector<float> v = ctx.attr_floats("value_floats");
    out = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  } else {
    std::vector<int64_t> v = ctx.attr_ints("value_ints");
    out = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  ctx.set_output(0, out);
  return Status::ok();
}

Status constant_of_shape_kernel(OpContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_int_list(ctx, 0, "input"));
  for (int64_t d : shape)
    if (d < 0) return ctx.invalid("shape " + shape_to_string(shape) + " has a negative dimension");
  Tensor value = Tensor::scalar(0.0f);
  if (ctx.has_attr("value")) {
    const Tensor* t = ctx.attr_tensor("value");
    if (!t) return Status::ok();  // wrong attribute type: reported by the executor
    if (!t->defined() || !is_storable(t->dtype()))
      return ctx.unsupported_here("the value tensor has a dtype kiln cannot hold");
    if (t->numel() != 1)
      return ctx.invalid("'value' must hold exactly one element, got shape " +
                         shape_to_string(t->shape()));
    value = *t;
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, value.dtype(), shape));
  const size_t es = dtype_size(value.dtype());
  const auto* v = static_cast<const uint8_t*>(value.raw_data());
  if (std::all_of(v, v + es, [](uint8_t b) { return b == 0; })) return Status::ok();
  for (int64_t i = 0; i < y->numel(); ++i) std::memcpy(at(*y, i), v, es);
  return Status::ok();
}

Status range_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("needs start, limit, delta");
    const Tensor& t = ctx.input(i);
    if (t.numel() != 1 || t.rank() > 1)
      return ctx.invalid("input " + std::to_string(i) + " must be a scalar, got shape " +
                         shape_to_string(t.shape()));
    if (t.dtype() != ctx.input(0).dtype())
      return ctx.invalid("start, limit and delta must have the same dtype");
  }
  const DType dt = ctx.input(0).dtype();
  int64_t n = 0;
  if (is_integer(dt)) {
    const __int128 s = ctx.input(0).to_int64_vector()[0], l = ctx.input(1).to_int64_vector()[0],
                   d = ctx.input(2).to_int64_vector()[0];
    if (d == 0) return ctx.invalid("delta is 0");
    const __int128 span = l - s;
    __int128 q = d > 0 ? (span > 0 ? (span + d - 1) / d : 0) : (span < 0 ? (span + d + 1) / d : 0);
    if (q > INT64_MAX) return ctx.invalid("the range has too many elements");
    n = static_cast<int64_t>(q);
  } else if (is_float(dt)) {
    const double s = ctx.input(0).get_as_double(0), l = ctx.input(1).get_as_double(0),
                 d = ctx.input(2).get_as_double(0);
    if (d == 0) return ctx.invalid("delta is 0");
    const double q = std::ceil((l - s) / d);
    if (!std::isfinite(q) || q > 9.0e18)
      return ctx.invalid("the range from " + std::to_string(s) + " to " + std::to_string(l) +
                         " by " + std::to_string(d) + " has no finite element count");
    n = q > 0 ? static_cast<int64_t>(q) : 0;
  } else {
    return ctx.invalid("unsupported dtype " + std::string(dtype_name(dt)));
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, dt, {n}));
  if (is_integer(dt)) {
    const int64_t s = ctx.input(0).to_int64_vector()[0], d = ctx.input(2).to_int64_vector()[0];
    visit_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T>) {
        T* o = y->data<T>();
        for (int64_t i = 0; i < n; ++i)
          o[i] = static_cast<T>(static_cast<__int128>(s) + static_cast<__int128>(i) * d);
      }
    });
  } else {
    const double s = ctx.input(0).get_as_double(0), d = ctx.input(2).get_as_double(0);
    for (int64_t i = 0; i < n; ++i) y->set_from_double(i, s + static_cast<double>(i) * d);
  }
  return Status::ok();
}

Status eye_like_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) return ctx.invalid("input must be 2-D, got " + shape_to_string(x.shape()));
  DType dt = x.dtype();
  if (ctx.has_attr("dtype")) {
    auto d = dtype_from_onnx(static_cast<int32_t>(ctx.attr_int("dtype", 0)));
    if (!d || !is_storable(*d))
      return ctx.invalid("unsupported dtype " + std::to_string(ctx.attr_int("dtype", 0)));
    dt = *d;
  }
  const int64_t k = ctx.attr_int("k", 0), rows = x.shape()[0], cols = x.shape()[1];
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, dt, x.shape()));
  if (k >= cols || k <= -rows) return Status::ok();
  for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i)
    y->set_from_double(i * cols + i + k, 1.0);
  return Status::ok();
}

Status trilu_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2)
    return ctx.invalid("input must have rank >= 2, got " + shape_to_string(x.shape()));
  int64_t k = 0;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(k, read_int_scalar(ctx, 1, "k"));
  }
  const bool upper = ctx.attr_int("upper", 1) != 0;
  const int64_t rows = x.dim(-2), cols = x.dim(-1);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  if (y->numel() == 0) return Status::ok();
  copy_elems(y->raw_data(), x.raw_data(), dtype_size(x.dtype()), x.numel());
  const size_t es = dtype_size(x.dtype());
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1);
  const int64_t mats = x.numel() / (rows * cols);
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i) {
      // Kept columns: upper j >= i + k, lower j <= i + k.
      const int64_t edge = std::clamp<int64_t>(i + k, 0, cols);
      const int64_t z0 = upper ? 0 : std::clamp<int64_t>(i + k + 1, 0, cols);
      const int64_t z1 = upper ? edge : cols;
      if (z1 > z0) std::memset(at(*y, (m * rows + i) * cols + z0), 0, (z1 - z0) * es);
    }
  return Status::ok();
}

Status depth_space(OpContext& ctx, bool to_space) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  if (x.rank() != 4) return ctx.invalid("input must be 4-D, got " + shape_to_string(x.shape()));
  if (!ctx.has_attr("blocksize")) return ctx.invalid("attribute 'blocksize' is required");
  const int64_t b = ctx.attr_int("blocksize", 0);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  int64_t bb = 0;
  if (b <= 0 || !checked_mul(b, b, &bb))
    return ctx.invalid("blocksize " + std::to_string(b) + " must be positive");
  Shape out, view;
  std::vector<int64_t> st;
  const int64_t HW = H * W;
  if (to_space) {
    if (C % bb != 0)
      return ctx.invalid("channels " + std::to_string(C) + " are not divisible by blocksize^2 " +
                         std::to_string(bb));
    const int64_t c = C / bb;
    int64_t Hb = 0, Wb = 0;
    if (!checked_mul(H, b, &Hb) || !checked_mul(W, b, &Wb)) return ctx.invalid("output too large");
    out = {N, c, Hb, Wb};
    view = {N, c, H, b, W, b};
    const std::string mode = ctx.opset() >= 11 ? ctx.attr_string("mode", "DCR") : "DCR";
    if (mode == "DCR") {
      st = {C * HW, HW, W, b * c * HW, 1, c * HW};
    } else if (mode == "CRD") {
      st = {C * HW, bb * HW, W, b * HW, 1, HW};
    } else {
      return ctx.invalid("unknown mode '" + mode + "'");
    }
  } else {
    if (H % b != 0 || W % b != 0)
      return ctx.invalid("spatial dims " + shape_to_string(x.shape()) +
                         " are not divisible by blocksize " + std::to_string(b));
    int64_t Cb = 0;
    if (!checked_mul(C, bb, &Cb)) return ctx.invalid("output too large");
    out = {N, Cb, H / b, W / b};
    view = {N, b, b, C, H / b, W / b};
    st = {C * HW, W, 1, HW, b * W, b};
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  strided_copy(ctx, y->raw_data(), x.raw_data(), dtype_size(x.dtype()), view, st, 0);
  return Status::ok();
}

Status depth_to_space_kernel(OpContext& ctx) {
  return depth_space(ctx, true);
}
Status space_to_depth_kernel(OpContext& ctx) {
  return depth_space(ctx, false);
}

Status reverse_sequence_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lens, read_int_list(ctx, 1, "sequence_lens"));
  if (x.rank() < 2) return ctx.invalid("input must have rank >= 2");
  const int64_t ba = ctx.attr_int("batch_axis", 1), ta = ctx.attr_int("time_axis", 0);
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
    return ctx.invalid("batch_axis and time_axis must be 0 and 1 in some order (got " +
                       std::to_string(ba) + ", " + std::to_string(ta) + ")");
  const int64_t B = x.shape()[ba], T = x.shape()[ta];
  if (static_cast<int64_t>(lens.size()) != B)
    return ctx.invalid("sequence_lens has " + std::to_string(lens.size()) +
                       " entries for a batch of " + std::to_string(B));
  for (size_t i = 0; i < lens.size(); ++i)
    if (lens[i] < 0 || lens[i] > T)
      return ctx.runtime("sequence_lens[" + std::to_string(i) + "] = " + std::to_string(lens[i]) +
                         " is out of range [0, " + std::to_string(T) + "]");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  const size_t es = dtype_size(x.dtype());
  copy_elems(y->raw_data(), x.raw_data(), es, x.numel());
  if (x.numel() == 0) return Status::ok();
  const int64_t inner = x.numel() / (B * T), d1 = x.shape()[1];
  auto off = [&](int64_t t, int64_t b) { return ((ta == 0 ? t * d1 + b : b * d1 + t)) * inner; };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < lens[b]; ++t)
      copy_elems(at(*y, off(t, b)), at(x, off(lens[b] - 1 - t, b)), es, inner);
  return Status::ok();
}

}  // namespace

void register_shape_gen_kernels(KernelRegistry& r) {
  r.add("", "Constant", constant_kernel);
  r.add("", "ConstantOfShape", constant_of_shape_kernel, 9);
  r.add("", "Range", range_kernel, 11);
  r.add("", "EyeLike", eye_like_kernel, 9);
  r.add("", "Trilu", trilu_kernel, 14);
  r.add("", "DepthToSpace", depth_to_space_kernel);
  r.add("", "SpaceToDepth", space_to_depth_kernel);
  r.add("", "ReverseSequence", reverse_sequence_kernel, 10);
}

}  // namespace kiln::cpu::shape_ops
