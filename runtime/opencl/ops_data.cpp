// OpenCL data-movement ops (kernels/data.cl). Reshape, Flatten, Squeeze and Unsqueeze are views
// (the output aliases the input: no work). Transpose, Expand, Slice, Tile, Concat and Split are
// strided copies (one launch per input or output); Pad and Gather have their own kernels.
// Elements move as raw bits, so every dtype of 1, 2, 4 or 8 bytes is covered. Shape arithmetic
// and validation follow the CPU reference kernels (runtime/cpu/ops/shape*.cpp) exactly; a node
// they would reject fails prepare() and so runs on the CPU, which reports the error.
#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

// --- helpers -------------------------------------------------------------------------------------

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

bool fits_int(int64_t v) {
  return v >= INT_MIN && v < INT_MAX;
}
bool all_fit_int(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), fits_int);
}

// Kernel-name suffix for an element size, or nullptr when no kernel moves that size.
const char* size_suffix(size_t es) {
  switch (es) {
    case 1:
      return "1";
    case 2:
      return "2";
    case 4:
      return "4";
    case 8:
      return "8";
    default:
      return nullptr;
  }
}

// The data input must be present and of an element size the copy kernels move.
Support movable(const std::vector<InputInfo>& in, size_t i, int max_rank = 8) {
  if (in.size() <= i || !in[i].present) return Support::no("missing input " + std::to_string(i));
  const DType dt = in[i].desc.dtype;
  if (!is_storable(dt) || !size_suffix(dtype_size(dt)))
    return Support::no(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  if (static_cast<int>(in[i].desc.shape.size()) > max_rank)
    return Support::no("rank above " + std::to_string(max_rank));
  return Support::yes();
}

// A host-side shape-like input must be there (when `required`) with its value on the host.
Support host_input(const std::vector<InputInfo>& in, size_t i, bool required) {
  if (in.size() <= i || !in[i].present)
    return required ? Support::no("missing input " + std::to_string(i)) : Support::yes();
  if (!in[i].host_value) return Support::no("input " + std::to_string(i) + " is not on the host");
  return Support::yes();
}

Support both(Support a, Support b) {
  return a.ok ? b : a;
}

int64_t attr_int(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

bool has_attr(const ir::Node& n, const char* name) {
  return n.attr(name) != nullptr;
}

Expected<std::vector<int64_t>> attr_ints(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.attr(name);
  if (!a || a->type != ir::AttrType::kInts)
    return invalid_argument(std::string("attribute '") + name + "' must be a list of ints");
  return a->ints;
}

// Mirrors cpu::shape_ops::read_int_list on a host input.
Expected<std::vector<int64_t>> read_int_list(const std::vector<InputInfo>& in, size_t i,
                                             const std::string& what, bool allow_int32 = false,
                                             bool allow_scalar = false) {
  if (in.size() <= i || !in[i].present || !in[i].host_value)
    return invalid_argument("missing host input '" + what + "'");
  const Tensor& t = *in[i].host_value;
  if (t.dtype() != DType::kInt64 && !(allow_int32 && t.dtype() == DType::kInt32))
    return invalid_argument("input '" + what + "' has dtype " + dtype_name(t.dtype()));
  if (t.rank() != 1 && !(allow_scalar && t.rank() == 0))
    return invalid_argument("input '" + what + "' must be a 1-D tensor, got shape " +
                            shape_to_string(t.shape()));
  return t.to_int64_vector();
}

Expected<int64_t> norm_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    return invalid_argument(what + " " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Expected<std::vector<int64_t>> norm_axes(const std::vector<int64_t>& axes, int64_t rank,
                                         const std::string& what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, norm_axis(a, rank, what));
    if (seen[n]) return invalid_argument(what + " " + std::to_string(a) + " is repeated");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

// Product of dims, failing on overflow or when too large for the kernels' 32-bit indexing.
Expected<int64_t> device_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return invalid_argument("negative dimension in " + shape_to_string(s));
    if (__builtin_mul_overflow(n, d, &n) || n >= INT_MAX)
      return unsupported("a tensor of shape " + shape_to_string(s) +
                         " is too large for the OpenCL data kernels");
  }
  return n;
}

Status enqueue_range(ClContext& ctx, cl::Kernel& k, int64_t n, const std::string& name) {
  cl_int err = ctx.queue().enqueueNDRangeKernel(
      k, cl::NullRange, cl::NDRange(round_up(static_cast<size_t>(n), 64)), cl::NDRange(64));
  if (err == CL_SUCCESS) return Status::ok();
  if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
      err == CL_OUT_OF_HOST_MEMORY)
    return out_of_memory(name + ": the OpenCL device ran out of resources: " + cl_error_name(err));
  return runtime_error(name + ": enqueueing the kernel failed: " + cl_error_name(err));
}

