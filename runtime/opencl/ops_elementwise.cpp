// OpenCL elementwise ops (kernels/elementwise.cl): unary activations and math, binary
// arithmetic with numpy broadcasting, comparisons, Where, and the alias ops Identity/Dropout.
// Broadcast shapes are collapsed on the host (fewer dims to divide over per element); float
// binary ops with dense or row/scalar-broadcast operands run a four-wide vload/vstore kernel.
#include <cfloat>
#include <map>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

const std::map<std::string, int>& unary_codes() {
  static const std::map<std::string, int> m = {
      {"Relu", 1},   {"LeakyRelu", 2},    {"Elu", 3},         {"Sigmoid", 4}, {"Tanh", 5},
      {"Exp", 6},    {"Log", 7},          {"Sqrt", 8},        {"Erf", 9},     {"Gelu", 10},
      {"Neg", 12},   {"Abs", 13},         {"Reciprocal", 14}, {"Floor", 15},  {"Ceil", 16},
      {"Clip", 17},  {"HardSigmoid", 18}, {"Softplus", 19},   {"Sin", 20},    {"Cos", 21},
      {"Round", 22}, {"Sign", 23},        {"HardSwish", 24},  {"Selu", 25},   {"Softsign", 26},
  };
  return m;
}

const std::map<std::string, int>& binary_codes() {
  static const std::map<std::string, int> m = {{"Add", 0}, {"Sub", 1}, {"Mul", 2}, {"Div", 3},
                                               {"Pow", 4}, {"Min", 5}, {"Max", 6}, {"PRelu", 7}};
  return m;
}

const std::map<std::string, int>& compare_codes() {
  static const std::map<std::string, int> m = {
      {"Equal", 0}, {"Less", 1}, {"LessOrEqual", 2}, {"Greater", 3}, {"GreaterOrEqual", 4}};
  return m;
}

float attr_f(const ir::Node& n, const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type == ir::AttrType::kFloat) return a->f;
  if (a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
  return def;
}

std::string attr_s(const ir::Node& n, const char* name, const std::string& def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kString ? a->s : def;
}

// float32 or float16: the kernels' storage types (float16 is stored as half, computed in float).
bool is_float_storage(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16;
}

// True when the present inputs [first, first+count) are all float32 or all float16.
bool same_float_dtype(const std::vector<InputInfo>& in, size_t first, size_t count) {
  if (first >= in.size() || !in[first].present) return false;
  DType d = in[first].desc.dtype;
  if (!is_float_storage(d)) return false;
  for (size_t i = first; i < first + count && i < in.size(); ++i)
    if (in[i].present && in[i].desc.dtype != d) return false;
  return true;
}

