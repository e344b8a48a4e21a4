// CPU reference kernels: shape ops that only change how elements are viewed or ordered
// (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Shape, Size), the helpers shared by
// the other shape*.cpp files, and the registration of every shape kernel.
#include <algorithm>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/shape_internal.h"

namespace kiln::cpu {
namespace shape_ops {

Expected<std::vector<int64_t>> read_int_list(const OpContext& ctx, size_t i,
                                             const std::string& what, bool allow_int32,
                                             bool allow_scalar) {
  if (!ctx.has_input(i)) return ctx.invalid("missing input '" + what + "'");
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kInt64 && !(allow_int32 && t.dtype() == DType::kInt32))
    return ctx.invalid("input '" + what + "' must be " +
                       (allow_int32 ? "int32 or int64" : "int64") + ", got " +
                       dtype_name(t.dtype()));
  if (t.rank() != 1 && !(allow_scalar && t.rank() == 0))
    return ctx.invalid("input '" + what + "' must be a 1-D tensor, got shape " +
                       shape_to_string(t.shape()));
  return t.to_int64_vector();
}

Expected<int64_t> read_int_scalar(const OpContext& ctx, size_t i, const std::string& what) {
  if (!ctx.has_input(i)) return ctx.invalid("missing input '" + what + "'");
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return ctx.invalid("input '" + what + "' must be int32 or int64, got " + dtype_name(t.dtype()));
  if (t.numel() != 1 || t.rank() > 1)
    return ctx.invalid("input '" + what + "' must hold exactly one value, got shape " +
                       shape_to_string(t.shape()));
  return t.to_int64_vector()[0];
}

Expected<int64_t> norm_axis(const OpContext& ctx, int64_t axis, int64_t rank,
                            const std::string& what) {
  if (axis < -rank || axis >= rank)
    return ctx.invalid(what + " " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Expected<std::vector<int64_t>> norm_axes(const OpContext& ctx, const std::vector<int64_t>& axes,
                                         int64_t rank, const std::string& what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, norm_axis(ctx, a, rank, what));
    if (seen[n]) return ctx.invalid(what + " " + std::to_string(a) + " is repeated");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

void copy_elems(void* dst, const void* src, size_t es, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * es);
}

namespace {

template <size_t ES>
void copy_strided_row(uint8_t* d, const uint8_t* s, int64_t n, int64_t stride) {
  for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * ES, s + i * stride * int64_t{ES}, ES);
}

void copy_row(uint8_t* d, const uint8_t* s, size_t es, int64_t n, int64_t stride) {
  if (stride == 1) {
    std::memcpy(d, s, static_cast<size_t>(n) * es);
    return;
  }
  switch (es) {
    case 1:
      copy_strided_row<1>(d, s, n, stride);
      return;
    case 2:
      copy_strided_row<2>(d, s, n, stride);
      return;
    case 4:
      copy_strided_row<4>(d, s, n, stride);
      return;
    case 8:
      copy_strided_row<8>(d, s, n, stride);
      return;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(d + i * es, s + i * stride * static_cast<int64_t>(es), es);
  }
}

}  // namespace

void strided_copy(const OpContext& ctx, void* dst, const void* src, size_t es,
                  const Shape& out_shape, const std::vector<int64_t>& strides, int64_t base) {
  Shape dims;
  std::vector<int64_t> st;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] == 0) return;
    if (out_shape[d] == 1) continue;
    if (!dims.empty() && st.back() == strides[d] * out_shape[d]) {
      dims.back() *= out_shape[d];
      st.back() = strides[d];
    } else {
      dims.push_back(out_shape[d]);
      st.push_back(strides[d]);
    }
  }
  auto* out = static_cast<uint8_t*>(dst);
  const auto* in = static_cast<const uint8_t*>(src);
  const int64_t esi = static_cast<int64_t>(es);
  if (dims.empty()) {
    std::memcpy(out, in + base * esi, es);
    return;
  }
  const int64_t inner = dims.back(), inner_stride = st.back();
  const size_t nd = dims.size() - 1;
  int64_t rows = 1;
  for (size_t d = 0; d < nd; ++d) rows *= dims[d];
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, inner * esi));
  ctx.parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(nd, 0);
    int64_t off = base, r = b;
    for (size_t d = nd; d-- > 0;) {
      idx[d] = r % dims[d];
      r /= dims[d];
      off += idx[d] * st[d];
    }
    for (int64_t row = b; row < e; ++row) {
      copy_row(out + row * inner * esi, in + off * esi, es, inner, inner_stride);
      for (size_t d = nd; d-- > 0;) {
        off += st[d];
        if (++idx[d] < dims[d]) break;
        off -= st[d] * dims[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace shape_ops

namespace {

using namespace shape_ops;

Status require_data(const OpContext& ctx, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!ctx.has_input(i)) return ctx.invalid("missing input " + std::to_string(i));
  return Status::ok();
}

// Output 0 = input 0 seen with another shape (shares the bytes).
Status set_view(OpContext& ctx, const Shape& shape) {
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t n, checked_numel(shape));
  if (n != x.numel())
    return ctx.invalid("cannot view a tensor of shape " + shape_to_string(x.shape()) + " as " +
                       shape_to_string(shape));
  ctx.set_output(0, x.reshaped(shape));
  return Status::ok();
}

Status reshape_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 2));
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> req, read_int_list(ctx, 1, "shape"));
  const bool allowzero = ctx.opset() >= 14 && ctx.attr_int("allowzero", 0) != 0;
  const std::string shapes =
      "input shape " + shape_to_string(x.shape()) + ", requested shape " + shape_to_string(req);
  Shape out(req.size());
  int infer = -1;
  bool has_zero = false;
  for (size_t i = 0; i < req.size(); ++i) {
    int64_t d = req[i];
    if (d == -1) {
      if (infer >= 0) return ctx.invalid("more than one -1 in the shape (" + shapes + ")");
      infer = static_cast<int>(i);
      out[i] = 1;
    } else if (d < -1) {
      return ctx.invalid("invalid dimension " + std::to_string(d) + " (" + shapes + ")");
    } else if (d == 0 && !allowzero) {
      if (i >= static_cast<size_t>(x.rank()))
        return ctx.invalid("dimension " + std::to_string(i) +
                           " is 0 (copy the input dim) but the input has rank " +
                           std::to_string(x.rank()) + " (" + shapes + ")");
      out[i] = x.shape()[i];
    } else {
      has_zero |= d == 0;
      out[i] = d;
    }
  }
  if (allowzero && has_zero && infer >= 0)
    return ctx.invalid("allowzero=1 forbids a 0 together with -1 (" + shapes + ")");
  auto known = checked_numel(out);
  if (!known)
    return ctx.invalid("cannot reshape: " + known.status().message() + " (" + shapes + ")");
  if (infer >= 0) {
    if (*known == 0 || x.numel() % *known != 0)
      return ctx.invalid("cannot infer the -1 dimension: " + std::to_string(x.numel()) +
                         " elements do not split into the other dims (" + shapes + ")");
    out[infer] = x.numel() / *known;
  } else if (*known != x.numel()) {
    return ctx.invalid("cannot reshape " + std::to_string(x.numel()) + " elements into " +
                       std::to_string(*known) + " (" + shapes + ", resolved " +
                       shape_to_string(out) + ")");
  }
  ctx.set_output(0, x.reshaped(out));
  return Status::ok();
}