// Sets (buffer, element offset) at args `arg`, `arg + 1`.
Status set_tensor_arg(cl::Kernel& k, cl_uint arg, const DeviceTensor& t, const std::string& name) {
  if (!t.buffer) return internal_error(name + ": a tensor is not on the device");
  size_t es = std::max<size_t>(dtype_size(t.desc.dtype), 1);
  cl_int e1 = k.setArg(arg, cl_buffer(t));
  cl_int e2 = k.setArg(arg + 1, static_cast<cl_int>(t.offset / es));
  if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
    return internal_error(
        name + ": setting a buffer argument failed: " + cl_error_name(e1 != CL_SUCCESS ? e1 : e2));
  return Status::ok();
}

// Collects the first failing setArg.
class ArgSetter {
 public:
  ArgSetter(cl::Kernel& k, cl_uint first) : k_(k), next_(first) {}
  template <typename T>
  ArgSetter& operator()(const T& v) {
    cl_int err = k_.setArg(next_++, v);
    if (err != CL_SUCCESS && status_.is_ok())
      status_ =
          internal_error("setArg(" + std::to_string(next_ - 1) + ") failed: " + cl_error_name(err));
    return *this;
  }
  const Status& status() const { return status_; }

 private:
  cl::Kernel& k_;
  cl_uint next_;
  Status status_;
};

// --- views ---------------------------------------------------------------------------------------

// Output 0 is input 0's bytes seen with another shape.
class ViewKernel : public DeviceKernel {
 public:
  explicit ViewKernel(const TensorDesc& d) {
    outputs_ = {d};
    aliases_ = {0};
  }
  Status enqueue(const std::vector<DeviceTensor>&, const std::vector<DeviceTensor>&) override {
    return Status::ok();
  }
  std::string name() const override { return "view"; }
};

Expected<std::unique_ptr<DeviceKernel>> make_view(const InputInfo& x, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return invalid_argument("invalid view shape " + shape_to_string(shape));
  if (n != x.desc.numel())
    return invalid_argument("cannot view a tensor of shape " + shape_to_string(x.desc.shape) +
                            " as " + shape_to_string(shape));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ViewKernel>(TensorDesc{x.desc.dtype, shape}));
}

Support view_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input 0");
  if (!is_storable(in[0].desc.dtype) || dtype_size(in[0].desc.dtype) == 0)
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

Expected<std::unique_ptr<DeviceKernel>> reshape_prepare(ClContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t numel = in[0].desc.numel();
  const int64_t rank = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> req, read_int_list(in, 1, "shape"));
  const bool allowzero = n.opset() >= 14 && attr_int(n, "allowzero", 0) != 0;
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

Expected<std::unique_ptr<DeviceKernel>> flatten_prepare(ClContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < -r || axis > r)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(r));
  if (axis < 0) axis += r;
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= xs[i];
  return make_view(in[0], {a, b});
}

