// Vulkan data-movement ops (shaders/copy.comp, gather.comp). Reshape, Flatten, Squeeze and
// Unsqueeze are views (the output aliases the input: no work). Transpose, Expand, Slice, Concat,
// Split, DepthToSpace and SpaceToDepth are strided copies (one dispatch per input or output);
// Gather has its own shader.
// Elements move as raw bits (1, 2, 4 or 8 bytes): float32, float16, int32, int64, bool...
// Shape arithmetic and validation follow the CPU reference kernels (and the OpenCL backend's
// ops_data.cpp, which this mirrors).
//
// Tensors above the binding limit: every copy dispatch binds only the element window it touches,
// and a copy whose source or destination window is too large is cut in halves along the dim
// that spans the most, until each piece fits. A Gather along axis 0 of large data runs once per
// window of rows (gather_win.comp), and a large output or index list is cut into runs of indices.
#include <algorithm>
#include <climits>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using namespace ops;

constexpr size_t kMaxCopyRank = 6;  // copy.comp

// The data input must be present and of an element size the copy shaders move.
Support movable(const VkContext& ctx, const std::vector<InputInfo>& in, size_t i,
                int max_rank = 8) {
  if (in.size() <= i || !in[i].present) return Support::no("missing input " + std::to_string(i));
  const DType dt = in[i].desc.dtype;
  const uint32_t es = shader_elem_size(dt);
  if (es == 0 || dtype_size(dt) != es)
    return Support::no(std::string("no Vulkan copy shader for dtype ") + dtype_name(dt));
  if (es == 1 && !ctx.features().bytes())
    return Support::no("1-byte elements need 8-bit storage and shaderInt8 on the Vulkan device");
  if (es == 2 && !ctx.features().halves())
    return Support::no("2-byte elements need 16-bit storage on the Vulkan device");
  if (static_cast<int>(in[i].desc.shape.size()) > max_rank)
    return Support::no("rank above " + std::to_string(max_rank));
  return Support::yes();
}

// Product of dims, failing on overflow or when too large for 32-bit shader indexing.
Expected<int64_t> device_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return invalid_argument("negative dimension in " + shape_to_string(s));
    if (__builtin_mul_overflow(n, d, &n) || n >= INT_MAX)
      return unsupported("a tensor of shape " + shape_to_string(s) +
                         " is too large for the Vulkan data shaders");
  }
  return n;
}

// One copy dispatch: dst[dst_base + sum q_d * dst_st[d]] = src[src_base + sum q_d * sst[d]] over
// every index q of `dims` (dst_st empty = dense).
struct CopyDesc {
  Shape dims;
  std::vector<int64_t> sst;
  std::vector<int64_t> dst_st;
  int64_t src_base = 0, dst_base = 0;
  int in = 0, out = 0;  // node input / output index
};

bool fits_i32(int64_t v) {
  return v > INT_MIN && v < INT_MAX;
}

// Elements [lo, hi) a strided walk from `base` over dims touches.
struct Span {
  int64_t lo = 0, hi = 0;
  int64_t size() const { return hi - lo; }
};
Span span_of(int64_t base, const Shape& dims, const std::vector<int64_t>& st) {
  Span s{base, base};
  for (size_t k = 0; k < dims.size(); ++k) {
    const int64_t ext = (dims[k] - 1) * st[k];
    (ext < 0 ? s.lo : s.hi) += ext;
  }
  s.hi += 1;
  return s;
}

