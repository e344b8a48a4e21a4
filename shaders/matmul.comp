// Batched MatMul / Gemm: Y[b] = alpha * A[b] x B[b] + beta * C (C broadcast over [M, N]).
// Register-blocked: each invocation computes a TM x 4 block of Y with no shared memory
// (lavapipe's shared memory is slow). A and B are read through element strides, so transposed
// operands need no copy. -DVEC4: A is row-major with K % 4 == 0 and B row-major with N % 4 == 0
// (element offsets and batch strides multiples of 4); both are read as vec4.
// Batch: gl_GlobalInvocationID.z walks up to 3 output batch dims with per-operand strides.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifndef TM
#define TM 4
#endif

layout(local_size_x_id = 0, local_size_y_id = 1) in;
#ifdef VEC4
layout(std430, binding = 0) readonly buffer A { vec4 a[]; };
layout(std430, binding = 1) readonly buffer B { vec4 b[]; };
#else
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
#endif
layout(std430, binding = 2) readonly buffer C { float c[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

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

void main() {
  const uint col = gl_GlobalInvocationID.x * 4u;
  const uint row = gl_GlobalInvocationID.y * TM;
  if (col >= pc.N || row >= pc.M) return;
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
#ifdef VEC4
  // abase, bbase are element offsets that are multiples of 4.
  uint arow[TM];
  for (int r = 0; r < TM; ++r) arow[r] = (abase + min(row + r, pc.M - 1u) * pc.sam) / 4u;
  uint bcol = (bbase + col) / 4u;
  const uint bstride = pc.sbk / 4u;
  for (uint k = 0u; k < pc.K; k += 4u) {
    vec4 b0 = b[bcol + k * bstride];
    vec4 b1 = b[bcol + (k + 1u) * bstride];
    vec4 b2 = b[bcol + (k + 2u) * bstride];
    vec4 b3 = b[bcol + (k + 3u) * bstride];
    for (int r = 0; r < TM; ++r) {
      vec4 av = a[arow[r] + k / 4u];
      acc[r] += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    }
  }
#else
  uint arow[TM];
  for (int r = 0; r < TM; ++r) arow[r] = abase + min(row + r, pc.M - 1u) * pc.sam;
  uint bc[4];
  for (int j = 0; j < 4; ++j) bc[j] = bbase + min(col + j, pc.N - 1u) * pc.sbn;
  for (uint k = 0u; k < pc.K; ++k) {
    vec4 bv = vec4(b[bc[0] + k * pc.sbk], b[bc[1] + k * pc.sbk], b[bc[2] + k * pc.sbk],
                   b[bc[3] + k * pc.sbk]);
    for (int r = 0; r < TM; ++r) acc[r] += a[arow[r] + k * pc.sak] * bv;
  }
#endif
  uint ybase = pc.off[3] + gl_GlobalInvocationID.z * pc.M * pc.N;
  for (int r = 0; r < TM; ++r) {
    uint m = row + r;
    if (m >= pc.M) break;
    for (int j = 0; j < 4; ++j) {
      uint n = col + j;
      if (n >= pc.N) break;
      float v = pc.alpha * acc[r][j];
      if (pc.has_c != 0u) v += pc.beta * c[pc.off[2] + m * pc.scm + n * pc.scn];
      y[ybase + m * pc.N + n] = v;
    }
  }
}
