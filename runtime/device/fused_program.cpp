// FusedElementwise programs: names, decoding and encoding (see fused_program.h).
#include "runtime/device/fused_program.h"

#include <climits>

#include <cstdio>

#include "runtime/cpu/ops/common.h"

namespace kiln::device::fused {

namespace {

struct OpInfo {
  Op op;
  const char* name;
};

constexpr OpInfo kOps[] = {
    {Op::kAdd, "Add"},
    {Op::kSub, "Sub"},
    {Op::kMul, "Mul"},
    {Op::kDiv, "Div"},
    {Op::kPow, "Pow"},
    {Op::kMax, "Max"},
    {Op::kMin, "Min"},
    {Op::kRelu, "Relu"},
    {Op::kSigmoid, "Sigmoid"},
    {Op::kTanh, "Tanh"},
    {Op::kExp, "Exp"},
    {Op::kLog, "Log"},
    {Op::kSqrt, "Sqrt"},
    {Op::kNeg, "Neg"},
    {Op::kAbs, "Abs"},
    {Op::kErf, "Erf"},
    {Op::kReciprocal, "Reciprocal"},
    {Op::kClip, "Clip"},
    {Op::kLeakyRelu, "LeakyRelu"},
    {Op::kHardSigmoid, "HardSigmoid"},
    {Op::kHardSwish, "HardSwish"},
};

ir::Attribute ints_attr(std::vector<int64_t> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInts;
  a.ints = std::move(v);
  return a;
}

ir::Attribute floats_attr(std::vector<float> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloats;
  a.floats = std::move(v);
  return a;
}

std::string operand_string(int r, float c) {
  if (r == kConst) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(c));
    return buf;
  }
  std::string s = "r";
  s += std::to_string(r);
  return s;
}

}  // namespace

bool is_binary(Op op) {
  return static_cast<int>(op) < 16;
}

const char* op_name(int code) {
  for (const OpInfo& o : kOps)
    if (static_cast<int>(o.op) == code) return o.name;
  return "";
}

int op_code(const std::string& onnx_op) {
  for (const OpInfo& o : kOps)
    if (onnx_op == o.name) return static_cast<int>(o.op);
  return -1;
}

std::string Program::to_string() const {
  std::string s;
  for (size_t i = 0; i < instrs.size(); ++i) {
    const Instr& in = instrs[i];
    if (!s.empty()) s += "; ";
    s += operand_string(num_inputs + static_cast<int>(i), 0);
    s += " = ";
    s += op_name(static_cast<int>(in.op));
    s += "(";
    s += operand_string(in.a, in.p0);
    if (is_binary(in.op)) s += ", " + operand_string(in.b, in.p0);
    s += ")";
    if (in.op == Op::kClip || in.op == Op::kLeakyRelu || in.op == Op::kHardSigmoid) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " [%g, %g]", static_cast<double>(in.p0),
                    static_cast<double>(in.p1));
      s += buf;
    }
  }
  return s;
}

