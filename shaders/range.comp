// Range of float32: y[i] = start + i * delta for i < n, with one rounding (fma) like the CPU
// reference's double arithmetic rounded once to float in all but rare ties.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint n;
  float start, delta;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    precise float v = fma(float(i), pc.delta, pc.start);
    y[pc.off[0] + i] = v;
  }
}
