// Vulkan reductions (shaders/reduce.comp: ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum/
// LogSumExp over any axes), Softmax/LogSoftmax (shaders/softmax.comp, every opset's axis rule)
// and LayerNormalization (shaders/layernorm.comp, output Y only). Float32, and float16 through the
// _f16 variants (16-bit storage, float accumulation) when the device has storageBuffer16BitAccess;
// the validation mirrors the CPU kernels, and anything else gets a "no" from supports().
#include <map>

#include "runtime/cpu/ops/common.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using namespace ops;

constexpr size_t kMaxDims = 4;  // kept and reduced dims after merging (reduce.comp)

struct ReduceOp {
  int code;
  int axes_input_since;
};
const std::map<std::string, ReduceOp>& reduce_ops() {
  static const std::map<std::string, ReduceOp> m = {
      {"ReduceSum", {0, 13}},       {"ReduceMean", {1, 18}}, {"ReduceMax", {2, 18}},
      {"ReduceMin", {3, 18}},       {"ReduceProd", {4, 18}}, {"ReduceSumSquare", {5, 18}},
      {"ReduceL1", {6, 18}},        {"ReduceL2", {7, 18}},   {"ReduceLogSum", {8, 18}},
      {"ReduceLogSumExp", {9, 18}},
  };
  return m;
}

Expected<int64_t> get_int(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type != ir::AttrType::kInt)
    return invalid_argument(std::string("attribute '") + name + "' must be an int");
  return a->i;
}

bool present(const std::vector<InputInfo>& in, size_t i) {
  return i < in.size() && in[i].present;
}

// Input i is float32, or float16 on a device with 16-bit storage.
Support need_float(const VkContext& ctx, const std::vector<InputInfo>& in, size_t i,
                   const char* what) {
  if (!present(in, i)) return Support::no(std::string("missing input '") + what + "'");
  const DType d = in[i].desc.dtype;
  if (d == DType::kFloat16 && !ctx.features().halves())
    return Support::no(std::string("float16 '") + what +
                       "' needs 16-bit storage (storageBuffer16BitAccess) on the Vulkan device");
  if (d != DType::kFloat32 && d != DType::kFloat16)
    return Support::no(std::string("only float32 and float16 '") + what + "' on Vulkan");
  return Support::yes();
}

// The variant of a float family for dtype d ("reduce_f16") and its element size.
std::string fvariant(const char* family, DType d) {
  return std::string(family) + (d == DType::kFloat16 ? "_f16" : "_f32");
}
uint32_t fsize(DType d) {
  return d == DType::kFloat16 ? 2 : 4;
}

// --- reductions ----------------------------------------------------------------------------------

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
    const ir::Attribute* a = n.attr("axes");
    if (a && a->type != ir::AttrType::kInts)
      return invalid_argument("attribute 'axes' must be a list of ints");
    if (a) axes = a->ints;
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
    return unsupported("more than 4 kept or reduced dims after merging");
  return p;
}

Support reduce_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  Support s = need_float(ctx, in, 0, "data");
  if (!s.ok) return s;
  auto p = reduce_plan(n, in);
  if (!p) return Support::no(p.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> reduce_prepare(VkContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ReducePlan p, reduce_plan(n, in));
  std::vector<VkStep> steps;
  if (p.out_numel > 0) {
    Push q;
    q.u(p.code).u(p.out_numel).u(static_cast<int64_t>(p.kd.size()));
    q.u(static_cast<int64_t>(p.rd.size()));
    q.arr(p.kd, kMaxDims).arr(p.ks, kMaxDims).arr(p.rd, kMaxDims).arr(p.rs, kMaxDims);
    q.u(p.count);
    const uint32_t es = fsize(in[0].desc.dtype);
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, fvariant("reduce", in[0].desc.dtype),
                                              {in_ref(0, es), out_ref(0, es)}, q, p.out_numel));
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, "reduce_" + n.op_type(), {{in[0].desc.dtype, p.out_shape}},
                      std::move(steps));
}

// --- Softmax / LogSoftmax ------------------------------------------------------------------------

struct Rows {
  int64_t outer = 1, len = 1, inner = 1;
};

