// ai.kiln FusedElementwise (runtime/device/fused_program.h): an interpreter of the fused
// program, since shaders are compiled at build time. Binding 0 holds the program and the shapes,
// written once per shape at prepare (runtime/vulkan/ops_fused.cpp):
//   [0] instructions  [1] inputs  [2] rank  [3] dense (1: every input walks the output)
//   [4..11] collapsed output dims  [12 + 8k ..] input k's strides over them
//   [44 + 5j ..] instruction j: opcode, a, b, float bits of p0, p1
// Bindings 1..4 are the inputs (unused ones repeat input 0), binding 5 the output. Registers are
// a local array: inputs first, then one per instruction. Where the backend specializes
// (VkContext::specialize), the program also comes as specialization constants (id 2: the
// instruction count, 3: the input count, 4 + 5j..: instruction j's words), so the driver compiles
// straight-line code for it (constant register indices, the op's case only); a zero count keeps
// the interpreter loop over binding 0. Each op is spelled as unary.comp and
// binary.comp spell the unfused one, except Clip, Max and Min, which follow the CPU reference's
// NaN and lo > hi rules.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer P { uint prog[]; };
layout(std430, binding = 1) readonly buffer X0 { float x0[]; };
layout(std430, binding = 2) readonly buffer X1 { float x1[]; };
layout(std430, binding = 3) readonly buffer X2 { float x2[]; };
layout(std430, binding = 4) readonly buffer X3 { float x3[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
  uint off[6];
  uint n;
} pc;

#define MAX_REGS 36
#define INSTR_BASE 44
#define CONST_OPERAND 0xFFFFFFFEu


// Specialization constants (see the file comment); S_NINSTR 0: interpret binding 0.
layout(constant_id = 2) const uint S_NINSTR = 0u;
layout(constant_id = 3) const uint S_NIN = 1u;
#define SLOT_CONSTS(J) \
  layout(constant_id = 4 + 5 * J) const uint S_OP_##J = 0u; \
  layout(constant_id = 5 + 5 * J) const uint S_A_##J = 0u; \
  layout(constant_id = 6 + 5 * J) const uint S_B_##J = 0u; \
  layout(constant_id = 7 + 5 * J) const float S_P0_##J = 0.0; \
  layout(constant_id = 8 + 5 * J) const float S_P1_##J = 0.0;
SLOT_CONSTS(0)
SLOT_CONSTS(1)
SLOT_CONSTS(2)
SLOT_CONSTS(3)
SLOT_CONSTS(4)
SLOT_CONSTS(5)
SLOT_CONSTS(6)
SLOT_CONSTS(7)
SLOT_CONSTS(8)
SLOT_CONSTS(9)
SLOT_CONSTS(10)
SLOT_CONSTS(11)
SLOT_CONSTS(12)
SLOT_CONSTS(13)
SLOT_CONSTS(14)
SLOT_CONSTS(15)
SLOT_CONSTS(16)
SLOT_CONSTS(17)
SLOT_CONSTS(18)
SLOT_CONSTS(19)
SLOT_CONSTS(20)
SLOT_CONSTS(21)
SLOT_CONSTS(22)
SLOT_CONSTS(23)
SLOT_CONSTS(24)
SLOT_CONSTS(25)
SLOT_CONSTS(26)
SLOT_CONSTS(27)
SLOT_CONSTS(28)
SLOT_CONSTS(29)
SLOT_CONSTS(30)
SLOT_CONSTS(31)

// Instruction J of a specialized program (nothing when J is past its end).
#define RUN_SLOT(J) \
  if (J < S_NINSTR) { \
    const float va = S_A_##J == CONST_OPERAND ? S_P0_##J : r[min(S_A_##J, uint(MAX_REGS - 1))]; \
    const float vb = S_B_##J == CONST_OPERAND ? S_P0_##J : r[min(S_B_##J, uint(MAX_REGS - 1))]; \
    r[min(S_NIN + J, uint(MAX_REGS - 1))] = apply(S_OP_##J, va, vb, S_P0_##J, S_P1_##J); \
  }

float load_input(uint k, uint e) {
  switch (k) {
    case 0: return x0[pc.off[1] + e];
    case 1: return x1[pc.off[2] + e];
    case 2: return x2[pc.off[3] + e];
  }
  return x3[pc.off[4] + e];
}

float apply(uint op, float a, float b, float p0, float p1) {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return kiln_pow(a, b);
    case 5: return isnan(a) ? a : (isnan(b) ? b : (a < b ? b : a));  // Max
    case 6: return isnan(a) ? a : (isnan(b) ? b : (b < a ? b : a));  // Min
    case 16: return a < 0.0 ? 0.0 : a;                               // Relu
    case 17: return a >= 0.0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a));  // Sigmoid
    case 18: return kiln_tanh(a);
    case 19: return exp(a);
    case 20: return log(a);
    case 21: return sqrt(a);
    case 22: return -a;
    case 23: return abs(a);
    case 24: return kiln_erf(a);
    case 25: return 1.0 / a;
    case 26: {  // Clip
      float v = a;
      if (v < p0) v = p0;
      if (p1 < v) v = p1;
      return v;
    }
    case 27: return a >= 0.0 ? a : p0 * a;                      // LeakyRelu
    case 28: return max(0.0, min(1.0, p0 * a + p1));            // HardSigmoid
    case 29: return a * max(0.0, min(1.0, a / 6.0 + 0.5));      // HardSwish
  }
  return a;
}

