// Broadcast elementwise ops on float operands (rank <= 6, per-operand element strides, 0 on
// broadcast dims). Variants: default = arithmetic (float out, op codes as in
// runtime/vulkan/ops_elementwise.cpp); -DCOMPARE = comparisons (bool out);
// -DWHERE = Where(cond, a, b) with a bool condition at binding 0. `dense`: 1 all operands dense
// (offset = output index), 2/3 (not Where) operand 0/1 dense and the other a repeated trailing row
// of dims[0] elements, 0 the general strided path. -DF16: float16 storage of the
// float operands and outputs (fp16.glsl), float arithmetic.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#if defined(COMPARE) || defined(WHERE)
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;

#ifdef WHERE
layout(std430, binding = 0) readonly buffer C { uint8_t c[]; };
layout(std430, binding = 1) readonly buffer A { FT a[]; };
layout(std430, binding = 2) readonly buffer B { FT b[]; };
layout(std430, binding = 3) writeonly buffer Y { FT y[]; };
#define NOPS 3
#else
layout(std430, binding = 0) readonly buffer A { FT a[]; };
layout(std430, binding = 1) readonly buffer B { FT b[]; };
#ifdef COMPARE
layout(std430, binding = 2) writeonly buffer Y { uint8_t y[]; };
#else
layout(std430, binding = 2) writeonly buffer Y { FT y[]; };
#endif
#define NOPS 2
#endif

layout(push_constant) uniform PC {
  uint off[4];
  uint op;
  uint n;
  uint rank;
  uint dense;
  uint dims[6];
  uint st[NOPS * 6];  // operand k's stride for dim d at st[k * 6 + d]
} pc;
// Plan-time values (0: read the push constant): constant id 2 is op + 1, so the driver
// compiles only the op's case; id 3 is dense + 1 (the addressing mode).
layout(constant_id = 2) const uint SPEC_OP1 = 0u;
#define P_OP (SPEC_OP1 != 0u ? SPEC_OP1 - 1u : pc.op)
layout(constant_id = 3) const uint SPEC_DENSE1 = 0u;
#define P_DENSE (SPEC_DENSE1 != 0u ? SPEC_DENSE1 - 1u : pc.dense)

float binary_op(uint op, float u, float v) {
  switch (op) {
    case 0: return u + v;
    case 1: return u - v;
    case 2: return u * v;
    case 3: return u / v;
    case 4: return kiln_pow(u, v);
    case 5: return (isnan(u) || isnan(v)) ? u + v : min(u, v);
    case 6: return (isnan(u) || isnan(v)) ? u + v : max(u, v);
    case 7: return u < 0.0 ? u * v : u;  // PRelu
  }
  return u;
}

bool compare_op(uint op, float u, float v) {
  switch (op) {
    case 0: return u == v;
    case 1: return u < v;
    case 2: return u <= v;
    case 3: return u > v;
    case 4: return u >= v;
  }
  return false;
}

// One output element from operand element offsets (relative to each operand's origin).
#ifdef WHERE
void item(uint i, uint o0, uint o1, uint o2) {
  bool cond = uint(c[pc.off[0] + o0]) != 0u;
  y[pc.off[3] + i] = cond ? a[pc.off[1] + o1] : b[pc.off[2] + o2];
}
#else
void item(uint i, uint o0, uint o1) {
#ifdef COMPARE
  y[pc.off[2] + i] =
      uint8_t(compare_op(P_OP, float(a[pc.off[0] + o0]), float(b[pc.off[1] + o1])) ? 1 : 0);
#else
  y[pc.off[2] + i] = FT(binary_op(P_OP, float(a[pc.off[0] + o0]), float(b[pc.off[1] + o1])));
#endif
}
#endif

void main() {
  // Dense operands: a plain loop without the per-operand offset array (llvmpipe keeps a
  // dynamically indexed array in per-lane scratch memory, which made this path ~30x slower).
  if (P_DENSE == 1u) {
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
#ifdef WHERE
      item(i, i, i, i);
#else
      item(i, i, i);
#endif
    }
    return;
  }
#ifndef WHERE
  // dense 2 / 3: operand 0 / 1 is dense and the other repeats a trailing row of dims[0]
  // elements (1: a scalar), as bias adds and scalings broadcast.
  if (P_DENSE >= 2u) {
    const uint inner = pc.dims[0];
    const bool row_b = P_DENSE == 2u;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
      const uint j = inner == 1u ? 0u : i % inner;
      item(i, row_b ? i : j, row_b ? j : i);
    }
    return;
  }
#endif
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    uint o[NOPS];
    for (int k = 0; k < NOPS; ++k) o[k] = i;
    if (P_DENSE == 0u) {
      for (int k = 0; k < NOPS; ++k) o[k] = 0u;
      uint r = i;
      for (int d = int(pc.rank) - 1; d >= 0; --d) {
        uint q = r % pc.dims[d];
        r /= pc.dims[d];
        for (int k = 0; k < NOPS; ++k) o[k] += q * pc.st[k * 6 + d];
      }
    }
#ifdef WHERE
    bool cond = uint(c[pc.off[0] + o[0]]) != 0u;
    y[pc.off[3] + i] = cond ? a[pc.off[1] + o[1]] : b[pc.off[2] + o[2]];
#elif defined(COMPARE)
    y[pc.off[2] + i] =
        uint8_t(compare_op(P_OP, float(a[pc.off[0] + o[0]]), float(b[pc.off[1] + o[1]])) ? 1 : 0);
#else
    y[pc.off[2] + i] = FT(binary_op(P_OP, float(a[pc.off[0] + o[0]]), float(b[pc.off[1] + o[1]])));
#endif
  }
}
