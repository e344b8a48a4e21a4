// Vulkan elementwise ops (shaders/unary.comp, binary.comp, cast.comp): float unary activations
// and math, IsNaN/IsInf, binary arithmetic and comparisons with numpy broadcasting up to rank 6,
// Where, Cast between float32/float16/int32/int64/bool, and the alias ops Identity/Dropout.
// float16 tensors use the _f16 shader variants (16-bit storage, float arithmetic, one rounding
// per store) and need the device's storageBuffer16BitAccess; without it supports() says no.
// Unary, IsNaN/IsInf, Cast and same-shape binary steps are one-dimensional (linear_n_word), so
// tensors above the storage-buffer binding limit run in chunks; broadcast binary ops on such
// tensors are refused (CPU).
#include <cfloat>
#include <map>

#include "runtime/cpu/ops/common.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using namespace ops;

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

constexpr size_t kMaxRank = 6;

// The push word holding the item count n of the one-dimensional shaders (words 0..3 are the
// element offsets): unary.comp {op, n, ...}, binary.comp {op, n, ...}, cast.comp {n}. Steps that
// set VkStep::linear_n_word are cut into chunks for tensors above the binding limit.
constexpr int kUnaryNWord = 5;
constexpr int kBinaryNWord = 5;
constexpr int kCastNWord = 4;

// The storage suffix of a float dtype's shader variants, or a "no" naming what is missing.
Support float_storage(const VkContext& ctx, DType d, const char* what) {
  if (d == DType::kFloat32) return Support::yes();
  if (d == DType::kFloat16) {
    if (!ctx.features().halves())
      return Support::no(std::string("float16 ") + what +
                         " needs 16-bit storage (storageBuffer16BitAccess) on the Vulkan device");
    return Support::yes();
  }
  return Support::no(std::string("only float32 and float16 ") + what + " shaders exist on Vulkan");
}
const char* fsuffix(DType d) {
  return d == DType::kFloat16 ? "f16" : "f32";
}
uint32_t fsize(DType d) {
  return d == DType::kFloat16 ? 2 : 4;
}

// Steps whose output may overwrite input `inplace` (DeviceKernel::inplace_of): every item reads
// its elements of that input before writing the same element of the output, the shaders'
// bindings are not `restrict`, and VkContext orders dispatches by the byte ranges they bind, so a
// range bound for reading and for writing in one dispatch is safe.
class InplaceStepsKernel : public VkStepsKernel {
 public:
  InplaceStepsKernel(VkContext& ctx, std::string name, std::vector<TensorDesc> outs,
                     std::vector<VkStep> steps, int inplace)
      : VkStepsKernel(ctx, std::move(name), std::move(outs), std::move(steps)) {
    if (inplace >= 0) inplace_ = {inplace};
  }
};

Expected<std::unique_ptr<DeviceKernel>> inplace_kernel(VkContext& ctx, std::string name,
                                                       std::vector<TensorDesc> outs,
                                                       std::vector<VkStep> steps, int inplace) {
  return std::unique_ptr<DeviceKernel>(std::make_unique<InplaceStepsKernel>(
      ctx, std::move(name), std::move(outs), std::move(steps), inplace));
}

// --- unary ---------------------------------------------------------------------------------------

Support unary_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  Support fs = float_storage(ctx, in[0].desc.dtype, "elementwise");
  if (!fs.ok) return fs;
  if (n.op_type() == "Gelu") {
    std::string a = attr_s(n, "approximate", "none");
    if (a != "none" && a != "tanh") return Support::no("unknown Gelu approximation '" + a + "'");
  }
  if (n.op_type() == "Clip" && n.opset() >= 11) {
    for (size_t i = 1; i < in.size() && i < 3; ++i) {
      if (!in[i].present) continue;
      if (!in[i].host_value || in[i].desc.numel() != 1 || in[i].desc.dtype != in[0].desc.dtype)
        return Support::no("Clip min/max must be scalars of X's type known on the host");
    }
  }
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> unary_prepare(VkContext& ctx, const ir::Node& n,
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
  const int64_t count = in[0].desc.numel();
  std::vector<VkStep> steps;
  if (count > 0) {
    Push p;
    p.u(code).u(count).f(alpha).f(beta);
    const DType dt = in[0].desc.dtype;
    KILN_ASSIGN_OR_RETURN(VkStep s,
                          make_step(ctx, std::string("unary_") + fsuffix(dt),
                                    {in_ref(0, fsize(dt)), out_ref(0, fsize(dt))}, p, count, 64,
                                    spec_values(ctx, {code + 1})));
    s.linear_n_word = kUnaryNWord;
    steps.push_back(std::move(s));
  }
  return inplace_kernel(ctx, "unary_" + op, {in[0].desc}, std::move(steps), 0);
}