// Cuts a (merged, non-empty) copy until the source and destination windows of each piece hold at
// most `budget` elements: halves along the dim with the largest extent in an offending tensor.
Status split_copy(const CopyDesc& c, int64_t budget, std::vector<CopyDesc>* out) {
  const bool src_big = span_of(c.src_base, c.dims, c.sst).size() > budget;
  const bool dst_big = span_of(c.dst_base, c.dims, c.dst_st).size() > budget;
  if (!src_big && !dst_big) {
    out->push_back(c);
    return Status::ok();
  }
  int best = -1;
  int64_t best_ext = 0;
  for (size_t k = 0; k < c.dims.size(); ++k) {
    if (c.dims[k] < 2) continue;
    int64_t ext = 0;
    if (src_big) ext = std::max(ext, (c.dims[k] - 1) * std::abs(c.sst[k]));
    if (dst_big) ext = std::max(ext, (c.dims[k] - 1) * std::abs(c.dst_st[k]));
    if (ext > best_ext) {
      best_ext = ext;
      best = static_cast<int>(k);
    }
  }
  if (best < 0) return unsupported("a copy cannot be split to fit the binding limit");
  const int64_t h = c.dims[best] / 2;
  CopyDesc a = c, b = c;
  a.dims[best] = h;
  b.dims[best] = c.dims[best] - h;
  b.src_base += h * c.sst[best];
  b.dst_base += h * c.dst_st[best];
  KILN_RETURN_IF_ERROR(split_copy(a, budget, out));
  return split_copy(b, budget, out);
}

Status add_copy(VkContext& ctx, DType dt, CopyDesc d, std::vector<VkStep>* steps) {
  KILN_ASSIGN_OR_RETURN(int64_t n, device_numel(d.dims));
  if (n == 0) return Status::ok();
  if (d.dst_st.empty()) d.dst_st = cpu::strides_of(d.dims);
  // Drop unit dims and merge dims that are contiguous in both source and destination.
  CopyDesc c;
  for (size_t k = 0; k < d.dims.size(); ++k) {
    if (d.dims[k] == 1) continue;
    if (!c.dims.empty() && c.sst.back() == d.sst[k] * d.dims[k] &&
        c.dst_st.back() == d.dst_st[k] * d.dims[k]) {
      c.dims.back() *= d.dims[k];
      c.sst.back() = d.sst[k];
      c.dst_st.back() = d.dst_st[k];
    } else {
      c.dims.push_back(d.dims[k]);
      c.sst.push_back(d.sst[k]);
      c.dst_st.push_back(d.dst_st[k]);
    }
  }
  if (c.dims.size() > kMaxCopyRank) return unsupported("a copy of rank above 6");
  for (const auto* v : {&c.dims, &c.sst, &c.dst_st})
    for (int64_t x : *v)
      if (!fits_i32(x)) return unsupported("strides too large for the Vulkan copy shader");
  if (!fits_i32(d.src_base) || !fits_i32(d.dst_base))
    return unsupported("offsets too large for the Vulkan copy shader");
  const uint32_t es = shader_elem_size(dt);
  if (es == 0) return unsupported(std::string("no Vulkan copy shader for dtype ") + dtype_name(dt));
  c.src_base = d.src_base;
  c.dst_base = d.dst_base;
  c.in = d.in;
  c.out = d.out;
  std::vector<CopyDesc> pieces;
  const int64_t budget = std::max<int64_t>(static_cast<int64_t>(ctx.max_window_bytes() / es), 1);
  KILN_RETURN_IF_ERROR(split_copy(c, budget, &pieces));
  for (const CopyDesc& q : pieces) {
    const int64_t m = numel_of(q.dims);
    const Span src = span_of(q.src_base, q.dims, q.sst);
    const Span dst = span_of(q.dst_base, q.dims, q.dst_st);
    Push p;
    // Each binding holds the window the piece touches; the shader's bases stay in tensor
    // coordinates (the element offsets point at element 0). Negative strides (Slice with
    // negative steps) wrap in 32-bit arithmetic, as intended.
    p.u(m).u(static_cast<int64_t>(q.dims.size())).u(q.src_base).u(q.dst_base);
    p.arr(q.dims, kMaxCopyRank).arr(q.sst, kMaxCopyRank).arr(q.dst_st, kMaxCopyRank);
    VkTensorRef from = in_ref(q.in, es), to = out_ref(q.out, es);
    from.win_begin = src.lo;
    from.win_count = src.size();
    to.win_begin = dst.lo;
    to.win_count = dst.size();
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, "copy_" + std::to_string(es), {from, to}, p, m));
    steps->push_back(std::move(s));
  }
  return Status::ok();
}

