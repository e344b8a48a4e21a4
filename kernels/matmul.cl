// Batched matrix multiply: C[b] = alpha * op(A[b]) * op(B[b]) + beta * bias (bias broadcast
// through its strides; C is dense [batch.., M, N]). Three kernels, one program:
//
//  gemm     general: any operand layout through element strides (transposes and broadcast
//           batches cost nothing); each work-item computes a TM x TN block in registers with
//           clamped scalar loads and masked stores. The fallback for every layout.
//  gemm_nn  A row-major [M, K] (row stride lda), B row-major [K, N] (row stride ldb). Each
//           work-item computes NN_TM rows x (NN_NV * NN_VW) columns with vloadNN_VW along N and
//           no local memory. The last column block is shifted left to end at N (the host only
//           picks this kernel when N >= NN_NV * NN_VW) and stores only the columns it owns;
//           rows past M are clamped on load and skipped on store.
//  gemm_nt  A row-major [M, K], B stored transposed [N, K] (row stride ldb), as exported
//           Linear layers keep their weights. Each work-item computes NT_TM x NT_TN dot
//           products with vloadNT_VW along K, a scalar tail for K % NT_VW, clamped rows and
//           masked stores.
//  gemm_half  gemm for float16 tensors: half storage read with vload_half into float registers,
//           float accumulation (k ascending from zero, as the CPU reference), one
//           vstore_half_rte (round to nearest even) per output. Same arguments as gemm.
//  transpose_b  copies a row-major B to [N, K] for gemm_nt when that is faster (see the end).
//
// Tile sizes and vector widths come from runtime/opencl/gemm_tuning.cpp as -D options (this
// program is built once per parameter set, not per shape); shapes and strides are arguments.
// Gemm bias strides are 0 or 1 along N (bias_sn), any row stride (bias_sm).

#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif
#ifndef NN_TM
#define NN_TM 8
#endif
#ifndef NN_VW
#define NN_VW 16
#endif
#ifndef NN_NV
#define NN_NV 1
#endif
#ifndef NT_TM
#define NT_TM 4
#endif
#ifndef NT_TN
#define NT_TN 4
#endif
#ifndef NT_VW
#define NT_VW 16
#endif

#define KCAT(a, b) a##b
#define KXCAT(a, b) KCAT(a, b)
#define NN_VEC KXCAT(float, NN_VW)
#define NN_VLOAD KXCAT(vload, NN_VW)
#define NN_VSTORE KXCAT(vstore, NN_VW)
#define NT_VEC KXCAT(float, NT_VW)
#define NT_VLOAD KXCAT(vload, NT_VW)
#define NT_HSUM KXCAT(hsum, NT_VW)

inline float hsum4(float4 v) {
  float2 t = v.lo + v.hi;
  return t.x + t.y;
}
inline float hsum8(float8 v) { return hsum4(v.lo + v.hi); }
inline float hsum16(float16 v) { return hsum8(v.lo + v.hi); }

inline int batch_offset(int b, int nb, int8 dims, int8 strides) {
  int d[8] = {dims.s0, dims.s1, dims.s2, dims.s3, dims.s4, dims.s5, dims.s6, dims.s7};
  int s[8] = {strides.s0, strides.s1, strides.s2, strides.s3,
              strides.s4, strides.s5, strides.s6, strides.s7};
  int off = 0;
  for (int k = nb - 1; k >= 0; --k) {
    off += (b % d[k]) * s[k];
    b /= d[k];
  }
  return off;
}