// --- IsNaN / IsInf (bool output) ----------------------------------------------------------------

Support test_supports(const VkContext& ctx, const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  if (!ctx.features().bytes())
    return Support::no("bool outputs need 8-bit storage and shaderInt8 on the Vulkan device");
  return float_storage(ctx, in[0].desc.dtype, "IsNaN/IsInf");
}

Expected<std::unique_ptr<DeviceKernel>> test_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  const bool isnan_op = n.op_type() == "IsNaN";
  const float neg = isnan_op ? 0.f : static_cast<float>(attr_i(n, "detect_negative", 1));
  const float pos = isnan_op ? 0.f : static_cast<float>(attr_i(n, "detect_positive", 1));
  const int64_t count = in[0].desc.numel();
  const DType dt = in[0].desc.dtype;
  std::vector<VkStep> steps;
  if (count > 0) {
    Push p;
    const int64_t code = isnan_op ? 27 : 28;
    p.u(code).u(count).f(neg).f(pos);
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, std::string("unary_bool_") + fsuffix(dt),
                                              {in_ref(0, fsize(dt)), out_ref(0, 1)}, p, count, 64,
                                              spec_values(ctx, {code + 1})));
    s.linear_n_word = kUnaryNWord;
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, n.op_type(), {{DType::kBool, in[0].desc.shape}}, std::move(steps));
}

// --- binary, compare, where ---------------------------------------------------------------------

Support broadcast_supports(const VkContext& ctx, const ir::Node& n,
                           const std::vector<InputInfo>& in, size_t first, size_t count) {
  if (in.size() != first + count) return Support::no("only the two-operand form is supported");
  std::vector<Shape> shapes;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].present) return Support::no("missing input");
    shapes.push_back(in[i].desc.shape);
  }
  const DType dt = in[first].desc.dtype;
  for (size_t i = first; i < first + count; ++i)
    if (in[i].desc.dtype != dt)
      return Support::no("operands of different types (" + std::string(dtype_name(dt)) + ", " +
                         dtype_name(in[i].desc.dtype) + ")");
  Support fs = float_storage(ctx, dt, "operand");
  if (!fs.ok) return fs;
  auto out = cpu::broadcast_shapes(shapes);
  if (!out) return Support::no(out.status().message());
  if (out->size() > kMaxRank) return Support::no("rank above 6");
  if (n.op_type() == "PRelu" && *out != in[0].desc.shape)
    return Support::no("PRelu slope must broadcast to X's shape");
  return Support::yes();
}

Support binary_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  return broadcast_supports(ctx, n, in, 0, 2);
}
Support compare_supports(const VkContext& ctx, const ir::Node& n,
                         const std::vector<InputInfo>& in) {
  if (!ctx.features().bytes())
    return Support::no("bool outputs need 8-bit storage and shaderInt8 on the Vulkan device");
  return broadcast_supports(ctx, n, in, 0, 2);
}
Support where_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!ctx.features().bytes())
    return Support::no("bool inputs need 8-bit storage and shaderInt8 on the Vulkan device");
  if (in.size() == 3 && in[0].present && in[0].desc.dtype != DType::kBool)
    return Support::no("Where condition must be bool");
  return broadcast_supports(ctx, n, in, 1, 2);
}

