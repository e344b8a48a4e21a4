// Present key / value buffers for fused attention (runtime/vulkan/ops_attention.cpp):
// dst [B, N, T, h] (at dst_base) gets the past [B, N, P, h] (at past_base) in rows t < P and the
// new keys / values after it, read through strides (element (b, n, i, j) at
// src_base + b * sb + n * sn + i * st + j) plus bias[bias_base + n * h + j] when flag bit 1 is
// set. Flag bit 0: a past is bound.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Past { float past[]; };
layout(std430, binding = 1) readonly buffer Src { float src[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint B, N, T, P, h;
  uint past_base, src_base, sb, sn, st, bias_base, dst_base;
  uint flags;
} pc;

void main() {
  const uint total = pc.B * pc.N * pc.T * pc.h;
  for (uint e = gl_GlobalInvocationID.x; e < total; e += GRID_STRIDE) {
    const uint j = e % pc.h;
    const uint t = (e / pc.h) % pc.T;
    const uint bn = e / (pc.h * pc.T);
    const uint b = bn / pc.N, n = bn % pc.N;
    float val;
    if (t < pc.P) {
      val = past[pc.off[0] + pc.past_base + (bn * pc.P + t) * pc.h + j];
    } else {
      val = src[pc.off[1] + pc.src_base + b * pc.sb + n * pc.sn + (t - pc.P) * pc.st + j];
      if ((pc.flags & 2u) != 0u) val += bias[pc.off[2] + pc.bias_base + n * pc.h + j];
    }
    dst[pc.off[3] + pc.dst_base + e] = val;
  }
}
