// Direct convolution (runtime/vulkan/ops_conv.cpp), float32, 1 to 3 spatial axes normalised to
// three (leading unit axes), groups, strides, dilations and leading pads (the trailing pads only
// shape the output). Register-blocked, no shared memory (lavapipe's is slow): each invocation
// computes TM output channels of one group x TP consecutive output pixels of one output row,
// accumulating over (input channel, k0, k1, k2) in vec4 registers with named accumulators
// (lavapipe keeps dynamically indexed arrays in memory).
//   default  TM = 4, TP = 4: ordinary and grouped convs with 4 or more channels per group.
//   -DM1P8   TM = 1, TP = 8: depthwise convs and groups with fewer than 4 output channels.
//   -DM8P4   TM = 8, TP = 4: wide convs (more weight reuse per input load).
// A flat grid-stride loop walks the items (pixel block fastest, then output row, channel block,
// group, image), so neighbouring invocations read neighbouring pixels and the same weights.
// Taps outside the input contribute nothing: the interior path (every pixel of the block real
// and every tap along axis 2 inside the row) loads directly, the border path loads through a
// clamped index and selects 0.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(M1P8)
#define TM 1
#define TP 8
#elif defined(M8P4)
#define TM 8
#define TP 4
#else
#define TM 4
#define TP 4
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform PC {
  uint off[4];
  uint N, C, M, cg, mg, groups, mblocks, pblocks, has_bias;
  int in_[3];
  int k[3];
  int s[3];
  int d[3];
  int pb[3];
  int out_[3];
} pc;

// Pixel p (0..TP-1) of the block at input column i along axis 2, 0 outside the row.
float ld(uint xrow, int i) {
  const float v = x[xrow + uint(clamp(i, 0, pc.in_[2] - 1))];
  return (i >= 0 && i < pc.in_[2]) ? v : 0.0;
}

#define LOAD4_IN(p, st) vec4(x[p], x[(p) + (st)], x[(p) + 2u * (st)], x[(p) + 3u * (st)])
#define LOAD4_B(xr, i, st) vec4(ld(xr, i), ld(xr, (i) + (st)), ld(xr, (i) + 2 * (st)), ld(xr, (i) + 3 * (st)))

