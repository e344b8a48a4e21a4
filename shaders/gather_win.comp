// Gather along axis 0 of data too large for one binding: the data binding holds only rows
// [lo, hi) of the axis (its element offset points at row lo), output element i (i < n) is
// [index j = i / inner, element i % inner]. Invocations whose index falls outside [lo, hi) write
// nothing (another dispatch covers those rows); an index out of range for the whole axis writes
// zeros when flag zero_bad is set (in exactly one of the dispatches). Index and element types as
// in gather.comp.
#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef HALVES
#extension GL_EXT_shader_16bit_storage : require
#define ELEM uint16_t
#endif
#ifdef BYTES
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#define ELEM uint8_t
#define ZERO uint8_t(0)
#endif
#ifndef ELEM
#define ELEM uint
#endif
#ifndef ZERO
#define ZERO ELEM(0)
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { ELEM x[]; };
#ifdef IDX32
layout(std430, binding = 1) readonly buffer I { int idx[]; };
#else
layout(std430, binding = 1) readonly buffer I { uvec2 idx[]; };
#endif
layout(std430, binding = 2) writeonly buffer Y { ELEM y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint n, axis_len, inner, lo, hi, zero_bad;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    uint in_ = i % pc.inner;
    uint j = i / pc.inner;
#ifdef IDX32
    int v = idx[pc.off[1] + j];
    bool ok = true;
#else
    uvec2 w = idx[pc.off[1] + j];
    int v = int(w.x);
    bool ok = w.y == (v < 0 ? 0xffffffffu : 0u);
#endif
    if (v < 0) v += int(pc.axis_len);
    ok = ok && v >= 0 && uint(v) < pc.axis_len;
    if (!ok) {
      if (pc.zero_bad != 0u) y[pc.off[2] + i] = ZERO;
    } else if (uint(v) >= pc.lo && uint(v) < pc.hi) {
      y[pc.off[2] + i] = x[pc.off[0] + (uint(v) - pc.lo) * pc.inner + in_];
    }
  }
}
