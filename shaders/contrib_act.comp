// com.microsoft elementwise contrib ops (runtime/vulkan/ops_contrib.cpp): y = f(x [+ bias over the
// last dim] [+ skip]) for Gelu, BiasGelu, FastGelu, QuickGelu and BiasAdd. Op codes match
// ops_contrib.cpp; absent bias / skip are bound to a dummy buffer and not read.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Bias { float bias[]; };
layout(std430, binding = 2) readonly buffer Skip { float skip[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint op;  // 0 identity, 1 Gelu (erf), 2 Gelu (tanh approximation), 3 QuickGelu
  uint n;
  uint c;      // bias length (X's last dim)
  uint flags;  // bit 0: bias, bit 1: skip
  float alpha;
} pc;

void main() {
  const bool has_bias = (pc.flags & 1u) != 0u, has_skip = (pc.flags & 2u) != 0u;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    float v = x[pc.off[0] + i];
    if (has_bias) v += bias[pc.off[1] + i % pc.c];
    if (has_skip) v += skip[pc.off[2] + i];
    float r = v;
    if (pc.op == 1u) {
      r = 0.5 * v * (1.0 + kiln_erf(v * 0.70710678118654752));
    } else if (pc.op == 2u) {
      r = 0.5 * v * (1.0 + kiln_tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    } else if (pc.op == 3u) {
      r = v / (1.0 + exp(-pc.alpha * v));
    }
    y[pc.off[3] + i] = r;
  }
}
