// Batched matrix multiply: C[b] = alpha * op(A[b]) * op(B[b]) + beta * bias (bias broadcast
// through its strides), with any operand layout expressed by element strides (so transposes
// and broadcast batches cost nothing). Each work-item computes a TM x TN block of C held in
// registers. Built with -DTM=.. -DTN=.. (defaults 4 x 4).

#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif

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
