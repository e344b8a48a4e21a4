// Direct convolution (runtime/vulkan/ops_conv.cpp), float32, 1 to 3 spatial axes normalised to
// three (leading unit axes), groups, strides, dilations and leading pads (the trailing pads only
// shape the output). Register-blocked, no shared memory (lavapipe's is slow): each invocation
// computes TM output channels of one group x TP consecutive output pixels of one output row,
// accumulating over (k0, k1, k2, input channel) in vec4 registers with named accumulators
// (lavapipe keeps dynamically indexed arrays in memory).
//   default  TM = 4, TP = 4: ordinary and grouped convs with 4 to 7 channels per group.
//   -DM8P4   TM = 8, TP = 4: 8 or more output channels per group (more reuse per input load).
//   -DM8P8   TM = 8, TP = 8.
//   -DM1P8   TM = 1, TP = 8: groups with fewer than 4 output channels.
//   -DDW     TM = 1, TP = 8 with exactly one input channel per group (depthwise): no channel
//            loop; kernel width 3 with stride and dilation 1 loads each row's 10 columns once.
// A flat grid-stride loop walks the items (pixel block fastest, then output row, channel block,
// group, image), so neighbouring invocations read neighbouring pixels and the same weights.
// Taps outside the input contribute nothing: every load goes through a column clamped into the
// row and a select of 0 for columns outside it. One path for all blocks: a separate interior
// path made lavapipe run both whenever the 8 lanes of a SIMD batch mixed border and interior
// blocks (nearly always), which cost more than the selects.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(M1P8) || defined(DW)
#define TM 1
#define TP 8
#elif defined(M8P4)
#define TM 8
#define TP 4
#elif defined(M8P8)
#define TM 8
#define TP 8
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

// Plan-time values (constant ids 2..14; 0: read the push constant): kernel sizes, strides,
// dilations, begin pads + 1 and channels per group, so the kernel loops have constant bounds.
layout(constant_id = 2) const int SPEC_K0 = 0;
layout(constant_id = 3) const int SPEC_K1 = 0;
layout(constant_id = 4) const int SPEC_K2 = 0;
layout(constant_id = 5) const int SPEC_S0 = 0;
layout(constant_id = 6) const int SPEC_S1 = 0;
layout(constant_id = 7) const int SPEC_S2 = 0;
layout(constant_id = 8) const int SPEC_D0 = 0;
layout(constant_id = 9) const int SPEC_D1 = 0;
layout(constant_id = 10) const int SPEC_D2 = 0;
layout(constant_id = 11) const int SPEC_PB0_1 = 0;
layout(constant_id = 12) const int SPEC_PB1_1 = 0;
layout(constant_id = 13) const int SPEC_PB2_1 = 0;
layout(constant_id = 14) const uint SPEC_CG = 0u;
#define P_K(i) (SPEC_K##i != 0 ? SPEC_K##i : pc.k[i])
#define P_S(i) (SPEC_S##i != 0 ? SPEC_S##i : pc.s[i])
#define P_D(i) (SPEC_D##i != 0 ? SPEC_D##i : pc.d[i])
#define P_PB(i) (SPEC_PB##i##_1 != 0 ? SPEC_PB##i##_1 - 1 : pc.pb[i])
#define P_CG (SPEC_CG != 0u ? SPEC_CG : pc.cg)

// Columns F..F+3 of the block: input columns clamped into the row (pF, pF1..pF3) and whether
// they are inside it (vF).
#define PIXELS(F)                                         \
  const int j##F = i2 + (F) * s2;                         \
  const uint p##F = uint(clamp(j##F, 0, in2 - 1)),        \
             p##F##1 = uint(clamp(j##F + s2, 0, in2 - 1)),     \
             p##F##2 = uint(clamp(j##F + 2 * s2, 0, in2 - 1)), \
             p##F##3 = uint(clamp(j##F + 3 * s2, 0, in2 - 1)); \
  const bvec4 v##F = bvec4(j##F >= 0 && j##F < in2, j##F + s2 >= 0 && j##F + s2 < in2,      \
                           j##F + 2 * s2 >= 0 && j##F + 2 * s2 < in2,                     \
                           j##F + 3 * s2 >= 0 && j##F + 3 * s2 < in2);
#define LOAD_IN(F) vec4(x[xo + p##F], x[xo + p##F##1], x[xo + p##F##2], x[xo + p##F##3])
// Loads at the clamped columns, then a select (mix with a bvec picks, no arithmetic): the loads
// stay unconditional, so lavapipe needs no per-lane control flow.
#define LOAD_B(F) mix(vec4(0.0), LOAD_IN(F), v##F)

// Channel j of the block gains weight w[wrj + wo] times the loaded pixels.
#if TP == 8
#define LOADS(L)        \
  const vec4 xv = L(0); \
  const vec4 xv2 = L(4);