Expected<std::unique_ptr<DeviceKernel>> single_copy(VkContext& ctx, const std::string& name,
                                                    DType dt, CopyDesc d) {
  KILN_RETURN_IF_ERROR(device_numel(d.dims).status());
  Shape out = d.dims;
  std::vector<VkStep> steps;
  KILN_RETURN_IF_ERROR(add_copy(ctx, dt, std::move(d), &steps));
  return steps_kernel(ctx, name, {{dt, out}}, std::move(steps));
}

// --- views ---------------------------------------------------------------------------------------

Expected<std::unique_ptr<DeviceKernel>> make_view(const InputInfo& x, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return invalid_argument("invalid view shape " + shape_to_string(shape));
  if (n != x.desc.numel())
    return invalid_argument("cannot view a tensor of shape " + shape_to_string(x.desc.shape) +
                            " as " + shape_to_string(shape));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<VkViewKernel>(TensorDesc{x.desc.dtype, shape}));
}

Support view_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input 0");
  (void)ctx;
  if (dtype_size(in[0].desc.dtype) == 0)
    return Support::no(std::string("dtype ") + dtype_name(in[0].desc.dtype));
  const std::string& op = n.op_type();
  if (op == "Reshape") {
    if (n.opset() < 5) return Support::no("Reshape before opset 5 has no CPU reference");
    return host_input(in, 1, true);
  }
  if (op == "Squeeze" && n.opset() >= 13) return host_input(in, 1, false);
  if (op == "Unsqueeze" && n.opset() >= 13) return host_input(in, 1, true);
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> reshape_prepare(VkContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t numel = in[0].desc.numel();
  const int64_t rank = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> req, read_int_list(in, 1, "shape"));
  const bool allowzero = n.opset() >= 14 && attr_i(n, "allowzero", 0) != 0;
  Shape out(req.size());
  int infer = -1;
  bool has_zero = false;
  for (size_t i = 0; i < req.size(); ++i) {
    int64_t d = req[i];
    if (d == -1) {
      if (infer >= 0) return invalid_argument("more than one -1 in the shape");
      infer = static_cast<int>(i);
      out[i] = 1;
    } else if (d < -1) {
      return invalid_argument("invalid dimension " + std::to_string(d));
    } else if (d == 0 && !allowzero) {
      if (static_cast<int64_t>(i) >= rank)
        return invalid_argument("dimension " + std::to_string(i) +
                                " is 0 (copy the input dim) but the input has rank " +
                                std::to_string(rank));
      out[i] = xs[i];
    } else {
      has_zero |= d == 0;
      out[i] = d;
    }
  }
  if (allowzero && has_zero && infer >= 0)
    return invalid_argument("allowzero=1 forbids a 0 together with -1");
  int64_t known = 1;
  for (int64_t d : out)
    if (__builtin_mul_overflow(known, d, &known))
      return invalid_argument("the requested shape overflows");
  if (infer >= 0) {
    if (known == 0 || numel % known != 0) return invalid_argument("cannot infer the -1 dimension");
    out[infer] = numel / known;
  }
  return make_view(in[0], out);
}

Expected<std::unique_ptr<DeviceKernel>> flatten_prepare(VkContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  int64_t axis = attr_i(n, "axis", 1);
  if (axis < -r || axis > r)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(r));
  if (axis < 0) axis += r;
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= xs[i];
  return make_view(in[0], {a, b});
}

