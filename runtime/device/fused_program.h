// The program of kiln's internal op ai.kiln FusedElementwise (written by the level-99 pass
// graph/passes/elementwise_chain_fusion.cpp, run by the CPU kernel
// runtime/cpu/ops/fused_elementwise.cpp, the OpenCL kernel generated in
// runtime/opencl/ops_fused.cpp and the Vulkan interpreter shader shaders/fused_elementwise.comp).
//
// A FusedElementwise node has 1..kMaxInputs float32 inputs that broadcast together (numpy rules)
// to its one float32 output. Its attributes hold a straight-line program over registers:
//   opcodes  ints    one opcode (Op) per instruction
//   operands ints    two per instruction (a, b): a register, kNone (unary ops' b) or kConst
//                    (the instruction's constant params[2i])
//   params   floats  two per instruction: the constant operand, or the op's parameters
//                    (LeakyRelu alpha; HardSigmoid alpha, beta; Clip lo, hi)
// Registers 0..num_inputs-1 are the inputs (per output element, after broadcasting); instruction
// i writes register num_inputs + i and may read only registers below it. The output is the last
// instruction's register. Each op computes exactly what the CPU reference kernel of the ONNX op
// computes for float32 (same formula, same rounding), see eval_op.
//
// The op exists only inside a kiln Session: `kiln optimize` never writes it (onnxruntime has no
// such op), see PassContext::session_only_ops.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/device/backend.h"

namespace kiln::device::fused {

inline constexpr const char* kDomain = "ai.kiln";
inline constexpr const char* kOpType = "FusedElementwise";
inline constexpr int kMaxInputs = 4;
inline constexpr int kMaxInstrs = 32;
inline constexpr int kNone = -1;
inline constexpr int kConst = -2;

// Opcodes; the numbers are part of the Vulkan shader's interface (fused_elementwise.comp).
enum class Op : int {
  // binary
  kAdd = 0,
  kSub = 1,
  kMul = 2,
  kDiv = 3,
  kPow = 4,
  kMax = 5,
  kMin = 6,
  // unary
  kRelu = 16,
  kSigmoid = 17,
  kTanh = 18,
  kExp = 19,
  kLog = 20,
  kSqrt = 21,
  kNeg = 22,
  kAbs = 23,
  kErf = 24,
  kReciprocal = 25,
  kClip = 26,         // params lo, hi
  kLeakyRelu = 27,    // params alpha
  kHardSigmoid = 28,  // params alpha, beta
  kHardSwish = 29,
};

bool is_binary(Op op);
// The ONNX op name ("Add", "HardSigmoid"); "" for a number that is no Op.
const char* op_name(int code);
// The Op of an ONNX op name, or -1.
int op_code(const std::string& onnx_op);

struct Instr {
  Op op = Op::kAdd;
  int a = kNone, b = kNone;  // registers, kNone or kConst
  float p0 = 0, p1 = 0;
};

struct Program {
  int num_inputs = 0;
  std::vector<Instr> instrs;
  int num_registers() const { return num_inputs + static_cast<int>(instrs.size()); }
  // "r1 = Add(r0, 3); r2 = Clip(r1) [0, 6]; ..." for logs and errors.
  std::string to_string() const;
};

// Reads and checks the program of a FusedElementwise node (attribute sizes, opcodes, operand
// registers defined before use, arities, input count); the error names the node.
Expected<Program> decode(const ir::Node& n);
// The attributes (opcodes, operands, params) that encode `p`.
std::vector<std::pair<std::string, ir::Attribute>> encode(const Program& p);

// One instruction on float32 values, exactly as the CPU reference kernels compute the ONNX op
// (runtime/cpu/ops/elementwise_*.cpp): Pow in double rounded once; Max/Min propagate NaN; Erf is
// std::erf here (the CPU kernel uses vec_erf where the unfused Erf does).
inline float eval_op(Op op, float a, float b, float p0, float p1) {
  switch (op) {
    case Op::kAdd:
      return a + b;
    case Op::kSub:
      return a - b;
    case Op::kMul:
      return a * b;
    case Op::kDiv:
      return a / b;
    case Op::kPow:
      return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    case Op::kMax:
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
      return a < b ? b : a;
    case Op::kMin:
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
      return b < a ? b : a;
    case Op::kRelu:
      return a < 0.0f ? 0.0f : a;
    case Op::kSigmoid: {
      if (a >= 0) return 1.0f / (1.0f + std::exp(-a));
      const float e = std::exp(a);
      return e / (1.0f + e);
    }
    case Op::kTanh:
      return std::tanh(a);
    case Op::kExp:
      return std::exp(a);
    case Op::kLog:
      return std::log(a);
    case Op::kSqrt:
      return std::sqrt(a);
    case Op::kNeg:
      return -a;
    case Op::kAbs:
      return std::fabs(a);
    case Op::kErf:
      return std::erf(a);
    case Op::kReciprocal:
      return 1.0f / a;
    case Op::kClip: {
      float y = a;
      if (y < p0) y = p0;
      if (p1 < y) y = p1;
      return y;
    }
    case Op::kLeakyRelu:
      return a < 0.0f ? p0 * a : a;
    case Op::kHardSigmoid:
      return std::max(0.0f, std::min(1.0f, p0 * a + p1));
    case Op::kHardSwish:
      return a * std::max(0.0f, std::min(1.0f, a / 6.0f + 0.5f));
  }
  return a;
}

// The device kernels' launch geometry: the broadcast output shape, its dims with extent-1 dims
// dropped and neighbours merged where every input walks them alike, and per input the strides
// over those dims (dense: every input walks the output contiguously).
struct Geometry {
  Shape out;
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;
  bool dense = true;
};
Geometry collapse(const std::vector<Shape>& shapes, const Shape& out);

// What the OpenCL and Vulkan kernels both require of a FusedElementwise node: a valid program,
// one present float32 input per program input, a broadcastable output of fewer than 2^31
// elements, at most max_rank dims after collapsing. The geometry, or the reason (for
// Support::no, naming `device`).
Expected<Geometry> device_geometry(const ir::Node& n, const std::vector<InputInfo>& in,
                                   int max_rank, const char* device);

}  // namespace kiln::device::fused
