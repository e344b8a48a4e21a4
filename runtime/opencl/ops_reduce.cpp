// OpenCL reductions (kernels/reduce.cl): ReduceSum/Mean/Max/Min/Prod/L2/SumSquare over any set
// of axes, ArgMax/ArgMin, Softmax/LogSoftmax, LayerNormalization (output Y only) and Cast between
// float32, float16, int32, int64 and bool. The reductions, Softmax and LayerNormalization take
// float32 or float16 (half storage, float arithmetic: reduce.cl built with -DKILN_HALF). The
// validation mirrors the CPU kernels in runtime/cpu/ops/reduction*.cpp and elementwise_cast.cpp;
// whatever the kernels do not take (other dtypes, bad attributes, which the CPU reports) gets a
// "no" from supports().
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

constexpr size_t kMaxGroup = 128;  // MAX_GROUP in reduce.cl
constexpr int kMaxDims = 8;

// Reduce op codes (R_* in reduce.cl) and the opset from which axes is an input.
struct ReduceOp {
  int code;
  int axes_input_since;
};
const std::map<std::string, ReduceOp>& reduce_ops() {
  static const std::map<std::string, ReduceOp> m = {
      {"ReduceSum", {0, 13}},       {"ReduceMean", {1, 18}}, {"ReduceMax", {2, 18}},
      {"ReduceMin", {3, 18}},       {"ReduceProd", {4, 18}}, {"ReduceL2", {5, 18}},
      {"ReduceSumSquare", {6, 18}},
  };
  return m;
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// Attribute getters that refuse a mistyped attribute (the CPU path then reports it).
Expected<int64_t> get_int(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type != ir::AttrType::kInt)
    return invalid_argument(std::string("attribute '") + name + "' must be an int");
  return a->i;
}
Expected<float> get_float(const ir::Node& n, const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type != ir::AttrType::kFloat)
    return invalid_argument(std::string("attribute '") + name + "' must be a float");
  return a->f;
}
Expected<std::vector<int64_t>> get_ints(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return std::vector<int64_t>{};
  if (a->type != ir::AttrType::kInts)
    return invalid_argument(std::string("attribute '") + name + "' must be a list of ints");
  return a->ints;
}

bool present(const std::vector<InputInfo>& in, size_t i) {
  return i < in.size() && in[i].present;
}

Support from_status(const Status& s) {
  return Support::no(s.message());
}

// Lanes per row: a power of two giving each lane about 16 elements, at most kMaxGroup (and the
// device's work-group limit).
size_t lanes_for(int64_t n, size_t max_group) {
  size_t l = 1;
  while (l < max_group && static_cast<int64_t>(l) * 16 < n) l *= 2;
  return l;
}