Expected<std::unique_ptr<DeviceKernel>> squeeze_prepare(VkContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  std::vector<int64_t> axes;
  bool given = false;
  if (n.opset() >= 13) {
    if (in.size() > 1 && in[1].present) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(in, 1, "axes"));
      given = true;
    }
  } else if (has_attr(n, "axes")) {
    KILN_ASSIGN_OR_RETURN(axes, attr_ints(n, "axes"));
    given = true;
  }
  std::vector<bool> drop(r, false);
  if (given) {
    KILN_ASSIGN_OR_RETURN(auto na, norm_axes(axes, r, "axis"));
    for (int64_t a : na) {
      if (xs[a] != 1)
        return invalid_argument("cannot squeeze axis " + std::to_string(a) + " of size " +
                                std::to_string(xs[a]));
      drop[a] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) drop[i] = xs[i] == 1;
  }
  Shape out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(xs[i]);
  return make_view(in[0], out);
}

Expected<std::unique_ptr<DeviceKernel>> unsqueeze_prepare(VkContext&, const ir::Node& n,
                                                          const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  std::vector<int64_t> axes;
  if (n.opset() >= 13) {
    KILN_ASSIGN_OR_RETURN(axes, read_int_list(in, 1, "axes"));
  } else {
    if (!has_attr(n, "axes")) return invalid_argument("attribute 'axes' is required");
    KILN_ASSIGN_OR_RETURN(axes, attr_ints(n, "axes"));
  }
  const int64_t out_rank = static_cast<int64_t>(xs.size() + axes.size());
  KILN_ASSIGN_OR_RETURN(auto na, norm_axes(axes, out_rank, "axis"));
  std::vector<bool> ins(out_rank, false);
  for (int64_t a : na) ins[a] = true;
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(ins[i] ? 1 : xs[k++]);
  return make_view(in[0], out);
}

// --- strided copies ---

Support transpose_supports(const VkContext& ctx, const ir::Node&,
                           const std::vector<InputInfo>& in) {
  return movable(ctx, in, 0);
}

Expected<std::unique_ptr<DeviceKernel>> transpose_prepare(VkContext& ctx, const ir::Node& n,
                                                          const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int r = static_cast<int>(xs.size());
  std::vector<int64_t> perm;
  if (has_attr(n, "perm")) {
    KILN_ASSIGN_OR_RETURN(perm, attr_ints(n, "perm"));
  } else {
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int>(perm.size()) != r)
    return invalid_argument("perm has " + std::to_string(perm.size()) +
                            " entries for an input of rank " + std::to_string(r));
  std::vector<bool> seen(r, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= r || seen[p])
      return invalid_argument("perm " + shape_to_string(perm) + " is not a permutation");
    seen[p] = true;
  }
  CopyDesc d;
  std::vector<int64_t> in_st = cpu::strides_of(xs);
  for (int i = 0; i < r; ++i) {
    d.dims.push_back(xs[perm[i]]);
    d.sst.push_back(in_st[perm[i]]);
  }
  return single_copy(ctx, "transpose", in[0].desc.dtype, std::move(d));
}

Support expand_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (n.opset() < 8) return Support::no("Expand before opset 8");
  Support s = both(movable(ctx, in, 0), host_input(in, 1, true));
  if (s.ok && in[1].desc.numel() > 8) return Support::no("rank above 8");
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> expand_prepare(VkContext& ctx, const ir::Node&,
                                                       const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_int_list(in, 1, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + shape_to_string(shape) + " has a negative dim");
  auto out = cpu::broadcast_shapes({xs, shape});
  if (!out)
    return invalid_argument("cannot expand shape " + shape_to_string(xs) + " to " +
                            shape_to_string(shape));
  CopyDesc d;
  d.dims = *out;
  d.sst = cpu::broadcast_strides(xs, *out);
  return single_copy(ctx, "expand", in[0].desc.dtype, std::move(d));
}

