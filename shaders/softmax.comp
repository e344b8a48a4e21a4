// Softmax / LogSoftmax over one axis: rows of `len` elements `inner` apart; one invocation per
// row (outer * inner rows). Max-subtracted, float accumulation. -DF16: float16 storage.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { FT x[]; };
layout(std430, binding = 1) writeonly buffer Y { FT y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint rows, len, inner;
  uint log_softmax;
} pc;

void main() {
  for (uint r = gl_GlobalInvocationID.x; r < pc.rows; r += GRID_STRIDE) {
    uint o = r / pc.inner, in_ = r % pc.inner;
    uint base = o * pc.len * pc.inner + in_;
    float m = -1.0 / 0.0;
    for (uint i = 0u; i < pc.len; ++i) m = max(m, float(x[pc.off[0] + base + i * pc.inner]));
    float s = 0.0;
    for (uint i = 0u; i < pc.len; ++i) s += exp(float(x[pc.off[0] + base + i * pc.inner]) - m);
    if (pc.log_softmax != 0u) {
      float ls = log(s);
      for (uint i = 0u; i < pc.len; ++i)
        y[pc.off[1] + base + i * pc.inner] = FT(float(x[pc.off[0] + base + i * pc.inner]) - m - ls);
    } else {
      float inv = 1.0 / s;
      for (uint i = 0u; i < pc.len; ++i)
        y[pc.off[1] + base + i * pc.inner] =
            FT(exp(float(x[pc.off[0] + base + i * pc.inner]) - m) * inv);
    }
  }
}
