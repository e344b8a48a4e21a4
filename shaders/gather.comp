// Gather along one axis: data seen as [outer, axis_len, inner], indices (int64 as uvec2 pairs,
// or int32 with -DIDX32) flattened to nidx; output [outer, nidx, inner]. Negative indices count
// from the end; an index still out of range writes zeros instead of reading out of bounds.
// Element type by variant as in copy.comp.
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
  uint n, axis_len, nidx, inner;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    uint in_ = i % pc.inner;
    uint t = i / pc.inner;
    uint j = t % pc.nidx;
    uint o = t / pc.nidx;
#ifdef IDX32
    int v = idx[pc.off[1] + j];
    bool ok = true;
#else
    uvec2 w = idx[pc.off[1] + j];
    int v = int(w.x);
    // The high word must be the sign extension of the low word, else |index| >= 2^31.
    bool ok = w.y == (v < 0 ? 0xffffffffu : 0u);
#endif
    if (v < 0) v += int(pc.axis_len);
    ok = ok && v >= 0 && uint(v) < pc.axis_len;
    y[pc.off[2] + i] = ok ? x[pc.off[0] + (o * pc.axis_len + uint(v)) * pc.inner + in_] : ZERO;
  }
}