Support slice_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = movable(ctx, in, 0);
  if (!s.ok || n.opset() < 10) return s;
  for (size_t i = 1; i <= 4; ++i) s = both(s, host_input(in, i, i <= 2));
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> slice_prepare(VkContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false, has_steps = false;
  if (n.opset() < 10) {
    if (!has_attr(n, "starts") || !has_attr(n, "ends"))
      return invalid_argument("attributes 'starts' and 'ends' are required");
    KILN_ASSIGN_OR_RETURN(starts, attr_ints(n, "starts"));
    KILN_ASSIGN_OR_RETURN(ends, attr_ints(n, "ends"));
    if ((has_axes = has_attr(n, "axes"))) {
      KILN_ASSIGN_OR_RETURN(axes, attr_ints(n, "axes"));
    }
  } else {
    KILN_ASSIGN_OR_RETURN(starts, read_int_list(in, 1, "starts", true));
    KILN_ASSIGN_OR_RETURN(ends, read_int_list(in, 2, "ends", true));
    if ((has_axes = in.size() > 3 && in[3].present)) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(in, 3, "axes", true));
    }
    if ((has_steps = in.size() > 4 && in[4].present)) {
      KILN_ASSIGN_OR_RETURN(steps, read_int_list(in, 4, "steps", true));
    }
  }
  const size_t k = starts.size();
  if (ends.size() != k || (has_axes && axes.size() != k) || (has_steps && steps.size() != k))
    return invalid_argument("starts, ends, axes and steps must have the same length");
  if (!has_axes)
    for (size_t i = 0; i < k; ++i) axes.push_back(static_cast<int64_t>(i));
  if (!has_steps) steps.assign(k, 1);
  KILN_ASSIGN_OR_RETURN(axes, norm_axes(axes, r, "axis"));
  CopyDesc d;
  d.dims = xs;
  const std::vector<int64_t> in_st = cpu::strides_of(xs);
  d.sst = in_st;
  for (size_t i = 0; i < k; ++i) {
    const int64_t a = axes[i], dim = xs[a];
    const int64_t step = std::max(steps[i], -std::numeric_limits<int64_t>::max());
    if (step == 0) return invalid_argument("step for axis " + std::to_string(a) + " is 0");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s = s < -dim ? -1 - dim : s + dim;
    if (e < 0) e = e < -dim ? -1 - dim : e + dim;
    int64_t count = 0;
    if (dim > 0) {
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        if (e > s) count = (e - s - 1) / step + 1;
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        if (s > e) count = (s - e - 1) / (-step) + 1;
      }
    }
    d.dims[a] = count;
    if (count > 0) d.src_base += s * in_st[a];
    d.sst[a] = in_st[a] * (count > 1 ? step : 1);
  }
  return single_copy(ctx, "slice", in[0].desc.dtype, std::move(d));
}

Support concat_supports(const VkContext& ctx, const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.empty()) return Support::no("no inputs");
  for (size_t i = 0; i < in.size(); ++i) {
    Support s = movable(ctx, in, i);
    if (!s.ok) return s;
  }
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> concat_prepare(VkContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  if (!has_attr(n, "axis")) return invalid_argument("attribute 'axis' is required");
  const Shape& x0 = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  const int64_t r = static_cast<int64_t>(x0.size());
  if (r == 0) return invalid_argument("cannot concatenate scalars");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(attr_i(n, "axis", 0), r, "axis"));
  Shape out = x0;
  out[axis] = 0;
  for (const InputInfo& x : in) {
    if (x.desc.dtype != dt) return invalid_argument("inputs have different dtypes");
    bool ok = static_cast<int64_t>(x.desc.shape.size()) == r;
    for (int64_t d = 0; ok && d < r; ++d) ok = d == axis || x.desc.shape[d] == x0[d];
    if (!ok)
      return invalid_argument("cannot concatenate shapes " + shape_to_string(x0) + " and " +
                              shape_to_string(x.desc.shape) + " on axis " + std::to_string(axis));
    if (__builtin_add_overflow(out[axis], x.desc.shape[axis], &out[axis]))
      return invalid_argument("the concatenated axis overflows");
  }
  KILN_RETURN_IF_ERROR(device_numel(out).status());
  const std::vector<int64_t> out_st = cpu::strides_of(out);
  std::vector<VkStep> steps;
  int64_t at = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    CopyDesc d;
    d.dims = in[i].desc.shape;
    d.sst = cpu::strides_of(d.dims);
    d.dst_st = out_st;
    d.dst_base = at * out_st[axis];
    d.in = static_cast<int>(i);
    at += d.dims[axis];
    KILN_RETURN_IF_ERROR(add_copy(ctx, dt, std::move(d), &steps));
  }
  return steps_kernel(ctx, "concat", {{dt, out}}, std::move(steps));
}