Expected<Rows> softmax_rows(const ir::Node& n, const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return invalid_argument("Softmax input must have rank >= 1");
  const bool v13 = n.opset() >= 13;
  KILN_ASSIGN_OR_RETURN(int64_t axis, get_int(n, "axis", v13 ? -1 : 1));
  // As the CPU: opset 1 accepts [0, r] (coerced to 2-D), opsets 11 and 13 [-r, r-1].
  const int64_t lo = n.opset() >= 11 ? -rank : 0, hi = n.opset() >= 11 ? rank - 1 : rank;
  if (axis < lo || axis > hi)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  if (axis < 0) axis += rank;
  Rows r;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis)
      r.outer *= shape[d];
    else if (d == axis || !v13)
      r.len *= shape[d];
    else
      r.inner *= shape[d];
  }
  return r;
}

Support softmax_supports(const VkContext& ctx, const ir::Node& n,
                         const std::vector<InputInfo>& in) {
  Support s = need_float(ctx, in, 0, "input");
  if (!s.ok) return s;
  auto r = softmax_rows(n, in[0].desc.shape);
  if (!r) return Support::no(r.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> softmax_prepare(VkContext& ctx, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(Rows r, softmax_rows(n, in[0].desc.shape));
  std::vector<VkStep> steps;
  const int64_t rows = r.outer * r.inner;
  if (rows > 0 && r.len > 0) {
    Push p;
    const int64_t log_softmax = n.op_type() == "LogSoftmax" ? 1 : 0;
    p.u(rows).u(r.len).u(r.inner).u(log_softmax);
    const uint32_t es = fsize(in[0].desc.dtype);
    // The row length, stride and op are specialization constants (loop bounds known).
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, fvariant("softmax", in[0].desc.dtype),
                                              {in_ref(0, es), out_ref(0, es)}, p, rows, 32,
                                              spec_values(ctx, {r.len, r.inner, log_softmax + 1})));
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, n.op_type(), {in[0].desc}, std::move(steps));
}

// --- LayerNormalization --------------------------------------------------------------------------

struct NormPlan {
  int64_t rows = 1, norm = 1;
  float eps = 1e-5f;
  bool has_bias = false;
  bool simple = true;
  // Merged dims of the row index (outer) and element index (inner), padded to 3 with 1s, and
  // the scale/bias strides along them.
  std::vector<int64_t> od, id, so, si, bo, bi;
};

// Unidirectional broadcast strides of s over x (as the CPU's LayerNormalization), or an error.
Expected<std::vector<int64_t>> operand_strides(const std::string& what, const Shape& s,
                                               const Shape& x) {
  bool fits = s.size() <= x.size();
  for (size_t k = 0; fits && k < s.size(); ++k) {
    const int64_t d = s[s.size() - 1 - k];
    fits = d == 1 || d == x[x.size() - 1 - k];
  }
  if (!fits)
    return invalid_argument("input '" + what + "' of shape " + shape_to_string(s) +
                            " does not broadcast to X's shape " + shape_to_string(x));
  return cpu::broadcast_strides(s, x);
}

// Dims [from, to) of x with the strides of two operands: size-1 dims dropped, neighbours merged
// where both operands are contiguous across them; at most 3, front-padded with size 1.
bool merge_dims(const Shape& x, int64_t from, int64_t to, const std::vector<int64_t>& s1,
                const std::vector<int64_t>& s2, std::vector<int64_t>* dims,
                std::vector<int64_t>* o1, std::vector<int64_t>* o2) {
  dims->clear();
  o1->clear();
  o2->clear();
  for (int64_t d = from; d < to; ++d) {
    if (x[d] == 1) continue;
    if (!dims->empty() && o1->back() == s1[d] * x[d] && o2->back() == s2[d] * x[d]) {
      dims->back() *= x[d];
      o1->back() = s1[d];
      o2->back() = s2[d];
    } else {
      dims->push_back(x[d]);
      o1->push_back(s1[d]);
      o2->push_back(s2[d]);
    }
  }
  if (dims->size() > 3) return false;
  while (dims->size() < 3) {
    dims->insert(dims->begin(), 1);
    o1->insert(o1->begin(), 0);
    o2->insert(o2->begin(), 0);
  }
  return true;
}

