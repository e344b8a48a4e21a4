// LayerNormalization over the trailing `norm` elements of each row: one invocation per row,
// two-pass mean and variance in float; scale and optional bias hold `norm` elements.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { float s[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint rows, norm;
  float eps;
  uint has_bias;
} pc;

void main() {
  for (uint r = gl_GlobalInvocationID.x; r < pc.rows; r += GRID_STRIDE) {
    uint base = pc.off[0] + r * pc.norm;
    float mean = 0.0;
    for (uint i = 0u; i < pc.norm; ++i) mean += x[base + i];
    mean /= float(pc.norm);
    float var = 0.0;
    for (uint i = 0u; i < pc.norm; ++i) {
      float d = x[base + i] - mean;
      var += d * d;
    }
    var /= float(pc.norm);
    float inv = 1.0 / sqrt(var + pc.eps);
    uint yb = pc.off[3] + r * pc.norm;
    for (uint i = 0u; i < pc.norm; ++i) {
      float v = (x[base + i] - mean) * inv * s[pc.off[1] + i];
      if (pc.has_bias != 0u) v += b[pc.off[2] + i];
      y[yb + i] = v;
    }
  }
}
