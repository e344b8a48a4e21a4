// Batched MatMul / Gemm: Y[b] = alpha * A[b] x B[b] + beta * C (C broadcast over [M, N]).
// Register-blocked: each invocation computes a TM x 4 block of Y with no shared memory
// (lavapipe's shared memory is slow). A and B are read through element strides, so transposed
// operands need no copy. -DVEC4: A is row-major with K % 4 == 0 and B row-major with N % 4 == 0
// (element offsets and batch strides multiples of 4); both are read as vec4.
// Batch: gl_GlobalInvocationID.z walks up to 3 output batch dims with per-operand strides.
// -DF16: float16 storage of A, B, C and Y (fp16.glsl); loads convert to float, float accumulation.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#include "common.glsl"

#ifndef TM
#define TM 4
#endif
// Columns per invocation: 4, or 8 with -DTN8 (vec4 variant only).
#ifdef TN8
#define TN 8u
#else
#define TN 4u
#endif

layout(local_size_x_id = 0, local_size_y_id = 1) in;
// Shape values known at plan time (VkContext::pipeline's spec list, constant ids 2..8); 0 means
// "not specialized: read the push constant". Specialized, the loop bound and the strides are
// constants to the driver's compiler (unrolling, address folding).
layout(constant_id = 2) const uint SPEC_M = 0u;
layout(constant_id = 3) const uint SPEC_N = 0u;
layout(constant_id = 4) const uint SPEC_K = 0u;
layout(constant_id = 5) const uint SPEC_SAM = 0u;
layout(constant_id = 6) const uint SPEC_SAK = 0u;
layout(constant_id = 7) const uint SPEC_SBK = 0u;
layout(constant_id = 8) const uint SPEC_SBN = 0u;
#ifdef VEC4
layout(std430, binding = 0) readonly buffer A { FT4 a[]; };
layout(std430, binding = 1) readonly buffer B { FT4 b[]; };
#else
layout(std430, binding = 0) readonly buffer A { FT a[]; };
layout(std430, binding = 1) readonly buffer B { FT b[]; };
#endif
layout(std430, binding = 2) readonly buffer C { FT c[]; };
layout(std430, binding = 3) writeonly buffer Y { FT y[]; };

layout(push_constant) uniform PC {
  uint off[4];
  uint M, N, K;
  uint batch_rank;
  uint bdims[3];
  uint a_bst[3];
  uint b_bst[3];
  uint sam, sak;  // A element strides along m and k
  uint sbk, sbn;  // B element strides along k and n
  float alpha, beta;
  uint scm, scn;  // C strides along m and n (0 = broadcast)
  uint has_c;
} pc;

#define P_M (SPEC_M != 0u ? SPEC_M : pc.M)
#define P_N (SPEC_N != 0u ? SPEC_N : pc.N)
#define P_K (SPEC_K != 0u ? SPEC_K : pc.K)
#define P_SAM (SPEC_SAM != 0u ? SPEC_SAM : pc.sam)
#define P_SAK (SPEC_SAK != 0u ? SPEC_SAK : pc.sak)
#define P_SBK (SPEC_SBK != 0u ? SPEC_SBK : pc.sbk)
#define P_SBN (SPEC_SBN != 0u ? SPEC_SBN : pc.sbn)