// A launch over `rows` rows of L lanes each (kernels arg_reduce, reduce, softmax, layer_norm):
// local size (L, G), global size (L, rows rounded up to G). Fixed arguments are appended in
// order with arg().
class RowKernel : public ClLaunchKernel {
 public:
  RowKernel(ClContext& ctx, cl::Kernel k, std::string name, std::vector<int> buffer_inputs,
            std::vector<TensorDesc> outs, int64_t rows, int64_t row_len)
      : ClLaunchKernel(std::move(k), std::move(name), std::move(buffer_inputs), outs.size(), ctx) {
    outputs_ = std::move(outs);
    size_t max_group = kMaxGroup;
    uint64_t dev_max = ctx.info().max_work_group_size;
    while (dev_max > 0 && max_group > dev_max && max_group > 1) max_group /= 2;
    // On a CPU device (PoCL) a work-group runs on one thread and a plain loop per row is
    // fastest: one lane per row, and groups small enough to give every core several of them.
    const bool cpu_device = ctx.info().type.find("CPU") != std::string::npos;
    size_t lanes = cpu_device ? 1 : lanes_for(row_len, max_group);
    // KILN_CL_ROW_LANES=N (a power of two) forces N lanes: to test the tree paths on any device.
    if (const char* e = std::getenv("KILN_CL_ROW_LANES")) {
      long forced = std::strtol(e, nullptr, 10);
      if (forced >= 1 && static_cast<size_t>(forced) <= max_group && (forced & (forced - 1)) == 0)
        lanes = static_cast<size_t>(forced);
    }
    size_t group_rows = max_group / lanes;
    if (cpu_device) {
      const int64_t units = std::max<int64_t>(ctx.info().compute_units, 1);
      while (group_rows > 1 && rows < static_cast<int64_t>(group_rows) * 4 * units) group_rows /= 2;
    }
    empty_ = rows <= 0;
    global_ =
        cl::NDRange(lanes, round_up(static_cast<size_t>(std::max<int64_t>(rows, 1)), group_rows));
    local_ = cl::NDRange(lanes, group_rows);
    name_ += "_l" + std::to_string(lanes);
  }
  template <typename V>
  void arg(const V& v) {
    set_fixed(next_++, v);
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  cl_uint next_ = 0;
  bool empty_ = false;
};

// Output 0 is input 0 (Cast to the same dtype).
class AliasKernel : public DeviceKernel {
 public:
  explicit AliasKernel(const TensorDesc& d) {
    outputs_ = {d};
    aliases_ = {0};
  }
  Status enqueue(const std::vector<DeviceTensor>&, const std::vector<DeviceTensor>&) override {
    return Status::ok();
  }
  std::string name() const override { return "cast_alias"; }
};

// Input i must be float32 or float16 (and of dtype `like` when given).
Support need_float(const std::vector<InputInfo>& in, size_t i, const char* what,
                   DType like = DType::kUndefined) {
  if (!present(in, i)) return Support::no(std::string("missing input '") + what + "'");
  const DType d = in[i].desc.dtype;
  if (d != DType::kFloat32 && d != DType::kFloat16)
    return Support::no(std::string("only float32 or float16 '") + what +
                       "' is supported on OpenCL, got " + dtype_name(d));
  if (like != DType::kUndefined && d != like)
    return Support::no(std::string("'") + what + "' must have the dtype of the first input");
  return Support::yes();
}

// The build options of reduce.cl for a float tensor of dtype `d`.
const char* float_options(DType d) {
  return d == DType::kFloat16 ? "-DT=float -DKILN_HALF" : "-DT=float";
}

// --- Reduce* -------------------------------------------------------------------------------------

// The input's dims split into kept and reduced ones (size-1 dims dropped, adjacent dims merged),
// as the CPU's ReducePlan does.
struct ReducePlan {
  int code = 0;
  Shape out_shape;
  int64_t out_numel = 1;
  int64_t count = 1;
  std::vector<int64_t> kd, ks, rd, rs;
};

void push_merged(std::vector<int64_t>& dims, std::vector<int64_t>& strides, int64_t dim,
                 int64_t stride) {
  if (!dims.empty() && strides.back() == dim * stride) {
    dims.back() *= dim;
    strides.back() = stride;
  } else {
    dims.push_back(dim);
    strides.push_back(stride);
  }
}

Expected<ReducePlan> reduce_plan(const ir::Node& n, const std::vector<InputInfo>& in) {
  const ReduceOp& op = reduce_ops().at(n.op_type());
  const Shape& shape = in[0].desc.shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  const bool axes_is_input = n.opset() >= op.axes_input_since;
  std::vector<int64_t> axes;
  bool noop = false;
  if (axes_is_input) {
    if (n.attr("axes"))
      return invalid_argument("'axes' is an input, not an attribute, from opset " +
                              std::to_string(op.axes_input_since));
    if (present(in, 1)) {
      if (!in[1].host_value) return unsupported("input 'axes' is not known on the host");
      if (in[1].desc.dtype != DType::kInt64) return invalid_argument("input 'axes' must be int64");
      if (in[1].desc.shape.size() > 1) return invalid_argument("input 'axes' must be 1-D");
      axes = in[1].host_value->to_int64_vector();
    }
    KILN_ASSIGN_OR_RETURN(int64_t nw, get_int(n, "noop_with_empty_axes", 0));
    noop = nw != 0;
  } else {
    if (present(in, 1))
      return invalid_argument("takes 'axes' as an attribute before opset " +
                              std::to_string(op.axes_input_since));
    KILN_ASSIGN_OR_RETURN(axes, get_ints(n, "axes"));
  }
  KILN_ASSIGN_OR_RETURN(int64_t keepdims, get_int(n, "keepdims", 1));
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  const bool allow_negative = n.opset() >= 11;
  for (int64_t a : axes) {
    if (a < (allow_negative ? -rank : 0) || a >= rank)
      return invalid_argument("axis " + std::to_string(a) + " is out of range for rank " +
                              std::to_string(rank));
    if (a < 0) a += rank;
    if (reduce[a]) return invalid_argument("axis " + std::to_string(a) + " is repeated in axes");
    reduce[a] = true;
  }
  if (axes.empty() && !noop) reduce.assign(static_cast<size_t>(rank), true);
  ReducePlan p;
  p.code = op.code;
  std::vector<int64_t> st = cpu::strides_of(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduce[d]) {
      p.count *= shape[d];
      if (keepdims != 0) p.out_shape.push_back(1);
      if (shape[d] != 1) push_merged(p.rd, p.rs, shape[d], st[d]);
    } else {
      p.out_numel *= shape[d];
      p.out_shape.push_back(shape[d]);
      if (shape[d] != 1) push_merged(p.kd, p.ks, shape[d], st[d]);
    }
  }
  if (p.kd.size() > kMaxDims || p.rd.size() > kMaxDims)
    return unsupported("more than 8 kept or reduced dims after merging");
  return p;
}

