// Windowed and global pools (runtime/vulkan/ops_pool.cpp), float32.
//   default   MaxPool / AveragePool over 1 to 3 spatial axes (normalised to three): one
//             invocation per output element. mode 0: max (NaN never wins, an empty window gives
//             -inf); 1: average over the positions inside the input; 2: average counting the
//             explicit padding (count_include_pad).
//   -DGLOBAL  GlobalAveragePool / GlobalMaxPool: one invocation per (image, channel) plane of
//             `size` elements. mode 0: average, 1: max (NaN propagates).
// The arithmetic follows the CPU reference (runtime/cpu/ops/nn_pool.cpp) and kernels/conv.cl.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

#ifdef GLOBAL
layout(push_constant) uniform PC {
  uint off[4];
  uint planes, size, mode;
} pc;

void main() {
  for (uint pl = gl_GlobalInvocationID.x; pl < pc.planes; pl += GRID_STRIDE) {
    const uint base = pc.off[0] + pl * pc.size;
    float r;
    if (pc.mode == 0u) {
      float sum = 0.0;
      for (uint i = 0u; i < pc.size; ++i) sum += x[base + i];
      r = pc.size > 0u ? sum / float(pc.size) : 0.0 / 0.0;
    } else {
      float best = -1.0 / 0.0;
      for (uint i = 0u; i < pc.size; ++i) {
        const float v = x[base + i];
        if (isnan(v) || v > best) best = v;
        if (isnan(best)) break;
      }
      r = best;
    }
    y[pc.off[1] + pl] = r;
  }
}
#else
layout(push_constant) uniform PC {
  uint off[4];
  uint total, mode;
  int in_[3];
  int k[3];
  int s[3];
  int d[3];
  int pb[3];
  int pe[3];
  int out_[3];
} pc;

int floor_div(int a, int b) {
  int q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int ceil_div(int a, int b) { return -floor_div(-a, b); }

void main() {
  const int osz = pc.out_[0] * pc.out_[1] * pc.out_[2];
  const int insz = pc.in_[0] * pc.in_[1] * pc.in_[2];
  for (uint gid = gl_GlobalInvocationID.x; gid < pc.total; gid += GRID_STRIDE) {
    const int pl = int(gid) / osz, p = int(gid) % osz;
    const int o2 = p % pc.out_[2], o1 = (p / pc.out_[2]) % pc.out_[1],
              o0 = p / (pc.out_[2] * pc.out_[1]);
    const int st0 = o0 * pc.s[0] - pc.pb[0], st1 = o1 * pc.s[1] - pc.pb[1],
              st2 = o2 * pc.s[2] - pc.pb[2];
    // Kernel index ranges [lo, hi) whose positions fall inside the input.
    const int lo0 = max(0, ceil_div(-st0, pc.d[0]));
    const int hi0 = max(lo0, min(pc.k[0], floor_div(pc.in_[0] - 1 - st0, pc.d[0]) + 1));
    const int lo1 = max(0, ceil_div(-st1, pc.d[1]));
    const int hi1 = max(lo1, min(pc.k[1], floor_div(pc.in_[1] - 1 - st1, pc.d[1]) + 1));
    const int lo2 = max(0, ceil_div(-st2, pc.d[2]));
    const int hi2 = max(lo2, min(pc.k[2], floor_div(pc.in_[2] - 1 - st2, pc.d[2]) + 1));
    const uint xp = pc.off[0] + uint(pl * insz);
    float r;
    if (pc.mode == 0u) {
      float best = -1.0 / 0.0;
      for (int j0 = lo0; j0 < hi0; ++j0) {
        const int i0 = st0 + j0 * pc.d[0];
        for (int j1 = lo1; j1 < hi1; ++j1) {
          const int rowo = (i0 * pc.in_[1] + st1 + j1 * pc.d[1]) * pc.in_[2];
          for (int j2 = lo2; j2 < hi2; ++j2) {
            const float v = x[xp + uint(rowo + st2 + j2 * pc.d[2])];
            if (v > best) best = v;
          }
        }
      }
      r = best;
    } else {
      float sum = 0.0;
      for (int j0 = lo0; j0 < hi0; ++j0) {
        const int i0 = st0 + j0 * pc.d[0];
        for (int j1 = lo1; j1 < hi1; ++j1) {
          const int rowo = (i0 * pc.in_[1] + st1 + j1 * pc.d[1]) * pc.in_[2];
          for (int j2 = lo2; j2 < hi2; ++j2) sum += x[xp + uint(rowo + st2 + j2 * pc.d[2])];
        }
      }
      int count;
      if (pc.mode == 2u) {
        const int a0 = max(0, ceil_div(-pc.pb[0] - st0, pc.d[0]));
        const int c0 = max(a0, min(pc.k[0], floor_div(pc.in_[0] + pc.pe[0] - 1 - st0, pc.d[0]) + 1));
        const int a1 = max(0, ceil_div(-pc.pb[1] - st1, pc.d[1]));
        const int c1 = max(a1, min(pc.k[1], floor_div(pc.in_[1] + pc.pe[1] - 1 - st1, pc.d[1]) + 1));
        const int a2 = max(0, ceil_div(-pc.pb[2] - st2, pc.d[2]));
        const int c2 = max(a2, min(pc.k[2], floor_div(pc.in_[2] + pc.pe[2] - 1 - st2, pc.d[2]) + 1));
        count = (c0 - a0) * (c1 - a1) * (c2 - a2);
      } else {
        count = (hi0 - lo0) * (hi1 - lo1) * (hi2 - lo2);
      }
      r = count > 0 ? sum / float(count) : 0.0 / 0.0;
    }
    y[pc.off[1] + gid] = r;
  }
}
#endif