void main() {
  const uint col = gl_GlobalInvocationID.x * TN;
  const uint row = gl_GlobalInvocationID.y * TM;
  if (col >= P_N || row >= P_M) return;
  uint bz = gl_GlobalInvocationID.z;
  uint abase = pc.off[0], bbase = pc.off[1];
  for (int d = int(pc.batch_rank) - 1; d >= 0; --d) {
    uint q = bz % pc.bdims[d];
    bz /= pc.bdims[d];
    abase += q * pc.a_bst[d];
    bbase += q * pc.b_bst[d];
  }
  vec4 acc[TM];
  for (int r = 0; r < TM; ++r) acc[r] = vec4(0.0);
#ifdef TN8
  vec4 acc2[TM];
  for (int r = 0; r < TM; ++r) acc2[r] = vec4(0.0);
#endif
#ifdef VEC4
  // abase, bbase are element offsets that are multiples of 4. Rows are unrolled by hand (named
  // accumulators): lavapipe keeps dynamically indexed arrays in memory.
  const uint astride = P_SAM / 4u;
  const uint a0 = (abase + min(row, P_M - 1u) * P_SAM) / 4u;
#define AROW(r) (a0 + min(uint(r), P_M - 1u - min(row, P_M - 1u)) * astride)
  const uint ar0 = AROW(0), ar1 = AROW(1), ar2 = AROW(2), ar3 = AROW(3);
  vec4 c0 = vec4(0.0), c1 = vec4(0.0), c2 = vec4(0.0), c3 = vec4(0.0);
#ifdef TN8
  vec4 d0 = vec4(0.0), d1 = vec4(0.0), d2 = vec4(0.0), d3 = vec4(0.0);
  // The second column group may start past N: clamp it (its results are not stored).
  const uint bcol2 = (bbase + min(col + 4u, P_N - 4u)) / 4u;
#endif
#if TM == 8
  const uint ar4 = AROW(4), ar5 = AROW(5), ar6 = AROW(6), ar7 = AROW(7);
  vec4 c4 = vec4(0.0), c5 = vec4(0.0), c6 = vec4(0.0), c7 = vec4(0.0);
#ifdef TN8
  vec4 d4 = vec4(0.0), d5 = vec4(0.0), d6 = vec4(0.0), d7 = vec4(0.0);
#endif
#endif
  uint bi = (bbase + col) / 4u;
  const uint bstride = P_SBK / 4u;
  for (uint k4 = 0u; k4 < P_K / 4u; ++k4) {
    vec4 b0 = vec4(b[bi]);
    vec4 b1 = vec4(b[bi + bstride]);
    vec4 b2 = vec4(b[bi + 2u * bstride]);
    vec4 b3 = vec4(b[bi + 3u * bstride]);
#ifdef TN8
    const uint bj = bcol2 + k4 * 4u * bstride;
    vec4 e0 = vec4(b[bj]);
    vec4 e1 = vec4(b[bj + bstride]);
    vec4 e2 = vec4(b[bj + 2u * bstride]);
    vec4 e3 = vec4(b[bj + 3u * bstride]);
#endif
    bi += 4u * bstride;
#define STEP(c, ar)                                          \
  {                                                          \
    vec4 av = vec4(a[ar + k4]);                                    \
    c += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;      \
  }
#ifdef TN8
#define STEP2(c, d, ar)                                      \
  {                                                          \
    vec4 av = vec4(a[ar + k4]);                                    \
    c += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;      \
    d += av.x * e0 + av.y * e1 + av.z * e2 + av.w * e3;      \
  }
    STEP2(c0, d0, ar0) STEP2(c1, d1, ar1) STEP2(c2, d2, ar2) STEP2(c3, d3, ar3)
#else
    STEP(c0, ar0) STEP(c1, ar1) STEP(c2, ar2) STEP(c3, ar3)
#endif
#if TM == 8
#ifdef TN8
    STEP2(c4, d4, ar4) STEP2(c5, d5, ar5) STEP2(c6, d6, ar6) STEP2(c7, d7, ar7)
#else
    STEP(c4, ar4) STEP(c5, ar5) STEP(c6, ar6) STEP(c7, ar7)
#endif
#endif
  }
#ifdef TN8
  acc2[0] = d0;
  acc2[1] = d1;
  acc2[2] = d2;
  acc2[3] = d3;
#endif
  acc[0] = c0;
  acc[1] = c1;
  acc[2] = c2;
  acc[3] = c3;
#if TM == 8 && defined(TN8)
  acc2[4] = d4;
  acc2[5] = d5;
  acc2[6] = d6;
  acc2[7] = d7;
#endif
#if TM == 8
  acc[4] = c4;
  acc[5] = c5;
  acc[6] = c6;
  acc[7] = c7;
#endif
#else
  uint arow[TM];
  for (int r = 0; r < TM; ++r) arow[r] = abase + min(row + r, P_M - 1u) * P_SAM;
  uint bc[4];
  for (int j = 0; j < 4; ++j) bc[j] = bbase + min(col + j, P_N - 1u) * P_SBN;
  for (uint k = 0u; k < P_K; ++k) {
    vec4 bv = vec4(float(b[bc[0] + k * P_SBK]), float(b[bc[1] + k * P_SBK]),
                   float(b[bc[2] + k * P_SBK]), float(b[bc[3] + k * P_SBK]));
    for (int r = 0; r < TM; ++r) acc[r] += float(a[arow[r] + k * P_SAK]) * bv;
  }
#endif
  uint ybase = pc.off[3] + gl_GlobalInvocationID.z * P_M * P_N;
  for (int r = 0; r < TM; ++r) {
    uint m = row + r;
    if (m >= P_M) break;
    for (int j = 0; j < int(TN); ++j) {
      uint n = col + j;
      if (n >= P_N) break;
#ifdef TN8
      float v = pc.alpha * (j < 4 ? acc[r][j] : acc2[r][j - 4]);
#else
      float v = pc.alpha * acc[r][j];
#endif
      if (pc.has_c != 0u) v += pc.beta * float(c[pc.off[2] + m * pc.scm + n * pc.scn]);
      y[ybase + m * P_N + n] = FT(v);
    }
  }
}