Support reduce_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = need_float(in, 0, "data");
  if (!s.ok) return s;
  auto p = reduce_plan(n, in);
  if (!p) return from_status(p.status());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> reduce_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ReducePlan p, reduce_plan(n, in));
  const DType dt = in[0].desc.dtype;
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("reduce", float_options(dt), "reduce"));
  auto kern = std::make_unique<RowKernel>(
      ctx, std::move(k), dt == DType::kFloat16 ? "reduce_f16" : "reduce", std::vector<int>{0},
      std::vector<TensorDesc>{{dt, p.out_shape}}, p.out_numel, p.count);
  kern->arg(static_cast<cl_int>(p.code));
  kern->arg(static_cast<cl_int>(p.out_numel));
  kern->arg(static_cast<cl_int>(p.count));
  kern->arg(static_cast<cl_int>(p.kd.size()));
  kern->arg(to_int8(p.kd));
  kern->arg(to_int8(p.ks));
  kern->arg(static_cast<cl_int>(p.rd.size()));
  kern->arg(to_int8(p.rd));
  kern->arg(to_int8(p.rs));
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- ArgMax / ArgMin ---------------------------------------------------------------------------

struct AxisRows {
  int64_t outer = 1, n = 1, inner = 1;
  Shape out_shape;
};

struct ArgPlan {
  AxisRows rows;
  bool last = false;
};

Expected<ArgPlan> arg_plan(const ir::Node& n, const std::vector<InputInfo>& in) {
  const Shape& shape = in[0].desc.shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return invalid_argument("input must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t axis, get_int(n, "axis", 0));
  if (axis < (n.opset() >= 11 ? -rank : 0) || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  if (axis < 0) axis += rank;
  KILN_ASSIGN_OR_RETURN(int64_t keepdims, get_int(n, "keepdims", 1));
  KILN_ASSIGN_OR_RETURN(int64_t last, get_int(n, "select_last_index", 0));
  ArgPlan p;
  p.last = n.opset() >= 12 && last != 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) {
      p.rows.outer *= shape[d];
      p.rows.out_shape.push_back(shape[d]);
    } else if (d == axis) {
      p.rows.n = shape[d];
      if (keepdims != 0) p.rows.out_shape.push_back(1);
    } else {
      p.rows.inner *= shape[d];
      p.rows.out_shape.push_back(shape[d]);
    }
  }
  if (p.rows.n == 0 && p.rows.outer * p.rows.inner > 0)
    return invalid_argument("cannot take the argmax/argmin of an empty axis");
  return p;
}