// gid0: block of columns, gid1: block of rows, gid2: batch.
__kernel void gemm(__global const float* A, int a_off, __global const float* B, int b_off,
                   __global const float* bias, int bias_off, __global float* C, int c_off,
                   int M, int N, int K, int sam, int sak, int sbk, int sbn, int nb, int8 bdims,
                   int8 a_bstrides, int8 b_bstrides, float alpha, float beta, int has_bias,
                   int bias_sm, int bias_sn) {
  const int n0 = get_global_id(0) * TN;
  const int m0 = get_global_id(1) * TM;
  const int b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const __global float* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global float* bm = B + b_off + batch_offset(b, nb, bdims, b_bstrides);
  __global float* c = C + c_off + (long)b * M * N;

  int rows[TM], cols[TN];
  for (int i = 0; i < TM; ++i) rows[i] = min(m0 + i, M - 1);
  for (int j = 0; j < TN; ++j) cols[j] = min(n0 + j, N - 1);
  float acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  for (int k = 0; k < K; ++k) {
    float av[TM], bv[TN];
    for (int i = 0; i < TM; ++i) av[i] = a[rows[i] * sam + k * sak];
    for (int j = 0; j < TN; ++j) bv[j] = bm[k * sbk + cols[j] * sbn];
    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
  for (int i = 0; i < TM; ++i) {
    int m = m0 + i;
    if (m >= M) break;
    for (int j = 0; j < TN; ++j) {
      int n = n0 + j;
      if (n >= N) break;
      float v = alpha * acc[i][j];
      if (has_bias) v += beta * bias[bias_off + m * bias_sm + n * bias_sn];
      c[m * N + n] = v;
    }
  }
}

// gid0: block of columns, gid1: block of rows, gid2: batch.
__kernel void gemm_half(__global const half* A, int a_off, __global const half* B, int b_off,
                        __global const half* bias, int bias_off, __global half* C, int c_off,
                        int M, int N, int K, int sam, int sak, int sbk, int sbn, int nb,
                        int8 bdims, int8 a_bstrides, int8 b_bstrides, float alpha, float beta,
                        int has_bias, int bias_sm, int bias_sn) {
  const int n0 = get_global_id(0) * TN;
  const int m0 = get_global_id(1) * TM;
  const int b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const __global half* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global half* bm = B + b_off + batch_offset(b, nb, bdims, b_bstrides);
  __global half* c = C + c_off + (long)b * M * N;

  int rows[TM], cols[TN];
  for (int i = 0; i < TM; ++i) rows[i] = min(m0 + i, M - 1);
  for (int j = 0; j < TN; ++j) cols[j] = min(n0 + j, N - 1);
  float acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  for (int k = 0; k < K; ++k) {
    float av[TM], bv[TN];
    for (int i = 0; i < TM; ++i) av[i] = vload_half(rows[i] * sam + k * sak, a);
    for (int j = 0; j < TN; ++j) bv[j] = vload_half(k * sbk + cols[j] * sbn, bm);
    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
  for (int i = 0; i < TM; ++i) {
    int m = m0 + i;
    if (m >= M) break;
    for (int j = 0; j < TN; ++j) {
      int n = n0 + j;
      if (n >= N) break;
      float v = alpha * acc[i][j];
      if (has_bias) v += beta * vload_half(bias_off + m * bias_sm + n * bias_sn, bias);
      vstore_half_rte(v, m * N + n, c);
    }
  }
}

// gid0: block of NN_NV * NN_VW columns, gid1: block of NN_TM rows, gid2: batch.
__kernel void gemm_nn(__global const float* A, int a_off, __global const float* B, int b_off,
                      __global const float* bias, int bias_off, __global float* C, int c_off,
                      int M, int N, int K, int lda, int ldb, int nb, int8 bdims, int8 a_bstrides,
                      int8 b_bstrides, float alpha, float beta, int has_bias, int bias_sm,
                      int bias_sn) {
  const int n0 = get_global_id(0) * (NN_NV * NN_VW);
  const int m0 = get_global_id(1) * NN_TM;
  const int b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const int ns = min(n0, N - NN_NV * NN_VW);  // the last block ends at N
  const __global float* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global float* bp = B + b_off + batch_offset(b, nb, bdims, b_bstrides) + ns;
  __global float* c = C + c_off + (long)b * M * N;

  const __global float* ar[NN_TM];
#pragma unroll
  for (int i = 0; i < NN_TM; ++i) ar[i] = a + min(m0 + i, M - 1) * lda;
  NN_VEC acc[NN_TM][NN_NV];
#pragma unroll
  for (int i = 0; i < NN_TM; ++i)
#pragma unroll
    for (int v = 0; v < NN_NV; ++v) acc[i][v] = (NN_VEC)(0.0f);
  for (int k = 0; k < K; ++k) {
    NN_VEC bv[NN_NV];
#pragma unroll
    for (int v = 0; v < NN_NV; ++v) bv[v] = NN_VLOAD(v, bp);
    bp += ldb;
#pragma unroll
    for (int i = 0; i < NN_TM; ++i) {
      const NN_VEC av = (NN_VEC)(ar[i][k]);
#pragma unroll
      for (int v = 0; v < NN_NV; ++v) acc[i][v] = fma(av, bv[v], acc[i][v]);
    }
  }
#pragma unroll
  for (int i = 0; i < NN_TM; ++i) {
    const int m = m0 + i;
    if (m >= M) break;
#pragma unroll
    for (int v = 0; v < NN_NV; ++v) {
      const int col = ns + v * NN_VW;
      NN_VEC r = alpha * acc[i][v];
      if (has_bias) {
        const __global float* bb = bias + bias_off + m * bias_sm;
        r += beta * (bias_sn == 0 ? (NN_VEC)(bb[0]) : NN_VLOAD(0, bb + col));
      }
      if (ns == n0) {
        NN_VSTORE(r, 0, c + m * N + col);
      } else {
        float t[NN_VW];
        NN_VSTORE(r, 0, t);
        for (int j = 0; j < NN_VW; ++j)
          if (col + j >= n0) c[m * N + col + j] = t[j];
      }
    }
  }
}

// gid0: block of NT_TN columns, gid1: block of NT_TM rows, gid2: batch.
__kernel void gemm_nt(__global const float* A, int a_off, __global const float* B, int b_off,
                      __global const float* bias, int bias_off, __global float* C, int c_off,
                      int M, int N, int K, int lda, int ldb, int nb, int8 bdims, int8 a_bstrides,
                      int8 b_bstrides, float alpha, float beta, int has_bias, int bias_sm,
                      int bias_sn) {
  const int n0 = get_global_id(0) * NT_TN;
  const int m0 = get_global_id(1) * NT_TM;
  const int b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const __global float* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global float* bm = B + b_off + batch_offset(b, nb, bdims, b_bstrides);
  __global float* c = C + c_off + (long)b * M * N;

  const __global float* ar[NT_TM];
  const __global float* br[NT_TN];
#pragma unroll
  for (int i = 0; i < NT_TM; ++i) ar[i] = a + min(m0 + i, M - 1) * lda;
#pragma unroll
  for (int j = 0; j < NT_TN; ++j) br[j] = bm + min(n0 + j, N - 1) * ldb;
  NT_VEC acc[NT_TM][NT_TN];
#pragma unroll
  for (int i = 0; i < NT_TM; ++i)
#pragma unroll
    for (int j = 0; j < NT_TN; ++j) acc[i][j] = (NT_VEC)(0.0f);
  int k = 0;
  for (; k + NT_VW <= K; k += NT_VW) {
    NT_VEC av[NT_TM], bv[NT_TN];
#pragma unroll
    for (int i = 0; i < NT_TM; ++i) av[i] = NT_VLOAD(0, ar[i] + k);
#pragma unroll
    for (int j = 0; j < NT_TN; ++j) bv[j] = NT_VLOAD(0, br[j] + k);
#pragma unroll
    for (int i = 0; i < NT_TM; ++i)
#pragma unroll
      for (int j = 0; j < NT_TN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
  float s[NT_TM][NT_TN];
#pragma unroll
  for (int i = 0; i < NT_TM; ++i)
#pragma unroll
    for (int j = 0; j < NT_TN; ++j) s[i][j] = NT_HSUM(acc[i][j]);
  for (; k < K; ++k) {
#pragma unroll
    for (int i = 0; i < NT_TM; ++i)
#pragma unroll
      for (int j = 0; j < NT_TN; ++j) s[i][j] = fma(ar[i][k], br[j][k], s[i][j]);
  }
#pragma unroll
  for (int i = 0; i < NT_TM; ++i) {
    const int m = m0 + i;
    if (m >= M) break;
#pragma unroll
    for (int j = 0; j < NT_TN; ++j) {
      const int n = n0 + j;
      if (n >= N) break;
      float v = alpha * s[i][j];
      if (has_bias) v += beta * bias[bias_off + m * bias_sm + n * bias_sn];
      c[m * N + n] = v;
    }
  }
}

// Transposes B [nbb][K][N] (dense) into BT [nbb][N][K], 16 x 16 elements per work-item, so that
// a large row-major B runs through gemm_nt (whose loads along K stream through the cache;
// gemm_nn's column strips of a wide B are strided by N and thrash it).
// gid0: block of 16 columns of B, gid1: block of 16 rows, gid2: matrix.
__kernel void transpose_b(__global const float* B, int b_off, __global float* BT, int K, int N) {
  const int n0 = get_global_id(0) * 16;
  const int k0 = get_global_id(1) * 16;
  const int b = get_global_id(2);
  if (n0 >= N || k0 >= K) return;
  const __global float* src = B + b_off + (long)b * K * N;
  __global float* dst = BT + (long)b * K * N;
  const int nn = min(16, N - n0), kk = min(16, K - k0);
  for (int j = 0; j < nn; ++j)
    for (int i = 0; i < kk; ++i) dst[(n0 + j) * K + k0 + i] = src[(k0 + i) * N + n0 + j];
}