Expected<std::unique_ptr<DeviceKernel>> squeeze_prepare(ClContext&, const ir::Node& n,
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

Expected<std::unique_ptr<DeviceKernel>> unsqueeze_prepare(ClContext&, const ir::Node& n,
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

// --- Pad -----------------------------------------------------------------------------------------

constexpr int kPadConstant = 0, kPadReflect = 1, kPadEdge = 2, kPadWrap = 3;

class PadKernel : public DeviceKernel {
 public:
  PadKernel(ClContext& ctx, cl::Kernel k, const TensorDesc& out, bool cv_input)
      : ctx_(ctx), kernel_(std::move(k)), cv_input_(cv_input) {
    outputs_ = {out};
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    const int64_t n = outputs_[0].numel();
    if (n == 0) return Status::ok();
    if (inputs.empty() || outputs.empty()) return internal_error("pad: missing a device tensor");
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 0, inputs[0], "pad"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 2, cv_input_ ? inputs.at(2) : inputs[0], "pad"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 4, outputs[0], "pad"));
    return enqueue_range(ctx_, kernel_, n, "pad");
  }
  std::string name() const override { return "pad"; }

 private:
  ClContext& ctx_;
  cl::Kernel kernel_;
  bool cv_input_;
};

Support pad_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = movable(in, 0);
  if (!s.ok || n.opset() < 11) return s;
  s = both(s, host_input(in, 1, true));
  if (n.opset() >= 18) s = both(s, host_input(in, 3, false));
  if (s.ok && in.size() > 2 && in[2].present) {
    if (in[2].desc.dtype != in[0].desc.dtype)
      return Support::no("constant_value dtype differs from the data");
    if (in[2].desc.numel() > 1 || in[2].desc.shape.size() > 1)
      return Support::no("constant_value must be a scalar");
  }
  return s;
}

Expected<std::unique_ptr<DeviceKernel>> pad_prepare(ClContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  const int64_t r = static_cast<int64_t>(xs.size());
  const size_t es = dtype_size(dt);
  std::string mode = "constant";
  if (const ir::Attribute* a = n.attr("mode"); a && a->type == ir::AttrType::kString) mode = a->s;
  int mode_code;
  if (mode == "constant") {
    mode_code = kPadConstant;
  } else if (mode == "reflect") {
    mode_code = kPadReflect;
  } else if (mode == "edge") {
    mode_code = kPadEdge;
  } else if (mode == "wrap" && n.opset() >= 19) {
    mode_code = kPadWrap;
  } else {
    return invalid_argument("unknown mode '" + mode + "'");
  }
  std::vector<int64_t> pads, axes;
  uint64_t cbits = 0;
  bool cv_input = false;
  if (n.opset() < 11) {
    KILN_ASSIGN_OR_RETURN(pads, attr_ints(n, "pads"));
    float value = 0;
    if (const ir::Attribute* a = n.attr("value"); a && a->type == ir::AttrType::kFloat)
      value = a->f;
    KILN_ASSIGN_OR_RETURN(Tensor c, Tensor::create(dt, {}));
    c.set_from_double(0, value);
    std::memcpy(&cbits, c.raw_data(), es);
  } else {
    KILN_ASSIGN_OR_RETURN(pads, read_int_list(in, 1, "pads"));
    if (in.size() > 2 && in[2].present) {
      if (in[2].desc.dtype != dt || in[2].desc.numel() > 1 || in[2].desc.shape.size() > 1)
        return invalid_argument("constant_value must be a scalar of the data's dtype");
      cv_input = in[2].desc.numel() == 1;
    }
  }
  if (n.opset() >= 18 && in.size() > 3 && in[3].present) {
    KILN_ASSIGN_OR_RETURN(auto ax, read_int_list(in, 3, "axes", true));
    KILN_ASSIGN_OR_RETURN(axes, norm_axes(ax, r, "axis"));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  if (pads.size() != 2 * na)
    return invalid_argument("'pads' has " + std::to_string(pads.size()) + " entries, expected " +
                            std::to_string(2 * na));
  std::vector<int64_t> pb(r, 0), pe(r, 0);
  for (size_t i = 0; i < na; ++i) {
    pb[axes[i]] = pads[i];
    pe[axes[i]] = pads[i + na];
  }
  Shape out(r);
  std::vector<int64_t> lo(r), cnt(r), before(r);
  for (int64_t d = 0; d < r; ++d) {
    const int64_t dim = xs[d];
    lo[d] = pb[d] < 0 ? -pb[d] : 0;
    const int64_t cut_end = pe[d] < 0 ? -pe[d] : 0;
    if (lo[d] > dim || cut_end > dim - lo[d] || __builtin_add_overflow(dim, pb[d], &out[d]) ||
        __builtin_add_overflow(out[d], pe[d], &out[d]))
      return invalid_argument("pads " + shape_to_string(pads) + " are invalid for input shape " +
                              shape_to_string(xs));
    cnt[d] = dim - lo[d] - cut_end;
    before[d] = std::max<int64_t>(pb[d], 0);
    if (mode_code != kPadConstant && cnt[d] == 0 && out[d] > 0)
      return invalid_argument("cannot pad an empty axis in mode '" + mode + "'");
  }
  if (r > 8) return unsupported("rank above 8");
  KILN_ASSIGN_OR_RETURN(int64_t total, device_numel(out));
  if (!all_fit_int(before) || !all_fit_int(lo))
    return unsupported("pads too large for the OpenCL data kernels");
  const char* suf = size_suffix(es);
  if (!suf) return unsupported(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("data", "", std::string("pad_") + suf));
  ArgSetter set(k, 6);
  set(static_cast<cl_int>(total))(static_cast<cl_int>(r))(to_int8(out))(
      to_int8(cpu::strides_of(xs)))(to_int8(before))(to_int8(lo))(to_int8(cnt))(static_cast<cl_int>(
      mode_code))(static_cast<cl_int>(cv_input ? 1 : 0))(static_cast<cl_ulong>(cbits));
  KILN_RETURN_IF_ERROR(set.status());
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<PadKernel>(ctx, std::move(k), TensorDesc{dt, out}, cv_input));
}