Status flatten_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 1));
  const Tensor& x = ctx.input(0);
  int64_t axis = ctx.attr_int("axis", 1);
  const int64_t r = x.rank();
  if (axis < -r || axis > r)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(r));
  if (axis < 0) axis += r;
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= x.shape()[i];
  return set_view(ctx, {a, b});
}

Status squeeze_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 1));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes;
  bool given = false;
  if (ctx.opset() >= 13) {
    if (ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx, 1, "axes"));
      given = true;
    }
  } else if (ctx.has_attr("axes")) {
    axes = ctx.attr_ints("axes");
    given = true;
  }
  std::vector<bool> drop(x.rank(), false);
  if (given) {
    KILN_ASSIGN_OR_RETURN(auto na, norm_axes(ctx, axes, x.rank(), "axis"));
    for (int64_t a : na) {
      if (x.shape()[a] != 1)
        return ctx.invalid("cannot squeeze axis " + std::to_string(a) + " of size " +
                           std::to_string(x.shape()[a]) + " (input shape " +
                           shape_to_string(x.shape()) + ")");
      drop[a] = true;
    }
  } else {
    for (int i = 0; i < x.rank(); ++i) drop[i] = x.shape()[i] == 1;
  }
  Shape out;
  for (int i = 0; i < x.rank(); ++i)
    if (!drop[i]) out.push_back(x.shape()[i]);
  return set_view(ctx, out);
}