void main() {
  const int rows = pc.out_[0] * pc.out_[1];
  const uint total = pc.N * pc.groups * pc.mblocks * uint(rows) * pc.pblocks;
  const uint ksz = uint(pc.k[0] * pc.k[1] * pc.k[2]);
  const uint insz = uint(pc.in_[0] * pc.in_[1] * pc.in_[2]);
  const int s2 = pc.s[2], d2 = pc.d[2], k2n = pc.k[2], in2 = pc.in_[2];
  for (uint it = gl_GlobalInvocationID.x; it < total; it += GRID_STRIDE) {
    uint t = it;
    const int pbk = int(t % pc.pblocks);
    t /= pc.pblocks;
    const int row = int(t % uint(rows));
    t /= uint(rows);
    const uint mb = t % pc.mblocks;
    t /= pc.mblocks;
    const uint grp = t % pc.groups;
    const uint n = t / pc.groups;
    const int o0 = row / pc.out_[1], o1 = row % pc.out_[1];
    const int o2s = pbk * TP;
    const uint m0 = grp * pc.mg + mb * uint(TM), mend = grp * pc.mg + pc.mg;
    const uint xg = pc.off[0] + (n * pc.C + grp * pc.cg) * insz;
    const uint wstride = pc.cg * ksz;
#define WROW(j) (pc.off[1] + min(m0 + uint(j), mend - 1u) * wstride)
    const uint wr0 = WROW(0);
#if TM >= 4
    const uint wr1 = WROW(1), wr2 = WROW(2), wr3 = WROW(3);
#endif
#if TM == 8
    const uint wr4 = WROW(4), wr5 = WROW(5), wr6 = WROW(6), wr7 = WROW(7);
#endif
    const int b0 = o0 * pc.s[0] - pc.pb[0], b1 = o1 * pc.s[1] - pc.pb[1];
    const int b2 = o2s * s2 - pc.pb[2];
    const bool interior =
        o2s + TP <= pc.out_[2] && b2 >= 0 && b2 + (TP - 1) * s2 + (k2n - 1) * d2 < in2;
    vec4 a0 = vec4(0.0);
#if TP == 8
    vec4 e0 = vec4(0.0);
#endif
#if TM >= 4
    vec4 a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
#endif
#if TM == 8
    vec4 a4 = vec4(0.0), a5 = vec4(0.0), a6 = vec4(0.0), a7 = vec4(0.0);
#endif
    for (uint c = 0u; c < pc.cg; ++c) {
      const uint xc = xg + c * insz;
      const uint wc = c * ksz;
      for (int q0 = 0; q0 < pc.k[0]; ++q0) {
        const int i0 = b0 + q0 * pc.d[0];
        if (i0 < 0 || i0 >= pc.in_[0]) continue;
        for (int q1 = 0; q1 < pc.k[1]; ++q1) {
          const int i1 = b1 + q1 * pc.d[1];
          if (i1 < 0 || i1 >= pc.in_[1]) continue;
          const uint xrow = xc + uint((i0 * pc.in_[1] + i1) * in2);
          const uint kb = wc + uint((q0 * pc.k[1] + q1) * k2n);
          for (int q2 = 0; q2 < k2n; ++q2) {
            const int i2 = b2 + q2 * d2;
            vec4 xv;
#if TP == 8
            vec4 xv2;
#endif
            if (interior) {
              const uint p = xrow + uint(i2);
              xv = LOAD4_IN(p, uint(s2));
#if TP == 8
              xv2 = LOAD4_IN(p + 4u * uint(s2), uint(s2));
#endif
            } else {
              xv = LOAD4_B(xrow, i2, s2);
#if TP == 8
              xv2 = LOAD4_B(xrow, i2 + 4 * s2, s2);
#endif
            }
            const uint kk = kb + uint(q2);
            a0 = fma(vec4(w[wr0 + kk]), xv, a0);
#if TP == 8
            e0 = fma(vec4(w[wr0 + kk]), xv2, e0);
#endif
#if TM >= 4
            a1 = fma(vec4(w[wr1 + kk]), xv, a1);
            a2 = fma(vec4(w[wr2 + kk]), xv, a2);
            a3 = fma(vec4(w[wr3 + kk]), xv, a3);
#endif
#if TM == 8
            a4 = fma(vec4(w[wr4 + kk]), xv, a4);
            a5 = fma(vec4(w[wr5 + kk]), xv, a5);
            a6 = fma(vec4(w[wr6 + kk]), xv, a6);
            a7 = fma(vec4(w[wr7 + kk]), xv, a7);
#endif
          }
        }
      }
    }
    // Store: channel j of the block, pixels o2s.. (those inside the row).
    const uint plane = uint(rows * pc.out_[2]);
    const uint ybase = pc.off[3] + uint(row * pc.out_[2] + o2s);
    const int npix = min(TP, pc.out_[2] - o2s);
#define STORE(j, acc, first)                                             \
  {                                                                      \
    const uint m = m0 + uint(j);                                         \
    if (m < mend) {                                                      \
      const float bv = pc.has_bias != 0u ? bias[pc.off[2] + m] : 0.0;    \
      const uint yr = ybase + (n * pc.M + m) * plane;                    \
      for (int i = 0; i < 4; ++i)                                        \
        if ((first) + i < npix) y[yr + uint((first) + i)] = acc[i] + bv; \
    }                                                                    \
  }
    STORE(0, a0, 0)
#if TP == 8
    STORE(0, e0, 4)
#endif
#if TM >= 4
    STORE(1, a1, 0)
    STORE(2, a2, 0)
    STORE(3, a3, 0)
#endif
#if TM == 8
    STORE(4, a4, 0)
    STORE(5, a5, 0)
    STORE(6, a6, 0)
    STORE(7, a7, 0)
#endif
  }
}