// The program options for tensors of dtype `d` (one program per storage type).
const char* storage_options(DType d) {
  return d == DType::kFloat16 ? "-DT=float -DKILN_HALF" : "-DT=float";
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// --- unary ---------------------------------------------------------------------------------------

class UnaryKernel : public ClLaunchKernel {
 public:
  UnaryKernel(ClContext& ctx, cl::Kernel k, const TensorDesc& d, int op, float alpha, float beta)
      : ClLaunchKernel(std::move(k), "unary", {0}, 1, ctx) {
    outputs_ = {d};
    inplace_ = {0};  // each work-item reads x[i], then writes y[i]
    int n = static_cast<int>(d.numel());
    set_fixed(0, static_cast<cl_int>(op));
    set_fixed(1, static_cast<cl_int>(n));
    set_fixed(2, alpha);
    set_fixed(3, beta);
    global_ = cl::NDRange(round_up(std::max(n, 1), 64));
    local_ = cl::NDRange(64);
  }
};

Support unary_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  if (!same_float_dtype(in, 0, 1))
    return Support::no("only float32 and float16 elementwise kernels exist");
  if (n.op_type() == "Gelu") {
    std::string a = attr_s(n, "approximate", "none");
    if (a != "none" && a != "tanh") return Support::no("unknown Gelu approximation '" + a + "'");
  }
  if (n.op_type() == "Clip" && n.opset() >= 11) {
    for (size_t i = 1; i < in.size() && i < 3; ++i) {
      if (!in[i].present) continue;
      if (!in[i].host_value || in[i].desc.numel() != 1 || in[i].desc.dtype != in[0].desc.dtype)
        return Support::no("Clip min/max must be scalars of X's dtype known on the host");
    }
  }
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> unary_prepare(ClContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  const std::string& op = n.op_type();
  int code = unary_codes().at(op);
  float alpha = 0, beta = 0;
  if (op == "LeakyRelu") alpha = attr_f(n, "alpha", 0.01f);
  if (op == "Elu") alpha = attr_f(n, "alpha", 1.0f);
  if (op == "HardSigmoid") {
    alpha = attr_f(n, "alpha", 0.2f);
    beta = attr_f(n, "beta", 0.5f);
  }
  if (op == "Selu") {
    alpha = attr_f(n, "alpha", 1.67326319217681884765625f);
    beta = attr_f(n, "gamma", 1.05070102214813232421875f);
  }
  if (op == "Gelu" && attr_s(n, "approximate", "none") == "tanh") code = 11;
  if (op == "Clip") {
    alpha = -FLT_MAX;
    beta = FLT_MAX;
    if (n.opset() < 11) {
      alpha = attr_f(n, "min", -FLT_MAX);
      beta = attr_f(n, "max", FLT_MAX);
    } else {
      if (in.size() > 1 && in[1].present)
        alpha = static_cast<float>(in[1].host_value->get_as_double(0));
      if (in.size() > 2 && in[2].present)
        beta = static_cast<float>(in[2].host_value->get_as_double(0));
    }
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel k,
                        ctx.kernel("elementwise", storage_options(in[0].desc.dtype), "unary"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<UnaryKernel>(ctx, std::move(k), in[0].desc, code, alpha, beta));
}

// --- binary, compare, where ---------------------------------------------------------------------

// The output's dims and each operand's broadcast strides with extent-1 dims dropped and
// neighbouring dims merged where every operand either walks both contiguously (stride of the
// outer == inner stride * inner extent) or broadcasts both (stride 0). Offsets are unchanged, so
// the kernels compute the same elements with fewer divisions per element.
struct Collapsed {
  Shape dims;
  std::vector<std::vector<int64_t>> strides;  // per operand, one per dim
};

Collapsed collapse_dims(const std::vector<Shape>& shapes, const Shape& out) {
  Collapsed c;
  c.strides.resize(shapes.size());
  std::vector<std::vector<int64_t>> full;
  for (const auto& s : shapes) full.push_back(cpu::broadcast_strides(s, out));
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !c.dims.empty();
    for (size_t o = 0; merge && o < shapes.size(); ++o) {
      const int64_t outer = c.strides[o].back(), inner = full[o][d];
      merge = (outer == 0 && inner == 0) || (inner != 0 && outer == inner * out[d]);
    }
    if (merge) {
      c.dims.back() *= out[d];
      for (size_t o = 0; o < shapes.size(); ++o) c.strides[o].back() = full[o][d];
    } else {
      c.dims.push_back(out[d]);
      for (size_t o = 0; o < shapes.size(); ++o) c.strides[o].push_back(full[o][d]);
    }
  }
  return c;
}

// Operand o of a collapsed broadcast is dense: it walks every dim at the output's row-major
// stride.
bool collapsed_dense(const Collapsed& c, size_t o) {
  int64_t expect = 1;
  for (size_t d = c.dims.size(); d-- > 0;) {
    if (c.strides[o][d] != expect) return false;
    expect *= c.dims[d];
  }
  return true;
}

// Operand o of a collapsed broadcast repeats a trailing row: `*inner` elements (1: a scalar).
bool collapsed_row(const Collapsed& c, size_t o, int64_t* inner) {
  if (c.dims.size() == 1 && c.strides[o][0] == 0) {
    *inner = 1;
    return true;
  }
  if (c.dims.size() == 2 && c.strides[o][0] == 0 && c.strides[o][1] == 1) {
    *inner = c.dims[1];
    return true;
  }
  return false;
}

// A broadcast launch over `operands` (node input indices) producing `out_dtype`. `inplace`:
// the node input the output may overwrite (-1: none).
class BroadcastKernel : public ClLaunchKernel {
 public:
  BroadcastKernel(ClContext& ctx, cl::Kernel k, std::string name, std::vector<int> operands,
                  const std::vector<Shape>& shapes, const Shape& out, DType out_dtype, int op,
                  bool with_op, int inplace)
      : ClLaunchKernel(std::move(k), std::move(name), operands, 1, ctx) {
    outputs_ = {TensorDesc{out_dtype, out}};
    if (inplace >= 0) inplace_ = {inplace};
    int n = static_cast<int>(numel_of(out));
    const Collapsed c = collapse_dims(shapes, out);
    bool dense = true;
    for (size_t o = 0; o < shapes.size(); ++o) dense = dense && collapsed_dense(c, o);
    cl_uint a = 0;
    if (with_op) set_fixed(a++, static_cast<cl_int>(op));
    set_fixed(a++, static_cast<cl_int>(n));
    set_fixed(a++, static_cast<cl_int>(dense ? 0 : 1));
    set_fixed(a++, static_cast<cl_int>(c.dims.size()));
    set_fixed(a++, to_int8(c.dims));
    for (const auto& st : c.strides) set_fixed(a++, to_int8(st));
    global_ = cl::NDRange(round_up(std::max(n, 1), 64));
    local_ = cl::NDRange(64);
  }
};

// Float `binary` whose operands are dense, or one dense and the other a repeated trailing row or
// a scalar (kernels/elementwise.cl binary_vec: four elements per work-item). `mode` and `inner`
// as binary_vec takes them.
class BinaryVecKernel : public ClLaunchKernel {
 public:
  BinaryVecKernel(ClContext& ctx, cl::Kernel k, const Shape& out, DType dt, int op, int mode,
                  int64_t inner, int inplace)
      : ClLaunchKernel(std::move(k), "binary_vec", {0, 1}, 1, ctx) {
    outputs_ = {TensorDesc{dt, out}};
    if (inplace >= 0) inplace_ = {inplace};
    int n = static_cast<int>(numel_of(out));
    set_fixed(0, static_cast<cl_int>(op));
    set_fixed(1, static_cast<cl_int>(n));
    set_fixed(2, static_cast<cl_int>(mode));
    set_fixed(3, static_cast<cl_int>(std::max<int64_t>(inner, 1)));
    global_ = cl::NDRange(round_up(std::max((n + 3) / 4, 1), 64));
    local_ = cl::NDRange(64);
  }
};

// binary_vec's mode for these operands (0 both dense, 1 b a row, 2 a a row), or -1.
int binary_vec_mode(const std::vector<Shape>& shapes, const Shape& out, int64_t* inner) {
  const Collapsed c = collapse_dims(shapes, out);
  *inner = 1;
  const bool da = collapsed_dense(c, 0), db = collapsed_dense(c, 1);
  if (da && db) return 0;
  if (da && collapsed_row(c, 1, inner)) return 1;
  if (db && collapsed_row(c, 0, inner)) return 2;
  return -1;
}

Support broadcast_supports(const ir::Node& n, const std::vector<InputInfo>& in, size_t first,
                           size_t count) {
  if (in.size() != first + count) return Support::no("only the two-operand form is supported");
  std::vector<Shape> shapes;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].present) return Support::no("missing input");
    shapes.push_back(in[i].desc.shape);
  }
  if (!same_float_dtype(in, first, count))
    return Support::no("operands must be all float32 or all float16 on OpenCL");
  auto out = cpu::broadcast_shapes(shapes);
  if (!out) return Support::no(out.status().message());
  if (out->size() > 8) return Support::no("rank above 8");
  if (n.op_type() == "PRelu" && *out != in[0].desc.shape)
    return Support::no("PRelu slope must broadcast to X's shape");
  return Support::yes();
}

