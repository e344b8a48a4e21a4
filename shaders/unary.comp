// Elementwise unary float ops, selected by op code (codes match runtime/vulkan/ops_elementwise.cpp).
// -DF16: float16 storage (fp16.glsl); -DBOOL_OUT: the tests IsNaN (27) and IsInf (28; alpha and
// beta are detect_negative and detect_positive) with a bool (uint8) output.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#ifdef BOOL_OUT
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { FT x[]; };
#ifdef BOOL_OUT
layout(std430, binding = 1) writeonly buffer Y { uint8_t y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { FT y[]; };
#endif
layout(push_constant) uniform PC {
  uint off[4];
  uint op;
  uint n;
  float alpha;
  float beta;
} pc;
// Plan-time values (0: read the push constant): constant id 2 is op + 1, so the driver
// compiles only the op's case.
layout(constant_id = 2) const uint SPEC_OP1 = 0u;
#define P_OP (SPEC_OP1 != 0u ? SPEC_OP1 - 1u : pc.op)

float apply(uint op, float v, float alpha, float beta) {
  switch (op) {
    case 0: return v;
    case 1: return v < 0.0 ? 0.0 : v;  // Relu (NaN stays NaN)
    case 2: return v >= 0.0 ? v : alpha * v;  // LeakyRelu
    case 3: return v >= 0.0 ? v : alpha * (exp(v) - 1.0);  // Elu
    case 4: return v >= 0.0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));  // Sigmoid
    case 5: return kiln_tanh(v);
    case 6: return exp(v);
    case 7: return log(v);
    case 8: return sqrt(v);
    case 9: return kiln_erf(v);
    case 10: return 0.5 * v * (1.0 + kiln_erf(v * 0.70710678118654752));  // Gelu
    case 11: return 0.5 * v * (1.0 + kiln_tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    case 12: return -v;
    case 13: return abs(v);
    case 14: return 1.0 / v;
    case 15: return floor(v);
    case 16: return ceil(v);
    case 17: return isnan(v) ? v : min(max(v, alpha), beta);  // Clip
    case 18: return max(0.0, min(1.0, alpha * v + beta));     // HardSigmoid
    case 19: return v > 20.0 ? v : log(1.0 + exp(v));         // Softplus
    case 20: return sin(v);
    case 21: return cos(v);
    case 22: return roundEven(v);
    case 23: return v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : v);  // Sign
    case 24: return v * max(0.0, min(1.0, v / 6.0 + 0.5));  // HardSwish
    case 25: return v > 0.0 ? beta * v : beta * (alpha * exp(v) - alpha);  // Selu
    case 26: return v / (1.0 + abs(v));  // Softsign
  }
  return v;
}

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    float v = float(x[pc.off[0] + i]);
#ifdef BOOL_OUT
    bool t = P_OP == 27u ? isnan(v)
                          : isinf(v) && ((v > 0.0 && pc.beta != 0.0) || (v < 0.0 && pc.alpha != 0.0));
    y[pc.off[1] + i] = uint8_t(t ? 1 : 0);
#else
    y[pc.off[1] + i] = FT(apply(P_OP, v, pc.alpha, pc.beta));
#endif
  }
}