Support arg_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = need_float(in, 0, "data");
  if (!s.ok) return s;
  auto p = arg_plan(n, in);
  if (!p) return from_status(p.status());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> arg_prepare(ClContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ArgPlan p, arg_plan(n, in));
  const bool half = in[0].desc.dtype == DType::kFloat16;
  KILN_ASSIGN_OR_RETURN(cl::Kernel k,
                        ctx.kernel("reduce", float_options(in[0].desc.dtype), "arg_reduce"));
  const bool is_max = n.op_type() == "ArgMax";
  const int64_t rows = p.rows.outer * p.rows.inner;
  auto kern = std::make_unique<RowKernel>(
      ctx, std::move(k), std::string(is_max ? "argmax" : "argmin") + (half ? "_f16" : ""),
      std::vector<int>{0}, std::vector<TensorDesc>{{DType::kInt64, p.rows.out_shape}}, rows,
      p.rows.n);
  kern->arg(static_cast<cl_int>(is_max ? 1 : 0));
  kern->arg(static_cast<cl_int>(p.last ? 1 : 0));
  kern->arg(static_cast<cl_int>(rows));
  kern->arg(static_cast<cl_int>(p.rows.n));
  kern->arg(static_cast<cl_int>(p.rows.inner));
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- Softmax / LogSoftmax ----------------------------------------------------------------------

// Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 the op works along
// one axis (default -1).
Expected<AxisRows> softmax_rows(const ir::Node& n, const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return invalid_argument("input must have rank >= 1");
  const bool coerce_2d = n.opset() < 13;
  KILN_ASSIGN_OR_RETURN(int64_t axis, get_int(n, "axis", coerce_2d ? 1 : -1));
  const int64_t lo = n.opset() >= 11 ? -rank : 0;
  const int64_t hi = n.opset() >= 11 ? rank - 1 : rank;
  if (axis < lo || axis > hi)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  if (axis < 0) axis += rank;
  AxisRows r;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis)
      r.outer *= shape[d];
    else if (d == axis || coerce_2d)
      r.n *= shape[d];
    else
      r.inner *= shape[d];
  }
  r.out_shape = shape;
  return r;
}

