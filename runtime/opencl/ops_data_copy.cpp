// OpenCL strided copies (kernels/data.cl): Transpose, Expand, Slice, Tile, Concat and Split, one
// launch per input or output, elements moved as raw bits of 1, 2, 4 or 8 bytes. Validation
// follows the CPU reference kernels (runtime/cpu/ops/shape*.cpp).
#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/ops_data_internal.h"

namespace kiln::opencl {

namespace {

using namespace data_detail;  // NOLINT(build/namespaces): helpers shared by the data op files

// --- strided copies ------------------------------------------------------------------------------

// One copy launch: dst[dst_base + sum q_d * dst_st[d]] = src[src_base + sum q_d' * sst[d]] over
// every index q of `dims` (q_d' = q_d % mods[d] when mods is set; dst_st empty = dense).
struct CopyDesc {
  Shape dims;
  std::vector<int64_t> mods;
  std::vector<int64_t> sst;
  std::vector<int64_t> dst_st;
  int64_t src_base = 0, dst_base = 0;
  int in = 0, out = 0;  // node input / output index
};

struct Launch {
  cl::Kernel kernel;
  int in = 0, out = 0;
  int64_t n = 0;  // work-items; 0 = nothing to do
};

Expected<Launch> make_copy(ClContext& ctx, DType dt, CopyDesc d) {
  Launch l;
  l.in = d.in;
  l.out = d.out;
  KILN_ASSIGN_OR_RETURN(l.n, device_numel(d.dims));
  if (l.n == 0) return l;
  const bool dense = d.dst_st.empty();
  if (dense) d.dst_st = cpu::strides_of(d.dims);
  const bool mods = !d.mods.empty();
  // Drop unit dims and merge dims that are contiguous in both source and destination.
  if (!mods) {
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
    d.dims = c.dims;
    d.sst = c.sst;
    d.dst_st = c.dst_st;
  }
  if (d.dims.size() > 8) return unsupported("a copy of rank above 8");
  if (!all_fit_int(d.dims) || !all_fit_int(d.sst) || !all_fit_int(d.dst_st) ||
      !all_fit_int(d.mods) || !fits_int(d.src_base) || !fits_int(d.dst_base))
    return unsupported("strides too large for the OpenCL data kernels");
  const char* suf = size_suffix(dtype_size(dt));
  if (!suf) return unsupported(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(l.kernel, ctx.kernel("data", "", std::string("copy_") + suf));
  ArgSetter set(l.kernel, 4);
  set(static_cast<cl_int>(l.n))(static_cast<cl_int>(d.dims.size()))(to_int8(d.dims))(
      to_int8(d.mods))(to_int8(d.sst))(to_int8(d.dst_st))(static_cast<cl_int>(d.src_base))(
      static_cast<cl_int>(d.dst_base))(static_cast<cl_int>((mods ? 1 : 0) | (dense ? 2 : 0)));
  KILN_RETURN_IF_ERROR(set.status());
  return l;
}

// A sequence of copy launches (one for Transpose/Expand/Slice/Tile, one per input for Concat,
// one per output for Split).
class CopyKernel : public DeviceKernel {
 public:
  CopyKernel(ClContext& ctx, std::string name, std::vector<TensorDesc> outs,
             std::vector<Launch> launches)
      : ctx_(ctx), name_(std::move(name)), launches_(std::move(launches)) {
    outputs_ = std::move(outs);
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    for (Launch& l : launches_) {
      if (l.n == 0) continue;
      if (l.in >= static_cast<int>(inputs.size()) || l.out >= static_cast<int>(outputs.size()))
        return internal_error(name_ + ": missing a device tensor");
      KILN_RETURN_IF_ERROR(set_tensor_arg(l.kernel, 0, inputs[l.in], name_));
      KILN_RETURN_IF_ERROR(set_tensor_arg(l.kernel, 2, outputs[l.out], name_));
      KILN_RETURN_IF_ERROR(enqueue_range(ctx_, l.kernel, l.n, name_));
    }
    return Status::ok();
  }
  std::string name() const override { return name_; }

 private:
  ClContext& ctx_;
  std::string name_;
  std::vector<Launch> launches_;
};

Expected<std::unique_ptr<DeviceKernel>> single_copy(ClContext& ctx, const std::string& name,
                                                    DType dt, CopyDesc d) {
  KILN_RETURN_IF_ERROR(device_numel(d.dims).status());
  Shape out = d.dims;
  KILN_ASSIGN_OR_RETURN(Launch l, make_copy(ctx, dt, std::move(d)));
  return std::unique_ptr<DeviceKernel>(std::make_unique<CopyKernel>(
      ctx, name, std::vector<TensorDesc>{{dt, out}}, std::vector<Launch>{std::move(l)}));
}

Support transpose_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  return movable(in, 0);
}

Expected<std::unique_ptr<DeviceKernel>> transpose_prepare(ClContext& ctx, const ir::Node& n,
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

Support expand_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (n.opset() < 8) return Support::no("Expand before opset 8");
  Support s = both(movable(in, 0), host_input(in, 1, true));
  if (s.ok && in[1].desc.numel() > 8) return Support::no("rank above 8");
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> expand_prepare(ClContext& ctx, const ir::Node&,
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

Support slice_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = movable(in, 0);
  if (!s.ok || n.opset() < 10) return s;
  for (size_t i = 1; i <= 4; ++i) s = both(s, host_input(in, i, i <= 2));
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> slice_prepare(ClContext& ctx, const ir::Node& n,
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

Support tile_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  return both(movable(in, 0), host_input(in, 1, true));
}

Expected<std::unique_ptr<DeviceKernel>> tile_prepare(ClContext& ctx, const ir::Node&,
                                                     const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> reps, read_int_list(in, 1, "repeats"));
  const size_t r = xs.size();
  if (reps.size() != r)
    return invalid_argument("'repeats' has " + std::to_string(reps.size()) +
                            " entries for an input of rank " + std::to_string(r));
  CopyDesc d;
  d.dims.resize(r);
  for (size_t i = 0; i < r; ++i) {
    if (reps[i] < 0) return invalid_argument("'repeats' has a negative entry");
    if (__builtin_mul_overflow(xs[i], reps[i], &d.dims[i]))
      return invalid_argument("tiled dimension " + std::to_string(i) + " overflows");
  }
  d.mods = xs;
  d.sst = cpu::strides_of(xs);
  return single_copy(ctx, "tile", in[0].desc.dtype, std::move(d));
}

Support concat_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.empty()) return Support::no("no inputs");
  for (size_t i = 0; i < in.size(); ++i) {
    Support s = movable(in, i);
    if (!s.ok) return s;
  }
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> concat_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  if (!has_attr(n, "axis")) return invalid_argument("attribute 'axis' is required");
  const Shape& x0 = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  const int64_t r = static_cast<int64_t>(x0.size());
  if (r == 0) return invalid_argument("cannot concatenate scalars");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(attr_int(n, "axis", 0), r, "axis"));
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
  std::vector<Launch> launches;
  int64_t at = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    CopyDesc d;
    d.dims = in[i].desc.shape;
    d.sst = cpu::strides_of(d.dims);
    d.dst_st = out_st;
    d.dst_base = at * out_st[axis];
    d.in = static_cast<int>(i);
    at += d.dims[axis];
    KILN_ASSIGN_OR_RETURN(Launch l, make_copy(ctx, dt, std::move(d)));
    launches.push_back(std::move(l));
  }
  return std::unique_ptr<DeviceKernel>(std::make_unique<CopyKernel>(
      ctx, "concat", std::vector<TensorDesc>{{dt, out}}, std::move(launches)));
}

Support split_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = movable(in, 0);
  if (s.ok && n.opset() >= 13) s = host_input(in, 1, false);
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> split_prepare(ClContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  if (xs.empty()) return invalid_argument("cannot split a scalar");
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        norm_axis(attr_int(n, "axis", 0), static_cast<int64_t>(xs.size()), "axis"));
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
    if (attr_int(n, "num_outputs", 0) != num)
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
  std::vector<Launch> launches;
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
    KILN_ASSIGN_OR_RETURN(Launch l, make_copy(ctx, dt, std::move(d)));
    launches.push_back(std::move(l));
  }
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<CopyKernel>(ctx, "split", std::move(outs), std::move(launches)));
}

}  // namespace

void register_cl_data_copy(ClOpRegistry& r) {
  r.add("Transpose", {{}, transpose_supports, transpose_prepare});
  r.add("Expand", {{1}, expand_supports, expand_prepare});
  r.add("Slice", {{1, 2, 3, 4}, slice_supports, slice_prepare});
  r.add("Tile", {{1}, tile_supports, tile_prepare});
  r.add("Concat", {{}, concat_supports, concat_prepare});
  r.add("Split", {{1}, split_supports, split_prepare});
}

}  // namespace kiln::opencl