void main() {
  const uint base = pc.off[0];
  const bool spec = S_NINSTR != 0u;
  const uint ninstr = spec ? S_NINSTR : prog[base + 0u];
  const uint nin = spec ? S_NIN : prog[base + 1u];
  const uint rank = prog[base + 2u];
  const bool dense = prog[base + 3u] != 0u;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    float r[MAX_REGS];
    for (uint k = 0u; k < nin; ++k) {
      uint e = i;
      if (!dense) {
        uint rem = i;
        e = 0u;
        for (uint d = rank; d > 0u; --d) {
          const uint dim = prog[base + 3u + d];
          e += (rem % dim) * prog[base + 11u + 8u * k + d];
          rem /= dim;
        }
      }
      r[k] = load_input(k, e);
    }
    if (spec) {
      RUN_SLOT(0)
      RUN_SLOT(1)
      RUN_SLOT(2)
      RUN_SLOT(3)
      RUN_SLOT(4)
      RUN_SLOT(5)
      RUN_SLOT(6)
      RUN_SLOT(7)
      RUN_SLOT(8)
      RUN_SLOT(9)
      RUN_SLOT(10)
      RUN_SLOT(11)
      RUN_SLOT(12)
      RUN_SLOT(13)
      RUN_SLOT(14)
      RUN_SLOT(15)
      RUN_SLOT(16)
      RUN_SLOT(17)
      RUN_SLOT(18)
      RUN_SLOT(19)
      RUN_SLOT(20)
      RUN_SLOT(21)
      RUN_SLOT(22)
      RUN_SLOT(23)
      RUN_SLOT(24)
      RUN_SLOT(25)
      RUN_SLOT(26)
      RUN_SLOT(27)
      RUN_SLOT(28)
      RUN_SLOT(29)
      RUN_SLOT(30)
      RUN_SLOT(31)
    } else {
      for (uint j = 0u; j < ninstr; ++j) {
        const uint w = base + INSTR_BASE + 5u * j;
        const uint a = prog[w + 1u], b = prog[w + 2u];
        const float p0 = uintBitsToFloat(prog[w + 3u]);
        const float p1 = uintBitsToFloat(prog[w + 4u]);
        const float va = a == CONST_OPERAND ? p0 : r[min(a, uint(MAX_REGS - 1))];
        const float vb = b == CONST_OPERAND ? p0 : (b < uint(MAX_REGS) ? r[b] : 0.0);
        r[nin + j] = apply(prog[w], va, vb, p0, p1);
      }
    }
    y[pc.off[5] + i] = r[nin + ninstr - 1u];
  }
}