// Two present int64 operands (the int64 kernels' case).
bool both_int64(const std::vector<InputInfo>& in) {
  return in.size() == 2 && in[0].present && in[1].present && in[0].desc.dtype == DType::kInt64 &&
         in[1].desc.dtype == DType::kInt64;
}

// Arithmetic ops with an int64 kernel (binary_i64).
bool has_int64_kernel(const std::string& op) {
  return op == "Add" || op == "Sub" || op == "Mul" || op == "Min" || op == "Max";
}

// Shape checks of broadcast_supports for int64 operands.
Support int64_broadcast_supports(const std::vector<InputInfo>& in) {
  auto out = cpu::broadcast_shapes({in[0].desc.shape, in[1].desc.shape});
  if (!out) return Support::no(out.status().message());
  if (out->size() > 8) return Support::no("rank above 8");
  return Support::yes();
}

Support binary_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (both_int64(in)) {
    if (!has_int64_kernel(n.op_type()))
      return Support::no("no int64 OpenCL kernel for " + n.op_type());
    return int64_broadcast_supports(in);
  }
  return broadcast_supports(n, in, 0, 2);
}
Support compare_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (both_int64(in)) return int64_broadcast_supports(in);
  return broadcast_supports(n, in, 0, 2);
}
Support where_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.size() == 3 && in[0].present && in[0].desc.dtype != DType::kBool)
    return Support::no("Where condition must be bool");
  if (in.size() == 3 && in[1].present && in[2].present && in[1].desc.dtype == DType::kInt64 &&
      in[2].desc.dtype == DType::kInt64) {
    auto out = cpu::broadcast_shapes({in[0].desc.shape, in[1].desc.shape, in[2].desc.shape});
    if (!out) return Support::no(out.status().message());
    if (out->size() > 8) return Support::no("rank above 8");
    return Support::yes();
  }
  return broadcast_supports(n, in, 1, 2);
}