Expected<Program> decode(const ir::Node& n) {
  auto bad = [&](const std::string& msg) -> Status {
    return invalid_argument(n.describe() + ": " + msg);
  };
  const ir::Attribute* ops = n.attr("opcodes");
  const ir::Attribute* operands = n.attr("operands");
  const ir::Attribute* params = n.attr("params");
  if (!ops || ops->type != ir::AttrType::kInts) return bad("attribute 'opcodes' (ints) is missing");
  if (!operands || operands->type != ir::AttrType::kInts)
    return bad("attribute 'operands' (ints) is missing");
  if (!params || params->type != ir::AttrType::kFloats)
    return bad("attribute 'params' (floats) is missing");
  const size_t count = ops->ints.size();
  if (count == 0 || count > static_cast<size_t>(kMaxInstrs))
    return bad("has " + std::to_string(count) + " instructions (1.." + std::to_string(kMaxInstrs) +
               " allowed)");
  if (operands->ints.size() != 2 * count || params->floats.size() != 2 * count)
    return bad("'operands' and 'params' must hold 2 entries per instruction (" +
               std::to_string(count) + " instructions, " + std::to_string(operands->ints.size()) +
               " operands, " + std::to_string(params->floats.size()) + " params)");
  Program p;
  p.num_inputs = static_cast<int>(n.inputs().size());
  if (p.num_inputs < 1 || p.num_inputs > kMaxInputs)
    return bad("has " + std::to_string(p.num_inputs) + " inputs (1.." + std::to_string(kMaxInputs) +
               " allowed)");
  for (int i = 0; i < p.num_inputs; ++i)
    if (!n.input(static_cast<size_t>(i))) return bad("input " + std::to_string(i) + " is omitted");
  for (size_t i = 0; i < count; ++i) {
    Instr in;
    const int64_t code = ops->ints[i];
    if (code < 0 || code > 1000 || op_name(static_cast<int>(code))[0] == '\0')
      return bad("instruction " + std::to_string(i) + " has unknown opcode " +
                 std::to_string(code));
    in.op = static_cast<Op>(code);
    const int64_t a = operands->ints[2 * i], b = operands->ints[2 * i + 1];
    const int64_t defined = p.num_inputs + static_cast<int64_t>(i);
    auto valid_reg = [&](int64_t r) { return r >= 0 && r < defined; };
    const bool binary = is_binary(in.op);
    if (binary) {
      if (!((valid_reg(a) || a == kConst) && (valid_reg(b) || b == kConst)) ||
          (a == kConst && b == kConst))
        return bad("instruction " + std::to_string(i) + " (" + op_name(static_cast<int>(code)) +
                   ") has bad operands " + std::to_string(a) + ", " + std::to_string(b));
    } else if (!valid_reg(a) || b != kNone) {
      return bad("instruction " + std::to_string(i) + " (" + op_name(static_cast<int>(code)) +
                 ") has bad operands " + std::to_string(a) + ", " + std::to_string(b));
    }
    in.a = static_cast<int>(a);
    in.b = static_cast<int>(b);
    in.p0 = params->floats[2 * i];
    in.p1 = params->floats[2 * i + 1];
    p.instrs.push_back(in);
  }
  return p;
}

std::vector<std::pair<std::string, ir::Attribute>> encode(const Program& p) {
  std::vector<int64_t> ops, operands;
  std::vector<float> params;
  for (const Instr& in : p.instrs) {
    ops.push_back(static_cast<int64_t>(in.op));
    operands.push_back(in.a);
    operands.push_back(in.b);
    params.push_back(in.p0);
    params.push_back(in.p1);
  }
  return {{"opcodes", ints_attr(std::move(ops))},
          {"operands", ints_attr(std::move(operands))},
          {"params", floats_attr(std::move(params))}};
}

Geometry collapse(const std::vector<Shape>& shapes, const Shape& out) {
  Geometry c;
  c.out = out;
  c.strides.resize(shapes.size());
  std::vector<std::vector<int64_t>> full;
  for (const Shape& s : shapes) full.push_back(cpu::broadcast_strides(s, out));
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !c.dims.empty();
    for (size_t o = 0; merge && o < shapes.size(); ++o)
      merge = c.strides[o].back() == full[o][d] * out[d];
    if (merge) {
      c.dims.back() *= out[d];
      for (size_t o = 0; o < shapes.size(); ++o) c.strides[o].back() = full[o][d];
    } else {
      c.dims.push_back(out[d]);
      for (size_t o = 0; o < shapes.size(); ++o) c.strides[o].push_back(full[o][d]);
    }
  }
  for (size_t o = 0; o < shapes.size(); ++o) {
    int64_t expect = 1;
    for (size_t d = c.dims.size(); d-- > 0;) {
      if (c.strides[o][d] != expect) c.dense = false;
      expect *= c.dims[d];
    }
  }
  return c;
}

Expected<Geometry> device_geometry(const ir::Node& n, const std::vector<InputInfo>& in,
                                   int max_rank, const char* device) {
  KILN_ASSIGN_OR_RETURN(Program prog, decode(n));
  if (in.size() != static_cast<size_t>(prog.num_inputs)) return unsupported("input count");
  std::vector<Shape> shapes;
  for (const InputInfo& i : in) {
    if (!i.present || i.desc.dtype != DType::kFloat32)
      return unsupported(std::string("FusedElementwise runs float32 inputs only on ") + device);
    shapes.push_back(i.desc.shape);
  }
  auto out = cpu::broadcast_shapes(shapes);
  if (!out) return out.status();
  if (numel_of(*out) >= INT_MAX) return unsupported("2^31 elements or more");
  Geometry g = collapse(shapes, *out);
  if (g.dims.size() > static_cast<size_t>(max_rank))
    return unsupported("more than " + std::to_string(max_rank) + " dims after collapsing");
  return g;
}

}  // namespace kiln::device::fused
