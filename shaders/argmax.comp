// ArgMax / ArgMin of float32 rows: input seen as [outer, len, inner], output int64 (uvec2 pairs)
// [outer * inner], one invocation per output element. NaN counts as the largest value and wins
// for both (as the CPU reference); ties keep the first index unless flags bit 1 (select_last_index).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { uvec2 y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint n, len, inner;
  uint flags;  // bit 0: max (else min); bit 1: select the last of equal values
} pc;

void main() {
  const bool is_max = (pc.flags & 1u) != 0u;
  const bool last = (pc.flags & 2u) != 0u;
  for (uint r = gl_GlobalInvocationID.x; r < pc.n; r += GRID_STRIDE) {
    uint o = r / pc.inner, j = r % pc.inner;
    uint base = pc.off[0] + o * pc.len * pc.inner + j;
    float best = x[base];
    uint bi = 0u;
    for (uint i = 1u; i < pc.len; ++i) {
      float c = x[base + i * pc.inner];
      bool better, tie;
      if (isnan(best)) {
        better = false;
        tie = isnan(c);
      } else if (isnan(c)) {
        better = true;
        tie = false;
      } else {
        better = is_max ? c > best : c < best;
        tie = c == best;
      }
      if (better || (last && tie)) {
        best = c;
        bi = i;
      }
    }
    y[pc.off[1] + r] = uvec2(bi, 0u);
  }
}