#define ACC(j)                        \
  {                                   \
    const float wv = w[wr##j + wo];   \
    a##j += wv * xv;                  \
    e##j += wv * xv2;                 \
  }
#else
#define LOADS(L) const vec4 xv = L(0);
#define ACC(j) a##j += w[wr##j + wo] * xv;
#endif
#define FMA0 ACC(0)
#if TM >= 4
#define FMA4 ACC(1) ACC(2) ACC(3)
#else
#define FMA4
#endif
#if TM == 8
#define FMA8 ACC(4) ACC(5) ACC(6) ACC(7)
#else
#define FMA8
#endif
// One tap over the group's input channels (-DDW: exactly one, no loop).
#ifdef DW
#define CHANNEL_LOOP(L) \
  {                     \
    LOADS(L)            \
    FMA0 FMA4 FMA8      \
  }
#else
#define CHANNEL_LOOP(L)                      \
  for (uint c = 0u; c < P_CG; ++c) {        \
    LOADS(L)                                 \
    FMA0 FMA4 FMA8                           \
    xo += insz;                              \
    wo += ksz;                               \
  }
#endif

void main() {
  const int rows = pc.out_[0] * pc.out_[1];
  const uint total = pc.N * pc.groups * pc.mblocks * uint(rows) * pc.pblocks;
  const uint ksz = uint(P_K(0) * P_K(1) * P_K(2));
  const uint insz = uint(pc.in_[0] * pc.in_[1] * pc.in_[2]);
  const int s2 = P_S(2), d2 = P_D(2), k2n = P_K(2), in2 = pc.in_[2];
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
    const uint xg = pc.off[0] + (n * pc.C + grp * P_CG) * insz;
    const uint wstride = P_CG * ksz;
#define WROW(j) (pc.off[1] + min(m0 + uint(j), mend - 1u) * wstride)
    const uint wr0 = WROW(0);
#if TM >= 4
    const uint wr1 = WROW(1), wr2 = WROW(2), wr3 = WROW(3);
#endif
#if TM == 8
    const uint wr4 = WROW(4), wr5 = WROW(5), wr6 = WROW(6), wr7 = WROW(7);
#endif
    const int b0 = o0 * P_S(0) - P_PB(0), b1 = o1 * P_S(1) - P_PB(1);
    const int b2 = o2s * s2 - P_PB(2);
    vec4 a0 = vec4(0.0);
#if TP == 8
    vec4 e0 = vec4(0.0);
#endif
#if TM >= 4
    vec4 a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
#if TP == 8
    vec4 e1 = vec4(0.0), e2 = vec4(0.0), e3 = vec4(0.0);
#endif
#endif
#if TM == 8
    vec4 a4 = vec4(0.0), a5 = vec4(0.0), a6 = vec4(0.0), a7 = vec4(0.0);
#if TP == 8
    vec4 e4 = vec4(0.0), e5 = vec4(0.0), e6 = vec4(0.0), e7 = vec4(0.0);
#endif
#endif
#ifdef DW
    const bool dw3 = k2n == 3 && s2 == 1 && d2 == 1;
#endif
    // Taps outer, input channels inner: the per-tap work (bounds, offsets) happens once per
    // tap, and the channel loop only steps two offsets (lavapipe pays for every loop level).
    for (int q0 = 0; q0 < P_K(0); ++q0) {
      const int i0 = b0 + q0 * P_D(0);
      if (i0 < 0 || i0 >= pc.in_[0]) continue;
      for (int q1 = 0; q1 < P_K(1); ++q1) {
        const int i1 = b1 + q1 * P_D(1);
        if (i1 < 0 || i1 >= pc.in_[1]) continue;
        const uint xrow = xg + uint((i0 * pc.in_[1] + i1) * in2);
        const uint kb = uint((q0 * P_K(1) + q1) * k2n);
#ifdef DW
        if (dw3) {
          // Kernel width 3, stride 1, dilation 1: the 8 pixels' three taps read 10 columns,
          // loaded once; the taps are swizzles of them.
          const int i2 = b2;
          uint xo = xrow;
          PIXELS(0)
          PIXELS(4)
          const vec4 c0 = LOAD_B(0), c1 = LOAD_B(4);
          const int j8 = b2 + 8, j9 = b2 + 9;
          const vec2 c2 = vec2(x[xo + uint(clamp(j8, 0, in2 - 1))], x[xo + uint(clamp(j9, 0, in2 - 1))]);
          const vec2 c2s = mix(vec2(0.0), c2, bvec2(j8 >= 0 && j8 < in2, j9 >= 0 && j9 < in2));
          const float w0 = w[wr0 + kb], w1 = w[wr0 + kb + 1u], w2 = w[wr0 + kb + 2u];
          a0 += w0 * c0;
          a0 += w1 * vec4(c0.yzw, c1.x);
          a0 += w2 * vec4(c0.zw, c1.xy);
          e0 += w0 * c1;
          e0 += w1 * vec4(c1.yzw, c2s.x);
          e0 += w2 * vec4(c1.zw, c2s);
          continue;
        }
#endif
        for (int q2 = 0; q2 < k2n; ++q2) {
          const int i2 = b2 + q2 * d2;
          // Pixel columns of the block, clamped into the row, and which are inside it.
          PIXELS(0)
#if TP == 8
          PIXELS(4)
#endif
          uint xo = xrow;
          uint wo = kb + uint(q2);
          CHANNEL_LOOP(LOAD_B)
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
#if TP == 8
#define STORE_CH(j) STORE(j, a##j, 0) STORE(j, e##j, 4)
#else
#define STORE_CH(j) STORE(j, a##j, 0)
#endif
    STORE_CH(0)
#if TM >= 4
    STORE_CH(1)
    STORE_CH(2)
    STORE_CH(3)
#endif
#if TM == 8
    STORE_CH(4)
    STORE_CH(5)
    STORE_CH(6)
    STORE_CH(7)
#endif
  }
}