// `inplace_ok`: the output has the operands' element type, so it may overwrite a full-size
// operand (each work-item reads that operand's element i before writing element i; broadcast
// operands are read at other offsets and are never overwritten).
Expected<std::unique_ptr<DeviceKernel>> binary_like(ClContext& ctx, const ir::Node&,
                                                    const std::vector<InputInfo>& in,
                                                    const char* kernel_name, DType out_dtype,
                                                    int code, bool with_op, bool inplace_ok) {
  std::vector<Shape> shapes;
  std::vector<int> operands;
  for (size_t i = 0; i < in.size(); ++i) {
    shapes.push_back(in[i].desc.shape);
    operands.push_back(static_cast<int>(i));
  }
  KILN_ASSIGN_OR_RETURN(Shape out, cpu::broadcast_shapes(shapes));
  // Where's operands are inputs 1 and 2; the others' are inputs 0 and 1.
  const size_t first = in.size() == 3 ? 1 : 0;
  int inplace = -1;
  for (size_t i = first; inplace_ok && inplace < 0 && i < in.size(); ++i)
    if (in[i].desc.shape == out && in[i].desc.dtype == out_dtype) inplace = static_cast<int>(i);
  DType storage = in[first].desc.dtype;
  if (storage == DType::kInt64) storage = DType::kFloat32;  // the int64 kernels are in both
  int64_t inner = 1;
  const int vec_mode =
      std::string(kernel_name) == "binary" ? binary_vec_mode(shapes, out, &inner) : -1;
  if (vec_mode >= 0) {
    KILN_ASSIGN_OR_RETURN(cl::Kernel k,
                          ctx.kernel("elementwise", storage_options(storage), "binary_vec"));
    return std::unique_ptr<DeviceKernel>(std::make_unique<BinaryVecKernel>(
        ctx, std::move(k), out, out_dtype, code, vec_mode, inner, inplace));
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel k,
                        ctx.kernel("elementwise", storage_options(storage), kernel_name));
  return std::unique_ptr<DeviceKernel>(std::make_unique<BroadcastKernel>(
      ctx, std::move(k), kernel_name, operands, shapes, out, out_dtype, code, with_op, inplace));
}

Expected<std::unique_ptr<DeviceKernel>> binary_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  const char* name = in[0].desc.dtype == DType::kInt64 ? "binary_i64" : "binary";
  return binary_like(ctx, n, in, name, in[0].desc.dtype, binary_codes().at(n.op_type()), true,
                     true);
}
Expected<std::unique_ptr<DeviceKernel>> compare_prepare(ClContext& ctx, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const char* name = in[0].desc.dtype == DType::kInt64 ? "compare_i64" : "compare";
  return binary_like(ctx, n, in, name, DType::kBool, compare_codes().at(n.op_type()), true, false);
}
Expected<std::unique_ptr<DeviceKernel>> where_prepare(ClContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  const char* name = in[1].desc.dtype == DType::kInt64 ? "where_select_i64" : "where_select";
  return binary_like(ctx, n, in, name, in[1].desc.dtype, 0, false, true);
}