// --- Gather --------------------------------------------------------------------------------------

// Indices stay on the device. The kernel records the first out-of-range index position in a
// small device buffer; enqueue reads it back (a blocking read, the price of never returning a
// silently wrong answer) and fails like the CPU kernel does.
class GatherKernel : public DeviceKernel {
 public:
  GatherKernel(ClContext& ctx, cl::Kernel k, cl::Buffer err, const TensorDesc& out, int64_t nidx,
               int64_t dim, int64_t axis, Shape data_shape)
      : ctx_(ctx),
        kernel_(std::move(k)),
        err_(std::move(err)),
        nidx_(nidx),
        dim_(dim),
        axis_(axis),
        data_shape_(std::move(data_shape)) {
    outputs_ = {out};
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    const int64_t n = std::max<int64_t>(outputs_[0].numel(), nidx_);
    if (n == 0) return Status::ok();
    if (inputs.size() < 2 || outputs.empty())
      return internal_error("gather: missing a device tensor");
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 0, inputs[0], "gather"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 2, inputs[1], "gather"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 4, outputs[0], "gather"));
    cl::CommandQueue& q = ctx_.queue();
    cl_int err = q.enqueueWriteBuffer(err_, CL_FALSE, 0, sizeof(cl_int), &init_);
    if (err != CL_SUCCESS)
      return runtime_error("gather: resetting the error flag failed: " + cl_error_name(err));
    KILN_RETURN_IF_ERROR(enqueue_range(ctx_, kernel_, n, "gather"));
    err = q.enqueueReadBuffer(err_, CL_TRUE, 0, sizeof(cl_int), &bad_);
    if (err != CL_SUCCESS)
      return runtime_error("gather: reading the error flag failed: " + cl_error_name(err));
    if (bad_ == INT_MAX) return Status::ok();
    // Fetch the offending index for the message.
    const DeviceTensor& ind = inputs[1];
    const size_t isz = dtype_size(ind.desc.dtype);
    int64_t value = 0;
    if (isz == 8 || isz == 4) {
      unsigned char raw[8] = {};
      err = q.enqueueReadBuffer(cl_buffer(ind), CL_TRUE,
                                ind.offset + static_cast<size_t>(bad_) * isz, isz, raw);
      if (err == CL_SUCCESS) {
        if (isz == 8) {
          std::memcpy(&value, raw, 8);
        } else {
          int32_t v32;
          std::memcpy(&v32, raw, 4);
          value = v32;
        }
      }
    }
    return runtime_error("index " + std::to_string(value) + " (indices element " +
                         std::to_string(bad_) + ") is out of range [" + std::to_string(-dim_) +
                         ", " + std::to_string(dim_ - 1) + "] for axis " + std::to_string(axis_) +
                         " of data shape " + shape_to_string(data_shape_));
  }
  std::string name() const override { return "gather"; }

 private:
  ClContext& ctx_;
  cl::Kernel kernel_;
  cl::Buffer err_;
  int64_t nidx_, dim_, axis_;
  Shape data_shape_;
  cl_int init_ = INT_MAX;
  cl_int bad_ = INT_MAX;
};