// For two operands, one of them the output's shape (dense) and the other a trailing row of the
// output repeated (its shape, without leading 1s, equals the output's last dims; a scalar is a
// row of 1): 2 when operand 1 is the row, 1 when operand 0 is; 0 otherwise. `*inner`: the row's
// element count.
int row_operand(const std::vector<Shape>& shapes, const Shape& out, int64_t* inner) {
  if (shapes.size() != 2) return 0;
  auto is_row = [&](const Shape& s) {
    size_t lead = 0;
    while (lead < s.size() && s[lead] == 1) ++lead;
    const size_t len = s.size() - lead;
    if (len > out.size()) return false;
    for (size_t k = 0; k < len; ++k)
      if (s[lead + k] != out[out.size() - len + k]) return false;
    *inner = numel_of(s);
    return true;
  };
  if (shapes[0] == out && is_row(shapes[1])) return 2;
  if (shapes[1] == out && is_row(shapes[0])) return 1;
  return 0;
}

Expected<std::unique_ptr<DeviceKernel>> broadcast_prepare(VkContext& ctx, const ir::Node& n,
                                                          const std::vector<InputInfo>& in,
                                                          const std::string& family,
                                                          DType out_dtype, int code) {
  std::vector<Shape> shapes;
  for (const auto& i : in) shapes.push_back(i.desc.shape);
  KILN_ASSIGN_OR_RETURN(Shape out, cpu::broadcast_shapes(shapes));
  const int64_t count = numel_of(out);
  const bool where = in.size() == 3;
  const DType dt = in[where ? 1 : 0].desc.dtype;
  const std::string variant = family + "_" + fsuffix(dt);
  std::vector<VkStep> steps;
  if (count > 0) {
    bool dense = true;
    for (const auto& s : shapes) dense = dense && s == out;
    int64_t inner = 1;
    const int row = where || dense ? 0 : row_operand(shapes, out, &inner);
    Push p;
    const int64_t mode = row > 0 ? (row == 2 ? 2 : 3) : (dense ? 1 : 0);
    if (row > 0) {  // binary.comp's dense 2 / 3: one operand dense, the other a row of `inner`
      p.u(code).u(count).u(1).u(mode).arr({inner}, kMaxRank);
      for (size_t k = 0; k < shapes.size(); ++k) p.arr({}, kMaxRank);
    } else {
      p.u(code).u(count).u(static_cast<int64_t>(out.size())).u(mode);
      p.arr(out, kMaxRank);
      for (const auto& s : shapes) p.arr(cpu::broadcast_strides(s, out), kMaxRank);
    }
    std::vector<VkTensorRef> refs;
    for (size_t i = 0; i < in.size(); ++i)
      refs.push_back(in_ref(static_cast<int>(i), where && i == 0 ? 1 : fsize(dt)));
    refs.push_back(out_ref(0, out_dtype == DType::kBool ? 1 : fsize(dt)));
    // The op and the addressing mode are specialization constants (one switch case compiled).
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, variant, std::move(refs), p, count, 64,
                                              spec_values(ctx, {code + 1, mode + 1})));
    // Same-shape operands: item i touches element i of every binding, so the step can be cut
    // into chunks for tensors above the binding limit. Broadcast steps cannot (fits() refuses).
    if (dense) s.linear_n_word = kBinaryNWord;
    steps.push_back(std::move(s));
  }
  // Arithmetic may overwrite a full-size operand of the output's type (dense or not, item i
  // reads that operand's element i); broadcast operands are read at other offsets, never
  // overwritten. Comparisons (bool out) and Where (not one operand per item) do not.
  int inplace = -1;
  for (size_t i = 0; family == "binary" && inplace < 0 && i < in.size(); ++i)
    if (in[i].desc.shape == out && in[i].desc.dtype == out_dtype) inplace = static_cast<int>(i);
  return inplace_kernel(ctx, variant + "_" + n.op_type(), {{out_dtype, out}}, std::move(steps),
                        inplace);
}

Expected<std::unique_ptr<DeviceKernel>> binary_prepare(VkContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  return broadcast_prepare(ctx, n, in, "binary", in[0].desc.dtype, binary_codes().at(n.op_type()));
}
Expected<std::unique_ptr<DeviceKernel>> compare_prepare(VkContext& ctx, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  return broadcast_prepare(ctx, n, in, "compare", DType::kBool, compare_codes().at(n.op_type()));
}
Expected<std::unique_ptr<DeviceKernel>> where_prepare(VkContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  return broadcast_prepare(ctx, n, in, "where", in[1].desc.dtype, 0);
}