Support split_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = movable(ctx, in, 0);
  if (s.ok && n.opset() >= 13) s = host_input(in, 1, false);
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> split_prepare(VkContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  if (xs.empty()) return invalid_argument("cannot split a scalar");
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        norm_axis(attr_i(n, "axis", 0), static_cast<int64_t>(xs.size()), "axis"));
  const int64_t num = static_cast<int64_t>(n.outputs().size());
  const int64_t dim = xs[axis];
  std::vector<int64_t> split;
  bool given = false;
  if (n.opset() >= 13) {
    if (in.size() > 1 && in[1].present) {
      KILN_ASSIGN_OR_RETURN(split, read_int_list(in, 1, "split"));
      given = true;
    }
  } else if (has_attr(n, "split")) {
    KILN_ASSIGN_OR_RETURN(split, attr_ints(n, "split"));
    given = true;
  }
  const bool has_num = n.opset() >= 18 && has_attr(n, "num_outputs");
  if (given && has_num) return invalid_argument("'split' and 'num_outputs' are both given");
  if (num == 0) return invalid_argument("has no outputs");
  if (given) {
    if (static_cast<int64_t>(split.size()) != num)
      return invalid_argument("'split' has the wrong number of entries");
    int64_t sum = 0;
    for (int64_t s : split)
      if (s < 0 || __builtin_add_overflow(sum, s, &sum))
        return invalid_argument("'split' has a negative or huge entry");
    if (sum != dim) return invalid_argument("'split' does not sum to the axis size");
  } else if (has_num) {
    if (attr_i(n, "num_outputs", 0) != num)
      return invalid_argument("num_outputs does not match the number of outputs");
    const int64_t chunk = (dim + num - 1) / num;
    const int64_t last = dim - chunk * (num - 1);
    if (last < 0) return invalid_argument("cannot split the axis into num_outputs chunks");
    split.assign(num, chunk);
    split.back() = last;
  } else {
    if (dim % num != 0) return invalid_argument("the axis does not split evenly");
    split.assign(num, dim / num);
  }
  const std::vector<int64_t> in_st = cpu::strides_of(xs);
  std::vector<TensorDesc> outs;
  std::vector<VkStep> steps;
  int64_t at = 0;
  for (int64_t i = 0; i < num; ++i) {
    CopyDesc d;
    d.dims = xs;
    d.dims[axis] = split[i];
    d.sst = in_st;
    d.src_base = at * in_st[axis];
    d.out = static_cast<int>(i);
    at += split[i];
    outs.push_back({dt, d.dims});
    KILN_RETURN_IF_ERROR(add_copy(ctx, dt, std::move(d), &steps));
  }
  return steps_kernel(ctx, "split", std::move(outs), std::move(steps));
}

// --- DepthToSpace / SpaceToDepth: one strided copy of a 6-D view (as the CPU reference) -------

Support depth_space_supports(const VkContext& ctx, const ir::Node&,
                             const std::vector<InputInfo>& in) {
  return movable(ctx, in, 0);
}

