// LayerNormalization over the trailing `norm` elements of each row: one invocation per row,
// two-pass mean and variance in float. Scale and bias broadcast to X unidirectionally: their
// offsets are sums over the row index split into odims (strides s_o / b_o) and the element index
// split into idims (s_i / b_i), each at most 3 merged dims; flag bit 1 marks the common case
// where both are dense over the normalized shape and the same for every row. -DF16: float16
// storage of X, Scale, B and Y (float statistics).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { FT x[]; };
layout(std430, binding = 1) readonly buffer S { FT s[]; };
layout(std430, binding = 2) readonly buffer B { FT b[]; };
layout(std430, binding = 3) writeonly buffer Y { FT y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint rows, norm;
  float eps;
  uint flags;  // bit 0: has bias; bit 1: simple layout
  uint odims[3];
  uint idims[3];
  uint s_o[3];
  uint s_i[3];
  uint b_o[3];
  uint b_i[3];
} pc;

void main() {
  const bool has_bias = (pc.flags & 1u) != 0u;
  const bool simple = (pc.flags & 2u) != 0u;
  for (uint r = gl_GlobalInvocationID.x; r < pc.rows; r += GRID_STRIDE) {
    uint base = pc.off[0] + r * pc.norm;
    float mean = 0.0;
    for (uint i = 0u; i < pc.norm; ++i) mean += float(x[base + i]);
    mean /= float(pc.norm);
    float var = 0.0;
    for (uint i = 0u; i < pc.norm; ++i) {
      float d = float(x[base + i]) - mean;
      var += d * d;
    }
    var /= float(pc.norm);
    float inv = 1.0 / sqrt(var + pc.eps);
    uint so = pc.off[1], bo = pc.off[2];
    if (!simple) {
      uint t = r;
      for (int d = 2; d >= 0; --d) {
        uint q = t % pc.odims[d];
        t /= pc.odims[d];
        so += q * pc.s_o[d];
        bo += q * pc.b_o[d];
      }
    }
    uint yb = pc.off[3] + r * pc.norm;
    for (uint i = 0u; i < pc.norm; ++i) {
      uint si = i, bi = i;
      if (!simple) {
        si = 0u;
        bi = 0u;
        uint t = i;
        for (int d = 2; d >= 0; --d) {
          uint q = t % pc.idims[d];
          t /= pc.idims[d];
          si += q * pc.s_i[d];
          bi += q * pc.b_i[d];
        }
      }
      float v = (float(x[base + i]) - mean) * inv * float(s[so + si]);
      if (has_bias) v += float(b[bo + bi]);
      y[yb + i] = FT(v);
    }
  }
}