// --- cast ----------------------------------------------------------------------------------------

const char* cast_type(DType d) {
  switch (d) {
    case DType::kFloat32:
      return "f32";
    case DType::kFloat16:
      return "f16";
    case DType::kInt32:
      return "i32";
    case DType::kInt64:
      return "i64";
    case DType::kBool:
      return "bool";
    default:
      return nullptr;
  }
}

Support cast_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  const int64_t to = attr_i(n, "to", 0);
  auto dt = dtype_from_onnx(static_cast<int>(to));
  if (!dt) return Support::no("Cast to an unknown type");
  if (!cast_type(in[0].desc.dtype) || !cast_type(*dt))
    return Support::no(std::string("Cast from ") + dtype_name(in[0].desc.dtype) + " to " +
                       dtype_name(*dt) + " has no Vulkan shader");
  if ((in[0].desc.dtype == DType::kBool || *dt == DType::kBool) && !ctx.features().bytes())
    return Support::no("bool tensors need 8-bit storage and shaderInt8 on the Vulkan device");
  if ((in[0].desc.dtype == DType::kFloat16 || *dt == DType::kFloat16) && !ctx.features().halves())
    return Support::no(
        "float16 tensors need 16-bit storage (storageBuffer16BitAccess) on the "
        "Vulkan device");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> cast_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  auto to_opt = dtype_from_onnx(static_cast<int>(attr_i(n, "to", 0)));
  if (!to_opt) return invalid_argument("Cast to an unknown type");
  const DType to = *to_opt;
  const DType from = in[0].desc.dtype;
  const int64_t count = in[0].desc.numel();
  std::vector<VkStep> steps;
  if (count > 0) {
    Push p;
    p.u(count);
    const std::string variant = std::string("cast_") + cast_type(from) + "_" + cast_type(to);
    KILN_ASSIGN_OR_RETURN(
        VkStep s,
        make_step(ctx, variant,
                  {in_ref(0, shader_elem_size(from)), out_ref(0, shader_elem_size(to))}, p, count));
    s.linear_n_word = kCastNWord;
    steps.push_back(std::move(s));
  }
  // Same element size on both sides: item i reads x[i], then writes y[i] over the same bytes.
  const int inplace = shader_elem_size(from) == shader_elem_size(to) ? 0 : -1;
  return inplace_kernel(ctx, "cast", {{to, in[0].desc.shape}}, std::move(steps), inplace);
}

// --- aliases -------------------------------------------------------------------------------------

Support alias_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input");
  if (n.outputs().size() > 1 && n.outputs()[1]) return Support::no("Dropout mask output");
  if (n.op_type() == "Dropout" && in.size() > 2 && in[2].present)
    return Support::no("Dropout with a training_mode input");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> alias_prepare(VkContext&, const ir::Node&,
                                                      const std::vector<InputInfo>& in) {
  return std::unique_ptr<DeviceKernel>(std::make_unique<VkViewKernel>(in[0].desc));
}

}  // namespace

void register_vk_elementwise(VkOpRegistry& r) {
  // Unary, IsNaN/IsInf, Cast and same-shape binary steps split above the binding limit.
  for (const auto& [op, code] : unary_codes()) {
    VkOpDef d{{}, unary_supports, unary_prepare};
    if (op == "Clip") d.host_inputs = {1, 2};
    d.splits = true;
    r.add(op, d);
  }
  for (const auto& [op, code] : binary_codes()) {
    VkOpDef d{{}, binary_supports, binary_prepare};
    d.splits = true;
    r.add(op, d);
  }
  for (const auto& [op, code] : compare_codes()) r.add(op, {{}, compare_supports, compare_prepare});
  r.add("Where", {{}, where_supports, where_prepare});
  for (const char* op : {"IsNaN", "IsInf"}) {
    VkOpDef d{{}, test_supports, test_prepare};
    d.splits = true;
    r.add(op, d);
  }
  {
    VkOpDef d{{}, cast_supports, cast_prepare};
    d.splits = true;
    r.add("Cast", d);
  }
  r.add("Identity", {{}, alias_supports, alias_prepare});
  r.add("Dropout", {{}, alias_supports, alias_prepare});
}

}  // namespace kiln::vulkan
