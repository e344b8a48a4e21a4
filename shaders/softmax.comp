// Softmax / LogSoftmax over one axis: rows of `len` elements `inner` apart; one invocation per
// row (outer * inner rows). Max-subtracted, float accumulation. -DF16: float16 storage.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#include "common.glsl"

layout(local_size_x_id = 0) in;
// Plan-time values (constant ids 2..4; 0: read the push constant): len, inner, and
// log_softmax + 1.
layout(constant_id = 2) const uint SPEC_LEN = 0u;
layout(constant_id = 3) const uint SPEC_INNER = 0u;
layout(constant_id = 4) const uint SPEC_LOG1 = 0u;
#define P_LEN (SPEC_LEN != 0u ? SPEC_LEN : pc.len)
#define P_INNER (SPEC_INNER != 0u ? SPEC_INNER : pc.inner)
#define P_LOG (SPEC_LOG1 != 0u ? SPEC_LOG1 - 1u : pc.log_softmax)
layout(std430, binding = 0) readonly buffer X { FT x[]; };
layout(std430, binding = 1) writeonly buffer Y { FT y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint rows, len, inner;
  uint log_softmax;
} pc;

void main() {
  for (uint r = gl_GlobalInvocationID.x; r < pc.rows; r += GRID_STRIDE) {
    uint o = r / P_INNER, in_ = r % P_INNER;
    uint base = o * P_LEN * P_INNER + in_;
    float m = -1.0 / 0.0;
    for (uint i = 0u; i < P_LEN; ++i) m = max(m, float(x[pc.off[0] + base + i * P_INNER]));
    float s = 0.0;
    for (uint i = 0u; i < P_LEN; ++i) s += exp(float(x[pc.off[0] + base + i * P_INNER]) - m);
    if (P_LOG != 0u) {
      float ls = log(s);
      for (uint i = 0u; i < P_LEN; ++i)
        y[pc.off[1] + base + i * P_INNER] = FT(float(x[pc.off[0] + base + i * P_INNER]) - m - ls);
    } else {
      float inv = 1.0 / s;
      for (uint i = 0u; i < P_LEN; ++i)
        y[pc.off[1] + base + i * P_INNER] =
            FT(exp(float(x[pc.off[0] + base + i * P_INNER]) - m) * inv);
    }
  }
}