Expected<NormPlan> norm_plan(const ir::Node& n, const std::vector<InputInfo>& in) {
  const Shape& x = in[0].desc.shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) return invalid_argument("input 'X' must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t axis, get_int(n, "axis", -1));
  if (axis < -rank || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  if (axis < 0) axis += rank;
  KILN_ASSIGN_OR_RETURN(int64_t stash, get_int(n, "stash_type", 1));
  if (stash != 1) return unsupported("stash_type other than float");
  const ir::Attribute* e = n.attr("epsilon");
  if (e && e->type != ir::AttrType::kFloat)
    return invalid_argument("attribute 'epsilon' must be a float");
  NormPlan p;
  if (e) p.eps = e->f;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? p.rows : p.norm) *= x[d];
  KILN_ASSIGN_OR_RETURN(auto ss, operand_strides("Scale", in[1].desc.shape, x));
  p.has_bias = present(in, 2);
  std::vector<int64_t> bs(x.size(), 0);
  if (p.has_bias) {
    KILN_ASSIGN_OR_RETURN(bs, operand_strides("B", in[2].desc.shape, x));
  }
  // Simple: both operands are the row-major normalized shape, the same for every row.
  const std::vector<int64_t> dense = cpu::strides_of(Shape(x.begin() + axis, x.end()));
  for (int64_t d = 0; d < rank; ++d) {
    const bool outer = d < axis;
    for (const auto* st : {&ss, &bs}) {
      if (st == &bs && !p.has_bias) continue;
      const int64_t want = outer ? 0 : dense[d - axis];
      if (x[d] != 1 && (*st)[d] != want) p.simple = false;
    }
  }
  if (!merge_dims(x, 0, axis, ss, bs, &p.od, &p.so, &p.bo) ||
      !merge_dims(x, axis, rank, ss, bs, &p.id, &p.si, &p.bi))
    return unsupported("Scale/B broadcast over more than 3 independent dims");
  return p;
}

Support layernorm_supports(const VkContext& ctx, const ir::Node& n,
                           const std::vector<InputInfo>& in) {
  // Below opset 17 this is onnxruntime's default-domain extension (what the level-2 fusion and
  // its transformer optimizer write), with the same semantics; the CPU kernel runs it too.
  for (size_t o = 1; o < n.outputs().size(); ++o)
    if (n.outputs()[o])
      return Support::no("the Mean and InvStdDev outputs are computed on the CPU only");
  Support s = both(need_float(ctx, in, 0, "X"), need_float(ctx, in, 1, "Scale"));
  if (!s.ok) return s;
  const DType dt = in[0].desc.dtype;
  if (in[1].desc.dtype != dt || (present(in, 2) && in[2].desc.dtype != dt))
    return Support::no("X, Scale and B of different types");
  auto p = norm_plan(n, in);
  if (!p) return Support::no(p.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> layernorm_prepare(VkContext& ctx, const ir::Node& n,
                                                          const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(NormPlan p, norm_plan(n, in));
  std::vector<VkStep> steps;
  if (p.rows > 0 && p.norm > 0) {
    Push q;
    const int64_t flags = (p.has_bias ? 1 : 0) | (p.simple ? 2 : 0);
    q.u(p.rows).u(p.norm).f(p.eps).u(flags);
    q.arr(p.od, 3).arr(p.id, 3).arr(p.so, 3).arr(p.si, 3).arr(p.bo, 3).arr(p.bi, 3);
    const uint32_t es = fsize(in[0].desc.dtype);
    // The normalized length and the layout flags are specialization constants.
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, fvariant("layernorm", in[0].desc.dtype),
                                              {in_ref(0, es), in_ref(1, es),
                                               in_ref(p.has_bias ? 2 : 1, es), out_ref(0, es)},
                                              q, p.rows, 32, spec_values(ctx, {p.norm, flags + 1})));
    steps.push_back(std::move(s));
  }
  std::vector<TensorDesc> outs = {in[0].desc};
  return steps_kernel(ctx, "layernorm", std::move(outs), std::move(steps));
}

}  // namespace

void register_vk_reduce(VkOpRegistry& r) {
  for (const auto& [op, def] : reduce_ops()) {
    VkOpDef d{{}, reduce_supports, reduce_prepare};
    if (def.axes_input_since <= 18) d.host_inputs = {1};
    r.add(op, d);
  }
  r.add("Softmax", {{}, softmax_supports, softmax_prepare});
  r.add("LogSoftmax", {{}, softmax_supports, softmax_prepare});
  r.add("LayerNormalization", {{}, layernorm_supports, layernorm_prepare});
}

}  // namespace kiln::vulkan