Support softmax_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = need_float(in, 0, "input");
  if (!s.ok) return s;
  auto r = softmax_rows(n, in[0].desc.shape);
  if (!r) return from_status(r.status());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> softmax_prepare(ClContext& ctx, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(AxisRows r, softmax_rows(n, in[0].desc.shape));
  const bool half = in[0].desc.dtype == DType::kFloat16;
  KILN_ASSIGN_OR_RETURN(cl::Kernel k,
                        ctx.kernel("reduce", float_options(in[0].desc.dtype), "softmax"));
  const bool log_mode = n.op_type() == "LogSoftmax";
  // No element: nothing to launch.
  const int64_t rows = in[0].desc.numel() == 0 ? 0 : r.outer * r.inner;
  auto kern = std::make_unique<RowKernel>(
      ctx, std::move(k), std::string(log_mode ? "log_softmax" : "softmax") + (half ? "_f16" : ""),
      std::vector<int>{0}, std::vector<TensorDesc>{in[0].desc}, rows, r.n);
  kern->arg(static_cast<cl_int>(log_mode ? 1 : 0));
  kern->arg(static_cast<cl_int>(rows));
  kern->arg(static_cast<cl_int>(r.n));
  kern->arg(static_cast<cl_int>(r.inner));
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- LayerNormalization --------------------------------------------------------------------------

struct LayerNormPlan {
  int64_t outer = 1, n = 1;
  int64_t axis = 0;
  float eps = 1e-5f;
  bool has_bias = false;
  bool scale_dense = true, bias_dense = true;
  std::vector<int64_t> scale_strides, bias_strides;
};

// Broadcast strides of `s` through X's shape; `dense` when the operand is one value per element
// of the normalized shape x[axis:] (offset == index within the row).
Expected<std::vector<int64_t>> operand_strides(const std::string& what, const Shape& s,
                                               const Shape& x, int64_t axis, bool* dense) {
  bool fits = s.size() <= x.size();
  for (size_t k = 0; fits && k < s.size(); ++k) {
    int64_t d = s[s.size() - 1 - k];
    fits = d == 1 || d == x[x.size() - 1 - k];
  }
  if (!fits)
    return invalid_argument("input '" + what + "' of shape " + shape_to_string(s) +
                            " does not broadcast to X's shape " + shape_to_string(x));
  std::vector<int64_t> bs = cpu::broadcast_strides(s, x);
  // Dense: outer dims broadcast (stride 0) and every inner dim of extent > 1 has the stride a
  // row-major array of shape x[axis:] would give it.
  *dense = true;
  int64_t expect = 1;
  for (int64_t d = static_cast<int64_t>(x.size()) - 1; d >= 0; --d) {
    if (x[d] == 1) continue;
    if (d < axis) {
      if (bs[d] != 0) *dense = false;
    } else {
      if (bs[d] != expect) *dense = false;
      expect *= x[d];
    }
  }
  return bs;
}

Expected<LayerNormPlan> layer_norm_plan(const ir::Node& n, const std::vector<InputInfo>& in) {
  const Shape& x = in[0].desc.shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) return invalid_argument("input 'X' must have rank >= 1");
  if (rank > kMaxDims) return unsupported("rank above 8");
  KILN_ASSIGN_OR_RETURN(int64_t axis, get_int(n, "axis", -1));
  if (axis < -rank || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  if (axis < 0) axis += rank;
  LayerNormPlan p;
  p.axis = axis;
  KILN_ASSIGN_OR_RETURN(p.eps, get_float(n, "epsilon", 1e-5f));
  KILN_ASSIGN_OR_RETURN(int64_t stash, get_int(n, "stash_type", 1));
  if (stash != 1) return unsupported("stash_type other than float");
  KILN_ASSIGN_OR_RETURN(p.scale_strides,
                        operand_strides("Scale", in[1].desc.shape, x, axis, &p.scale_dense));
  p.has_bias = present(in, 2);
  if (p.has_bias) {
    KILN_ASSIGN_OR_RETURN(p.bias_strides,
                          operand_strides("B", in[2].desc.shape, x, axis, &p.bias_dense));
  }
  for (int64_t d = 0; d < rank; ++d) (d < axis ? p.outer : p.n) *= x[d];
  return p;
}

Support layer_norm_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  // Below opset 17 this is onnxruntime's default-domain extension (what the level-2 fusion and
  // its transformer optimizer write), with the same semantics; the CPU kernel runs it too.
  for (size_t o = 1; o < n.outputs().size(); ++o)
    if (n.outputs()[o])
      return Support::no("the Mean and InvStdDev outputs are computed on the CPU only");
  Support s = need_float(in, 0, "X");
  if (s.ok) s = need_float(in, 1, "Scale", in[0].desc.dtype);
  if (s.ok && present(in, 2)) s = need_float(in, 2, "B", in[0].desc.dtype);
  if (!s.ok) return s;
  auto p = layer_norm_plan(n, in);
  if (!p) return from_status(p.status());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> layer_norm_prepare(ClContext& ctx, const ir::Node& n,
                                                           const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(LayerNormPlan p, layer_norm_plan(n, in));
  const DType dt = in[0].desc.dtype;
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("reduce", float_options(dt), "layer_norm"));
  // Without B, the scale buffer stands in for the bias argument (never read).
  std::vector<int> bufs = {0, 1, p.has_bias ? 2 : 1};
  const int64_t rows = in[0].desc.numel() == 0 ? 0 : p.outer;
  auto kern = std::make_unique<RowKernel>(ctx, std::move(k),
                                          dt == DType::kFloat16 ? "layer_norm_f16" : "layer_norm",
                                          bufs, std::vector<TensorDesc>{in[0].desc}, rows, p.n);
  kern->arg(static_cast<cl_int>(rows));
  kern->arg(static_cast<cl_int>(p.n));
  kern->arg(p.eps);
  kern->arg(static_cast<cl_int>(p.has_bias ? 1 : 0));
  kern->arg(static_cast<cl_int>(p.scale_dense ? 1 : 0));
  kern->arg(static_cast<cl_int>(p.bias_dense ? 1 : 0));
  kern->arg(static_cast<cl_int>(in[0].desc.shape.size()));
  kern->arg(to_int8(in[0].desc.shape));
  kern->arg(to_int8(p.scale_strides));
  kern->arg(to_int8(p.has_bias ? p.bias_strides : p.scale_strides));
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- Cast ----------------------------------------------------------------------------------------

bool castable(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kInt32 || t == DType::kInt64 ||
         t == DType::kBool;
}

class CastKernel : public ClLaunchKernel {
 public:
  CastKernel(ClContext& ctx, cl::Kernel k, const TensorDesc& in, DType to)
      : ClLaunchKernel(std::move(k),
                       std::string("cast_") + dtype_name(in.dtype) + "_" + dtype_name(to), {0}, 1,
                       ctx) {
    outputs_ = {TensorDesc{to, in.shape}};
    int n = static_cast<int>(in.numel());
    empty_ = n == 0;
    set_fixed(0, static_cast<cl_int>(in.dtype));
    set_fixed(1, static_cast<cl_int>(to));
    set_fixed(2, static_cast<cl_int>(n));
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max(n, 1)), 64));
    local_ = cl::NDRange(64);
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  bool empty_ = false;
};