// --- IsNaN / IsInf ------------------------------------------------------------------------------

class ClassifyKernel : public ClLaunchKernel {
 public:
  ClassifyKernel(ClContext& ctx, cl::Kernel k, const Shape& shape, int op, int pos, int neg)
      : ClLaunchKernel(std::move(k), op == 0 ? "isnan" : "isinf", {0}, 1, ctx) {
    outputs_ = {TensorDesc{DType::kBool, shape}};
    int n = static_cast<int>(numel_of(shape));
    set_fixed(0, static_cast<cl_int>(op));
    set_fixed(1, static_cast<cl_int>(n));
    set_fixed(2, static_cast<cl_int>(pos));
    set_fixed(3, static_cast<cl_int>(neg));
    global_ = cl::NDRange(round_up(std::max(n, 1), 64));
    local_ = cl::NDRange(64);
  }
};

Support classify_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  if (!is_float_storage(in[0].desc.dtype))
    return Support::no("only float32 and float16 IsNaN / IsInf kernels exist");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> classify_prepare(ClContext& ctx, const ir::Node& n,
                                                         const std::vector<InputInfo>& in) {
  const bool inf = n.op_type() == "IsInf";
  auto flag = [&](const char* name) -> Expected<int> {
    const ir::Attribute* a = n.attr(name);
    if (!a) return 1;
    if (a->type != ir::AttrType::kInt)
      return invalid_argument(std::string(name) + " must be an int");
    return a->i != 0 ? 1 : 0;
  };
  KILN_ASSIGN_OR_RETURN(int pos, flag("detect_positive"));
  KILN_ASSIGN_OR_RETURN(int neg, flag("detect_negative"));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k,
                        ctx.kernel("elementwise", storage_options(in[0].desc.dtype), "classify"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ClassifyKernel>(ctx, std::move(k), in[0].desc.shape, inf ? 1 : 0, pos, neg));
}

// --- aliases -------------------------------------------------------------------------------------

// Output 0 is input 0's bytes (Identity, Dropout in inference). Dropout's mask output is not
// supported here (the node then runs on the CPU).
class AliasKernel : public DeviceKernel {
 public:
  explicit AliasKernel(const TensorDesc& d) {
    outputs_ = {d};
    aliases_ = {0};
  }
  Status enqueue(const std::vector<DeviceTensor>&, const std::vector<DeviceTensor>&) override {
    return Status::ok();
  }
  std::string name() const override { return "alias"; }
};

Support alias_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  if (n.outputs().size() > 1 && n.outputs()[1]) return Support::no("Dropout mask output");
  if (n.op_type() == "Dropout" && in.size() > 2 && in[2].present)
    return Support::no("Dropout with a training_mode input");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> alias_prepare(ClContext&, const ir::Node&,
                                                      const std::vector<InputInfo>& in) {
  return std::unique_ptr<DeviceKernel>(std::make_unique<AliasKernel>(in[0].desc));
}

}  // namespace

void register_cl_elementwise(ClOpRegistry& r) {
  for (const auto& [op, code] : unary_codes()) {
    ClOpDef d{{}, unary_supports, unary_prepare};
    if (op == "Clip") d.host_inputs = {1, 2};
    r.add(op, d);
  }
  for (const auto& [op, code] : binary_codes()) r.add(op, {{}, binary_supports, binary_prepare});
  for (const auto& [op, code] : compare_codes()) r.add(op, {{}, compare_supports, compare_prepare});
  r.add("IsNaN", {{}, classify_supports, classify_prepare});
  r.add("IsInf", {{}, classify_supports, classify_prepare});
  r.add("Where", {{}, where_supports, where_prepare});
  r.add("Identity", {{}, alias_supports, alias_prepare});
  r.add("Dropout", {{}, alias_supports, alias_prepare});
}

}  // namespace kiln::opencl
