// OpCases for ai.kiln FusedElementwise (runtime/device/fused_program.h): the programs the
// level-99 elementwise_chain_fusion pass writes (hard-swish, activation chains, broadcasting
// trees of up to four inputs, immediates on either side), on odd sizes (1, 13, 127). Devices are
// held to the elementwise ops' float32 tolerance (1e-5 absolute and relative): they spell each op
// as their unfused kernels do, and the CPU runs the reference formulas.
#include <initializer_list>
#include <string>

#include "runtime/device/fused_program.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

namespace fz = device::fused;

// Concatenation by appends (GCC 12 warns falsely on "literal" + std::string temporaries).
std::string cat(std::initializer_list<std::string> parts) {
  std::string s;
  for (const std::string& p : parts) s += p;
  return s;
}

OpCase fused_case(const std::string& name, const fz::Program& p, std::vector<InputSpec> ins) {
  OpCase c;
  c.name = cat({"FusedElementwise/", name});
  c.op = fz::kOpType;
  c.domain = fz::kDomain;
  c.opset = 1;
  for (auto& [k, a] : fz::encode(p)) c.attrs[k] = a;
  c.inputs = std::move(ins);
  return c;
}

fz::Instr un(fz::Op op, int a, float p0 = 0, float p1 = 0) {
  return {op, a, fz::kNone, p0, p1};
}
fz::Instr bin(fz::Op op, int a, int b, float imm = 0) {
  return {op, a, b, imm, 0};
}

}  // namespace

std::vector<OpCase> fused_cases() {
  std::vector<OpCase> v;
  using O = fz::Op;
  const int C = fz::kConst;
  // x + 3 -> Clip(0, 6) -> / 6 -> x * . (MobileNetV3's hard-swish).
  fz::Program hs{1,
                 {bin(O::kAdd, 0, C, 3.f), un(O::kClip, 1, 0.f, 6.f), bin(O::kDiv, 2, C, 6.f),
                  bin(O::kMul, 0, 3)}};
  for (Shape s : std::vector<Shape>{{1}, {13}, {2, 127}, {1, 3, 13, 13}}) {
    std::string n = "hard_swish_";
    for (int64_t d : s) n += std::to_string(d) + "x";
    n.pop_back();
    v.push_back(fused_case(n, hs, {in_f32(s, -5, 5)}));
  }
  // Every unary op after |x| + 0.25 (positive for Log, Sqrt, Reciprocal), then Neg.
  struct U {
    O op;
    float p0, p1;
  };
  for (const U& u : std::vector<U>{{O::kRelu, 0, 0},
                                   {O::kSigmoid, 0, 0},
                                   {O::kTanh, 0, 0},
                                   {O::kExp, 0, 0},
                                   {O::kLog, 0, 0},
                                   {O::kSqrt, 0, 0},
                                   {O::kAbs, 0, 0},
                                   {O::kErf, 0, 0},
                                   {O::kReciprocal, 0, 0},
                                   {O::kClip, 0.5f, 1.5f},
                                   {O::kLeakyRelu, 0.3f, 0},
                                   {O::kHardSigmoid, 0.25f, -0.4f},
                                   {O::kHardSwish, 0, 0}}) {
    fz::Program p{1,
                  {un(O::kAbs, 0), bin(O::kAdd, 1, C, 0.25f), un(u.op, 2, u.p0, u.p1),
                   un(O::kNeg, 3)}};
    for (int64_t n : {1, 13, 127})
      v.push_back(fused_case(cat({fz::op_name(static_cast<int>(u.op)), "_chain_", std::to_string(n)}), p, {in_f32({n}, -3, 3)}));
  }
  // Every binary op with a broadcast second input, and with an immediate on each side.
  for (O op : {O::kAdd, O::kSub, O::kMul, O::kDiv, O::kPow, O::kMax, O::kMin}) {
    const std::string name = fz::op_name(static_cast<int>(op));
    fz::Program p{2, {un(O::kAbs, 0), bin(O::kAdd, 2, C, 0.25f), bin(op, 3, 1), un(O::kNeg, 4)}};
    for (int64_t n : {1, 13, 127})
      v.push_back(fused_case(cat({name, "_bcast_3x", std::to_string(n)}), p,
                             {in_f32({3, n}, -2, 2), in_f32({n}, 0.5, 2)}));
    fz::Program left{1, {un(O::kAbs, 0), bin(O::kAdd, 1, C, 0.25f), bin(op, C, 2, 1.5f)}};
    fz::Program right{1, {un(O::kAbs, 0), bin(O::kAdd, 1, C, 0.25f), bin(op, 2, C, 1.5f)}};
    v.push_back(fused_case(name + "_imm_left_13", left, {in_f32({13}, -2, 2)}));
    v.push_back(fused_case(name + "_imm_right_13", right, {in_f32({13}, -2, 2)}));
  }
  // Sigmoid(x + bias) * Tanh(y) - 0.5 with x [2, c, w], bias [c, 1] (a constant), y [w].
  fz::Program tree{3,
                   {bin(O::kAdd, 0, 1), un(O::kSigmoid, 3), un(O::kTanh, 2), bin(O::kMul, 4, 5),
                    bin(O::kSub, 6, C, 0.5f)}};
  for (int64_t c : {1, 13})
    for (int64_t w : {1, 13, 127})
      v.push_back(fused_case(cat({"tree_2x", std::to_string(c), "x", std::to_string(w)}), tree,
                             {in_f32({2, c, w}, -3, 3), const_f32({c, 1}), in_f32({w}, -2, 2)}));
  // Four inputs broadcasting on different axes: Max(Min(a, b), c) / (d + 2).
  fz::Program four{4,
                   {bin(O::kMin, 0, 1), bin(O::kMax, 4, 2), bin(O::kAdd, 3, C, 2.f),
                    bin(O::kDiv, 5, 6)}};
  for (int64_t n : {1, 13, 127})
    v.push_back(fused_case(cat({"four_inputs_", std::to_string(n)}), four,
                           {in_f32({1, 13, 1}), in_f32({3, 1, n}), in_f32({n}), in_f32({1})}));
  return v;
}

}  // namespace kiln::testing