Expected<DType> cast_target(const ir::Node& n) {
  if (!n.attr("to")) return invalid_argument("attribute 'to' is required");
  KILN_ASSIGN_OR_RETURN(int64_t to, get_int(n, "to", 0));
  KILN_ASSIGN_OR_RETURN(int64_t saturate, get_int(n, "saturate", 1));
  if (saturate != 0 && saturate != 1) return invalid_argument("'saturate' must be 0 or 1");
  auto dt =
      to >= INT32_MIN && to <= INT32_MAX ? dtype_from_onnx(static_cast<int32_t>(to)) : std::nullopt;
  if (!dt || *dt == DType::kUndefined || !is_storable(*dt))
    return unsupported("casting to ONNX type " + std::to_string(to) + " is not supported");
  return *dt;
}

Support cast_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!present(in, 0)) return Support::no("missing input");
  auto to = cast_target(n);
  if (!to) return from_status(to.status());
  const DType from = in[0].desc.dtype;
  if (from == *to) return Support::yes();  // an alias
  if (!castable(from) || !castable(*to))
    return Support::no(std::string("Cast from ") + dtype_name(from) + " to " + dtype_name(*to) +
                       " is not supported on OpenCL (float32, float16, int32, int64, bool only)");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> cast_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(DType to, cast_target(n));
  if (to == in[0].desc.dtype)
    return std::unique_ptr<DeviceKernel>(std::make_unique<AliasKernel>(in[0].desc));
  if (!castable(in[0].desc.dtype) || !castable(to))
    return unsupported("Cast between these dtypes is not supported on OpenCL");
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("reduce", "-DT=float", "cast"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<CastKernel>(ctx, std::move(k), in[0].desc, to));
}

}  // namespace

void register_cl_reduce(ClOpRegistry& r) {
  for (const auto& [op, def] : reduce_ops()) r.add(op, {{1}, reduce_supports, reduce_prepare});
  r.add("ArgMax", {{}, arg_supports, arg_prepare});
  r.add("ArgMin", {{}, arg_supports, arg_prepare});
  r.add("Softmax", {{}, softmax_supports, softmax_prepare});
  r.add("LogSoftmax", {{}, softmax_supports, softmax_prepare});
  r.add("LayerNormalization", {{}, layer_norm_supports, layer_norm_prepare});
  r.add("Cast", {{}, cast_supports, cast_prepare});
}

}  // namespace kiln::opencl