Expected<std::unique_ptr<DeviceKernel>> depth_space_prepare(VkContext& ctx, const ir::Node& n,
                                                            const std::vector<InputInfo>& in) {
  const bool to_space = n.op_type() == "DepthToSpace";
  const Shape& xs = in[0].desc.shape;
  if (xs.size() != 4) return invalid_argument("input must be 4-D, got " + shape_to_string(xs));
  if (!has_attr(n, "blocksize")) return invalid_argument("attribute 'blocksize' is required");
  const int64_t b = attr_i(n, "blocksize", 0);
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  int64_t bb = 0;
  if (b <= 0 || __builtin_mul_overflow(b, b, &bb))
    return invalid_argument("blocksize " + std::to_string(b) + " must be positive");
  KILN_RETURN_IF_ERROR(device_numel(xs).status());
  const int64_t HW = H * W;
  CopyDesc d;
  if (to_space) {
    if (C % bb != 0)
      return invalid_argument("channels " + std::to_string(C) +
                              " are not divisible by blocksize^2 " + std::to_string(bb));
    const int64_t c = C / bb;
    d.dims = {N, c, H, b, W, b};
    const std::string mode = n.opset() >= 11 ? attr_s(n, "mode", "DCR") : "DCR";
    if (mode == "DCR") {
      d.sst = {C * HW, HW, W, b * c * HW, 1, c * HW};
    } else if (mode == "CRD") {
      d.sst = {C * HW, bb * HW, W, b * HW, 1, HW};
    } else {
      return invalid_argument("unknown mode '" + mode + "'");
    }
  } else {
    if (H % b != 0 || W % b != 0)
      return invalid_argument("spatial dims " + shape_to_string(xs) +
                              " are not divisible by blocksize " + std::to_string(b));
    d.dims = {N, b, b, C, H / b, W / b};
    d.sst = {C * HW, W, 1, HW, b * W, b};
  }
  const Shape out = to_space ? Shape{N, C / bb, H * b, W * b} : Shape{N, C * bb, H / b, W / b};
  const DType dt = in[0].desc.dtype;
  std::vector<VkStep> steps;
  KILN_RETURN_IF_ERROR(add_copy(ctx, dt, std::move(d), &steps));
  return steps_kernel(ctx, to_space ? "depth_to_space" : "space_to_depth", {{dt, out}},
                      std::move(steps));
}

// --- Gather --------------------------------------------------------------------------------------