Support gather_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  Support s = movable(in, 0, INT_MAX);
  if (!s.ok) return s;
  if (in.size() < 2 || !in[1].present) return Support::no("missing indices");
  if (in[1].desc.dtype != DType::kInt64 && in[1].desc.dtype != DType::kInt32)
    return Support::no("indices must be int32 or int64");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> gather_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const Shape& is = in[1].desc.shape;
  const DType dt = in[0].desc.dtype;
  if (xs.empty()) return invalid_argument("data must have rank >= 1");
  const int64_t r = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(attr_int(n, "axis", 0), r, "axis"));
  Shape out(xs.begin(), xs.begin() + axis);
  out.insert(out.end(), is.begin(), is.end());
  out.insert(out.end(), xs.begin() + axis + 1, xs.end());
  KILN_ASSIGN_OR_RETURN(int64_t total, device_numel(out));
  KILN_ASSIGN_OR_RETURN(int64_t nidx, device_numel(is));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < r; ++d) inner *= xs[d];
  const int64_t dim = xs[axis];
  if (!fits_int(dim) || !fits_int(inner)) return unsupported("data too large");
  const char* suf = size_suffix(dtype_size(dt));
  if (!suf) return unsupported(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  const std::string kname =
      std::string("gather_") + suf + (in[1].desc.dtype == DType::kInt64 ? "_i64" : "_i32");
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("data", "", kname));
  cl_int err = CL_SUCCESS;
  cl::Buffer flag(ctx.context(), CL_MEM_READ_WRITE, sizeof(cl_int), nullptr, &err);
  if (err != CL_SUCCESS)
    return out_of_memory("gather: allocating the error flag failed: " + cl_error_name(err));
  ArgSetter set(k, 6);
  set(flag)(static_cast<cl_int>(total))(static_cast<cl_int>(nidx))(static_cast<cl_int>(dim))(
      static_cast<cl_int>(inner));
  KILN_RETURN_IF_ERROR(set.status());
  return std::unique_ptr<DeviceKernel>(std::make_unique<GatherKernel>(
      ctx, std::move(k), std::move(flag), TensorDesc{dt, out}, nidx, dim, axis, xs));
}

}  // namespace

void register_cl_data(ClOpRegistry& r) {
  r.add("Reshape", {{1}, view_supports, reshape_prepare});
  r.add("Flatten", {{}, view_supports, flatten_prepare});
  r.add("Squeeze", {{1}, view_supports, squeeze_prepare});
  r.add("Unsqueeze", {{1}, view_supports, unsqueeze_prepare});
  r.add("Transpose", {{}, transpose_supports, transpose_prepare});
  r.add("Expand", {{1}, expand_supports, expand_prepare});
  r.add("Slice", {{1, 2, 3, 4}, slice_supports, slice_prepare});
  r.add("Tile", {{1}, tile_supports, tile_prepare});
  r.add("Concat", {{}, concat_supports, concat_prepare});
  r.add("Split", {{1}, split_supports, split_prepare});
  r.add("Pad", {{1, 3}, pad_supports, pad_prepare});
  r.add("Gather", {{}, gather_supports, gather_prepare});
}

}  // namespace kiln::opencl
