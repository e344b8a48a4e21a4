// Row normalisations of the com.microsoft contrib ops (runtime/vulkan/ops_contrib.cpp):
// SkipLayerNormalization, SkipSimplifiedLayerNormalization and SimplifiedLayerNormalization. One
// invocation per row: v = x + skip (row r % skip_rows) + bias, then (v - mean) / sqrt(var + eps) *
// gamma + beta, or with F_SIMPLIFIED v / sqrt(mean(v^2) + eps) * gamma; two passes in float.
// Optional outputs: mean, 1 / std per row, and the sum v. Absent inputs / outputs are bound to a
// dummy buffer and not touched.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define F_SKIP 1u
#define F_BETA 2u
#define F_BIAS 4u
#define F_SIMPLIFIED 8u
#define F_MEAN 16u
#define F_INV 32u
#define F_SUM 64u

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Skip { float skip[]; };
layout(std430, binding = 2) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 3) readonly buffer Beta { float beta[]; };
layout(std430, binding = 4) readonly buffer Bias { float bias[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(std430, binding = 6) writeonly buffer Mean { float mean_out[]; };
layout(std430, binding = 7) writeonly buffer Inv { float inv_out[]; };
layout(std430, binding = 8) writeonly buffer Sum { float sum_out[]; };
layout(push_constant) uniform PC {
  uint off[9];
  uint rows, h, skip_rows;
  float eps;
  uint flags;
} pc;

float value(uint xr, uint sr, uint i) {
  float v = x[xr + i];
  if ((pc.flags & F_SKIP) != 0u) v += skip[sr + i];
  if ((pc.flags & F_BIAS) != 0u) v += bias[pc.off[4] + i];
  return v;
}

void main() {
  for (uint r = gl_GlobalInvocationID.x; r < pc.rows; r += GRID_STRIDE) {
    const uint xr = pc.off[0] + r * pc.h;
    const uint sr = pc.off[1] + (r % pc.skip_rows) * pc.h;
    float sum = 0.0;
    for (uint i = 0u; i < pc.h; ++i) {
      float v = value(xr, sr, i);
      if ((pc.flags & F_SUM) != 0u) sum_out[pc.off[8] + r * pc.h + i] = v;
      sum += v;
    }
    const float mean = (pc.flags & F_SIMPLIFIED) != 0u ? 0.0 : sum / float(pc.h);
    float sq = 0.0;
    for (uint i = 0u; i < pc.h; ++i) {
      float d = value(xr, sr, i) - mean;
      sq += d * d;
    }
    const float inv = 1.0 / sqrt(sq / float(pc.h) + pc.eps);
    const uint yr = pc.off[5] + r * pc.h;
    for (uint i = 0u; i < pc.h; ++i) {
      float o = (value(xr, sr, i) - mean) * inv * gamma[pc.off[2] + i];
      if ((pc.flags & F_BETA) != 0u) o += beta[pc.off[3] + i];
      y[yr + i] = o;
    }
    if ((pc.flags & F_MEAN) != 0u) mean_out[pc.off[6] + r] = mean;
    if ((pc.flags & F_INV) != 0u) inv_out[pc.off[7] + r] = inv;
  }
}