// Indices stay on the device; an index out of range (after adding the axis size to negative
// ones) writes zeros instead of reading out of bounds.
Support gather_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = movable(ctx, in, 0, INT_MAX);
  if (!s.ok) return s;
  const Shape& xs = in[0].desc.shape;
  if (in[0].desc.nbytes() > ctx.max_window_bytes() && !xs.empty()) {
    const int64_t r = static_cast<int64_t>(xs.size());
    const int64_t axis = std::clamp<int64_t>(attr_i(n, "axis", 0), -r, r - 1);
    if (numel_of(Shape(xs.begin(), xs.begin() + (axis < 0 ? axis + r : axis))) != 1)
      return Support::no("data above the storage-buffer binding range (" +
                         std::to_string(ctx.max_binding_bytes()) +
                         " bytes) is split only for a Gather along axis 0");
  }
  if (in.size() < 2 || !in[1].present) return Support::no("missing indices");
  if (in[1].desc.dtype != DType::kInt64 && in[1].desc.dtype != DType::kInt32)
    return Support::no("indices must be int32 or int64");
  if (shader_elem_size(in[0].desc.dtype) == 2 && !ctx.features().int16)
    return Support::no("gathering 2-byte elements needs shaderInt16 on the Vulkan device");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> gather_prepare(VkContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const Shape& is = in[1].desc.shape;
  const DType dt = in[0].desc.dtype;
  if (xs.empty()) return invalid_argument("data must have rank >= 1");
  const int64_t r = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(attr_i(n, "axis", 0), r, "axis"));
  Shape out(xs.begin(), xs.begin() + axis);
  out.insert(out.end(), is.begin(), is.end());
  out.insert(out.end(), xs.begin() + axis + 1, xs.end());
  KILN_ASSIGN_OR_RETURN(int64_t total, device_numel(out));
  KILN_ASSIGN_OR_RETURN(int64_t nidx, device_numel(is));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < r; ++d) inner *= xs[d];
  const int64_t dim = xs[axis];
  if (!fits_i32(dim) || !fits_i32(inner)) return unsupported("data too large");
  const uint32_t es = shader_elem_size(dt);
  const bool i64 = in[1].desc.dtype == DType::kInt64;
  const std::string suffix = std::to_string(es) + (i64 ? "_i64" : "_i32");
  const uint32_t ies = i64 ? 8 : 4;
  std::vector<VkStep> steps;
  const uint64_t limit = ctx.max_window_bytes();
  const bool big_data = in[0].desc.nbytes() > limit;
  const bool big_rest =
      static_cast<uint64_t>(total) * es > limit || static_cast<uint64_t>(nidx) * ies > limit;
  if (total > 0 && !big_data && !big_rest) {
    Push p;
    p.u(total).u(dim).u(nidx).u(inner);
    KILN_ASSIGN_OR_RETURN(VkStep s,
                          make_step(ctx, "gather_" + suffix,
                                    {in_ref(0, es), in_ref(1, ies), out_ref(0, es)}, p, total));
    steps.push_back(std::move(s));
  } else if (total > 0) {
    // Split: runs of indices (output rows) times windows of data rows. Needs axis 0 (or only
    // unit dims before it) so that both are contiguous.
    if (axis > 0 && numel_of(Shape(xs.begin(), xs.begin() + axis)) != 1)
      return unsupported("a Gather above the binding limit needs axis 0");
    const int64_t row_bytes = inner * es;
    const int64_t rows =
        std::max<int64_t>(static_cast<int64_t>(limit) / std::max<int64_t>(row_bytes, 1), 1);
    const int64_t run = std::max<int64_t>(
        std::min<int64_t>(static_cast<int64_t>(limit) / std::max<int64_t>(row_bytes, 1),
                          static_cast<int64_t>(limit) / ies),
        1);
    if (row_bytes > static_cast<int64_t>(limit))
      return unsupported("one Gather row ies larger than the binding limit");
    for (int64_t j0 = 0; j0 < nidx; j0 += run) {
      const int64_t cnt = std::min(run, nidx - j0);
      VkTensorRef idx = in_ref(1, ies), y = out_ref(0, es);
      idx.win_begin = idx.origin = j0;
      idx.win_count = cnt;
      y.win_begin = y.origin = j0 * inner;
      y.win_count = cnt * inner;
      for (int64_t lo = 0; lo < dim; lo += rows) {
        const int64_t hi = std::min(dim, lo + rows);
        VkTensorRef x = in_ref(0, es);
        x.win_begin = x.origin = lo * inner;
        x.win_count = (hi - lo) * inner;
        Push p;
        p.u(cnt * inner).u(dim).u(inner).u(lo).u(hi).u(lo == 0 ? 1 : 0);
        KILN_ASSIGN_OR_RETURN(VkStep s,
                              make_step(ctx, "gather_win_" + suffix, {x, idx, y}, p, cnt * inner));
        steps.push_back(std::move(s));
      }
    }
  }
  return steps_kernel(ctx, "gather", {{dt, out}}, std::move(steps));
}

}  // namespace

void register_vk_data(VkOpRegistry& r) {
  // Every kernel here binds windows that fit the binding limit (`splits`).
  r.add("Reshape", {{1}, view_supports, reshape_prepare, true});
  r.add("Flatten", {{}, view_supports, flatten_prepare, true});
  r.add("Squeeze", {{1}, view_supports, squeeze_prepare, true});
  r.add("Unsqueeze", {{1}, view_supports, unsqueeze_prepare, true});
  r.add("Transpose", {{}, transpose_supports, transpose_prepare, true});
  r.add("Expand", {{1}, expand_supports, expand_prepare, true});
  r.add("Slice", {{1, 2, 3, 4}, slice_supports, slice_prepare, true});
  r.add("Concat", {{}, concat_supports, concat_prepare, true});
  r.add("Split", {{1}, split_supports, split_prepare, true});
  r.add("Gather", {{}, gather_supports, gather_prepare, true});
  r.add("DepthToSpace", {{}, depth_space_supports, depth_space_prepare, true});
  r.add("SpaceToDepth", {{}, depth_space_supports, depth_space_prepare, true});
  register_vk_data_extra(r);
}

}  // namespace kiln::vulkan