Status unsqueeze_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 1));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes;
  if (ctx.opset() >= 13) {
    KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx, 1, "axes"));
  } else {
    if (!ctx.has_attr("axes")) return ctx.invalid("attribute 'axes' is required");
    axes = ctx.attr_ints("axes");
  }
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
  KILN_ASSIGN_OR_RETURN(auto na, norm_axes(ctx, axes, out_rank, "axis"));
  std::vector<bool> ins(out_rank, false);
  for (int64_t a : na) ins[a] = true;
  Shape out;
  int k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(ins[i] ? 1 : x.shape()[k++]);
  return set_view(ctx, out);
}

Status transpose_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 1));
  const Tensor& x = ctx.input(0);
  const int r = x.rank();
  std::vector<int64_t> perm;
  if (ctx.has_attr("perm")) {
    perm = ctx.attr_ints("perm");
  } else {
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int>(perm.size()) != r)
    return ctx.invalid("perm has " + std::to_string(perm.size()) +
                       " entries for an input of rank " + std::to_string(r));
  std::vector<bool> seen(r, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= r || seen[p])
      return ctx.invalid("perm " + shape_to_string(perm) + " is not a permutation of 0.." +
                         std::to_string(r - 1));
    seen[p] = true;
  }
  Shape out(r);
  std::vector<int64_t> in_st = strides_of(x.shape()), st(r);
  for (int i = 0; i < r; ++i) {
    out[i] = x.shape()[perm[i]];
    st[i] = in_st[perm[i]];
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  strided_copy(ctx, y->raw_data(), x.raw_data(), dtype_size(x.dtype()), out, st, 0);
  return Status::ok();
}

Status expand_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 2));
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_int_list(ctx, 1, "shape"));
  for (int64_t d : shape)
    if (d < 0) return ctx.invalid("shape " + shape_to_string(shape) + " has a negative dimension");
  auto out = broadcast_shapes({x.shape(), shape});
  if (!out)
    return ctx.invalid("cannot expand shape " + shape_to_string(x.shape()) + " to " +
                       shape_to_string(shape));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), *out));
  strided_copy(ctx, y->raw_data(), x.raw_data(), dtype_size(x.dtype()), *out,
               broadcast_strides(x.shape(), *out), 0);
  return Status::ok();
}

Status shape_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 1));
  const Shape& s = ctx.input(0).shape();
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = 0, end = r;
  if (ctx.opset() >= 15) {
    start = ctx.attr_int("start", 0);
    end = ctx.attr_int("end", r);
  }
  auto clamp = [r](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {end - start}));
  for (int64_t i = start; i < end; ++i) y->data<int64_t>()[i - start] = s[i];
  return Status::ok();
}

Status size_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_data(ctx, 1));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {}));
  *y->data<int64_t>() = ctx.input(0).numel();
  return Status::ok();
}

}  // namespace

void register_shape_kernels(KernelRegistry& r) {
  r.add("", "Reshape", reshape_kernel, 5);
  r.add("", "Flatten", flatten_kernel);
  r.add("", "Squeeze", squeeze_kernel);
  r.add("", "Unsqueeze", unsqueeze_kernel);
  r.add("", "Transpose", transpose_kernel);
  r.add("", "Expand", expand_kernel, 8);
  r.add("", "Shape", shape_kernel);
  r.add("", "Size", size_kernel);
  shape_ops::register_shape_layout_kernels(r);
  shape_ops::register_shape_index_kernels(r);
  shape_ops::register_shape_gen_kernels(r);
}

}  // namespace kiln::cpu
