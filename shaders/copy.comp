// Strided copy of raw elements (Transpose, Expand, Slice, Concat, Split...):
// dst[dst_base + sum q_d * dst_st[d]] = src[src_base + sum q_d * src_st[d]] over every index q of
// dims (rank <= 6). Element type by variant: -DELEM=uint (4 bytes), uvec2 (8), -DHALVES
// (uint16_t, 2), -DBYTES (uint8_t, 1).
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
#endif
#ifndef ELEM
#define ELEM uint
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, binding = 1) writeonly buffer Y { ELEM y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint n, rank, src_base, dst_base;
  uint dims[6];
  uint sst[6];
  uint dst[6];
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    uint s = pc.off[0] + pc.src_base, t = pc.off[1] + pc.dst_base, r = i;
    for (int d = int(pc.rank) - 1; d >= 0; --d) {
      uint q = r % pc.dims[d];
      r /= pc.dims[d];
      s += q * pc.sst[d];
      t += q * pc.dst[d];
    }
    y[t] = x[s];
  }
}
