// INT8 kernels (runtime/opencl/ops_quant.cpp): QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear and the integer GEMM behind MatMulInteger, MatMulIntegerToFloat and
// DynamicQuantizeMatMul. One program for every dtype combination:
//
//  - 8-bit tensors are read as raw bytes (uchar). An int8 byte u holds (u ^ 0x80) - 128, so with
//    mask = 0x80 for int8 (0 for uint8), x - zp == (x_byte ^ mask) - (zp_byte ^ mask): the
//    difference needs no sign handling at all.
//  - Quantized outputs are clamped to [lo, hi] (0..255 or -128..127) and stored as the low byte.
//  - Rounding is round half to even (rint); float math follows the CPU reference's order and is
//    never contracted into fma (FP_CONTRACT OFF), so results are bit-identical to it.
//  - Integer products accumulate in 32-bit unsigned lanes (wrapping exactly like the CPU
//    reference's uint32 accumulator).
#pragma OPENCL FP_CONTRACT OFF

#ifndef QTM
#define QTM 4  // rows per work-item of qgemm_nn
#endif

// saturate(rint(q) + zp) into [lo, hi]; NaN gives lo (as the CPU's quantize_value).
inline int quantize_one(float q, int zp, int lo, int hi) {
  if (isnan(q)) return lo;
  const float r = rint(clamp(q, -1e9f, 1e9f));
  return clamp((int)r + zp, lo, hi);
}

// Signed value of a zero-point / data byte for mask 0x80 (int8) or 0 (uint8).
inline int byte_value(uchar b, uchar mask) {
  return (int)(b ^ mask) - (mask ? 128 : 0);
}

// y[e] = saturate(rint(x[e] / scale[s]) + zp[s]), s = (e / inner) % axis_dim (per axis) or 0.
__kernel void quantize_linear(__global const float* X, int x_off, __global const float* S,
                              int s_off, __global const uchar* Z, int z_off, __global uchar* Y,
                              int y_off, int n, int axis_dim, int inner, int per_axis, int has_zp,
                              uchar mask, int lo, int hi) {
  const int e = get_global_id(0);
  if (e >= n) return;
  const int s = per_axis ? (e / inner) % axis_dim : 0;
  const int zp = has_zp ? byte_value(Z[z_off + s], mask) : 0;
  const float q = X[x_off + e] / S[s_off + s];
  Y[y_off + e] = (uchar)quantize_one(q, zp, lo, hi);
}

// y[e] = (x[e] - zp[s]) * scale[s] (the difference is exact in float; one rounding).
__kernel void dequantize_linear(__global const uchar* X, int x_off, __global const float* S,
                                int s_off, __global const uchar* Z, int z_off, __global float* Y,
                                int y_off, int n, int axis_dim, int inner, int per_axis, int has_zp,
                                uchar mask) {
  const int e = get_global_id(0);
  if (e >= n) return;
  const int s = per_axis ? (e / inner) % axis_dim : 0;
  const int zb = has_zp ? (int)(Z[z_off + s] ^ mask) : (int)mask;
  const float d = (float)((int)(X[x_off + e] ^ mask) - zb);
  Y[y_off + e] = d * S[s_off + s];
}

// DynamicQuantizeLinear, step 1: work-item g keeps min / max (starting at 0, NaN ignored) of
// elements g, g + G, g + 2G ... in P[2g], P[2g + 1].
__kernel void dql_partial(__global const float* X, int x_off, __global float* P, int p_off, int n) {
  const int g = get_global_id(0), G = get_global_size(0);
  float mn = 0.0f, mx = 0.0f;
  for (int i = g; i < n; i += G) {
    const float v = X[x_off + i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  P[p_off + 2 * g] = mn;
  P[p_off + 2 * g + 1] = mx;
}

// Step 2 (one work-item): the scale and zero point exactly as the CPU computes them.
// ort_rule: DynamicQuantizeMatMul's parameters (a NaN zero point becomes 0 before rounding).
__kernel void dql_params(__global const float* P, int p_off, __global float* SC, int sc_off,
                         __global uchar* ZP, int zp_off, int parts, int ort_rule) {
  if (get_global_id(0) != 0) return;
  float mn = 0.0f, mx = 0.0f;
  for (int i = 0; i < parts; ++i) {
    const float a = P[p_off + 2 * i], b = P[p_off + 2 * i + 1];
    if (a < mn) mn = a;
    if (b > mx) mx = b;
  }
  const float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float z = 0.0f - mn / scale;
  if (ort_rule) {
    if (!(z >= 0.0f)) z = 0.0f;
    z = min(255.0f, z);
  } else {
    z = z < 0.0f ? 0.0f : (z > 255.0f ? 255.0f : z);
  }
  SC[sc_off] = scale;
  ZP[zp_off] = (uchar)(int)rint(z);
}

// Step 3: y = saturate(rint(x / scale) + zp) into 0..255. nan_zp: a NaN gives the zero point
// (DynamicQuantizeMatMul's rule) instead of 0.
__kernel void dql_quantize(__global const float* X, int x_off, __global const float* SC, int sc_off,
                           __global const uchar* ZP, int zp_off, __global uchar* Y, int y_off,
                           int n, int nan_zp) {
  const int e = get_global_id(0);
  if (e >= n) return;
  const float scale = SC[sc_off];
  const int zp = ZP[zp_off];
  const float q = X[x_off + e] / scale;
  Y[y_off + e] = (uchar)((nan_zp && isnan(q)) ? zp : quantize_one(q, zp, 0, 255));
}

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

// The epilogue shared by both GEMM kernels: int32 out, or float out = (float)acc * (a_scale *
// b_scale[n]) [+ bias[n]] in the CPU reference's order.
#define QGEMM_ARGS                                                                                 \
  __global const uchar *A, int a_off, __global const uchar *B, int b_off,                          \
      __global const uchar *AZ, int az_off, __global const uchar *BZ, int bz_off,                  \
      __global const float *AS, int as_off, __global const float *BS, int bs_off,                  \
      __global const float *BIAS, int bias_off, __global void *C, int c_off, int M, int N, int K,  \
      int nb, int8 bdims, int8 a_bstrides, int8 b_bstrides, uchar amask, uchar bmask, int has_azp, \
      int has_bzp, int bzp_stride, int float_out, int bs_stride, int has_bias

inline void store_one(__global void* C, int c_off, int idx, uint acc, int float_out,
                      __global const float* AS, int as_off, __global const float* BS, int bs_idx,
                      __global const float* BIAS, int bias_idx, int has_bias) {
  if (!float_out) {
    ((__global int*)C)[c_off + idx] = as_int(acc);
    return;
  }
  const float s = AS[as_off] * BS[bs_idx];
  float v = (float)as_int(acc) * s;
  if (has_bias) v = v + BIAS[bias_idx];
  ((__global float*)C)[c_off + idx] = v;
}

// General integer GEMM: each work-item computes a 4 x 4 block with clamped scalar loads and
// masked stores (any N, the fallback of qgemm_nn). gid0: column block, gid1: row block,
// gid2: batch.
__kernel void qgemm(QGEMM_ARGS) {
  const int n0 = get_global_id(0) * 4, m0 = get_global_id(1) * 4, b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const __global uchar* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global uchar* bm = B + b_off + batch_offset(b, nb, bdims, b_bstrides);
  const int azb = has_azp ? (int)(AZ[az_off] ^ amask) : (int)amask;
  int rows[4], cols[4], bz[4];
  for (int i = 0; i < 4; ++i) rows[i] = min(m0 + i, M - 1) * K;
  for (int j = 0; j < 4; ++j) {
    cols[j] = min(n0 + j, N - 1);
    bz[j] = has_bzp ? (int)(BZ[bz_off + cols[j] * bzp_stride] ^ bmask) : (int)bmask;
  }
  uint acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0u;
  for (int k = 0; k < K; ++k) {
    int av[4], bv[4];
    for (int i = 0; i < 4; ++i) av[i] = (int)(a[rows[i] + k] ^ amask) - azb;
    for (int j = 0; j < 4; ++j) bv[j] = (int)(bm[k * N + cols[j]] ^ bmask) - bz[j];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j] += (uint)(av[i] * bv[j]);
  }
  __global void* c = C;
  const int cbase = c_off + b * M * N;
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + i;
    if (m >= M) break;
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + j;
      if (n >= N) break;
      store_one(c, cbase, m * N + n, acc[i][j], float_out, AS, as_off, BS, bs_off + n * bs_stride,
                BIAS, bias_off + n, has_bias);
    }
  }
}

// Register-blocked integer GEMM for N >= 16: QTM rows x 16 columns per work-item, B rows read
// as uchar16 and widened to int16, A read 4 bytes at a time, no local memory. The last column
// block is shifted left to end at N and stores only the columns it owns.
__kernel void qgemm_nn(QGEMM_ARGS) {
  const int n0 = get_global_id(0) * 16, m0 = get_global_id(1) * QTM, b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const int ns = min(n0, N - 16);
  const __global uchar* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global uchar* bp = B + b_off + batch_offset(b, nb, bdims, b_bstrides) + ns;
  const int azb = has_azp ? (int)(AZ[az_off] ^ amask) : (int)amask;
  int16 bz = (int16)((int)bmask);
  if (has_bzp) {
    bz = bzp_stride ? convert_int16(vload16(0, BZ + bz_off + ns) ^ (uchar16)(bmask))
                    : (int16)((int)(BZ[bz_off] ^ bmask));
  }
  const uchar16 bm16 = (uchar16)(bmask);
  const uchar4 am4 = (uchar4)(amask);
  const __global uchar* ar[QTM];
#pragma unroll
  for (int i = 0; i < QTM; ++i) ar[i] = a + min(m0 + i, M - 1) * K;
  uint16 acc[QTM];
#pragma unroll
  for (int i = 0; i < QTM; ++i) acc[i] = (uint16)(0u);
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    const int16 b0 = convert_int16(vload16(0, bp) ^ bm16) - bz;
    const int16 b1 = convert_int16(vload16(0, bp + N) ^ bm16) - bz;
    const int16 b2 = convert_int16(vload16(0, bp + 2 * N) ^ bm16) - bz;
    const int16 b3 = convert_int16(vload16(0, bp + 3 * N) ^ bm16) - bz;
    bp += 4 * N;
#pragma unroll
    for (int i = 0; i < QTM; ++i) {
      const int4 av = convert_int4(vload4(0, ar[i] + k) ^ am4) - azb;
      acc[i] += as_uint16(av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3);
    }
  }
  for (; k < K; ++k) {
    const int16 b0 = convert_int16(vload16(0, bp) ^ bm16) - bz;
    bp += N;
#pragma unroll
    for (int i = 0; i < QTM; ++i) {
      const int av = (int)(ar[i][k] ^ amask) - azb;
      acc[i] += as_uint16(av * b0);
    }
  }
  const int cbase = c_off + b * M * N;
#pragma unroll
  for (int i = 0; i < QTM; ++i) {
    const int m = m0 + i;
    if (m >= M) break;
    if (!float_out && ns == n0) {
      vstore16(as_int16(acc[i]), 0, (__global int*)C + cbase + m * N + ns);
      continue;
    }
    uint t[16];
    vstore16(acc[i], 0, t);
    for (int j = 0; j < 16; ++j) {
      const int n = ns + j;
      if (n < n0) continue;
      store_one(C, cbase, m * N + n, t[j], float_out, AS, as_off, BS, bs_off + n * bs_stride, BIAS,
                bias_off + n, has_bias);
    }
  }
}

inline uint hsum_u16(uint16 v) {
  uint8 a = v.lo + v.hi;
  uint4 b = a.lo + a.hi;
  uint2 c = b.lo + b.hi;
  return c.x + c.y;
}

// Integer GEMM with B stored transposed, BT [N, K] (see qtranspose_b): each work-item computes
// 4 x 4 dot products along K with uchar16 loads, exact float16 FMA partial sums over chunks of
// 4096 values of k moved into 32-bit integer lanes, summed at the end (the order of a wrapping
// integer sum does not matter), a scalar tail for K % 16, clamped rows and masked stores. gid0:
// column block, gid1: row block, gid2: batch.
__kernel void qgemm_nt(QGEMM_ARGS) {
  const int n0 = get_global_id(0) * 4, m0 = get_global_id(1) * 4, b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const __global uchar* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global uchar* bm = B + b_off + batch_offset(b, nb, bdims, b_bstrides);
  const int azb = has_azp ? (int)(AZ[az_off] ^ amask) : (int)amask;
  const uchar16 am16 = (uchar16)(amask), bm16 = (uchar16)(bmask);
  const __global uchar* ar[4];
  const __global uchar* br[4];
  int bz[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) ar[i] = a + min(m0 + i, M - 1) * K;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int c = min(n0 + j, N - 1);
    br[j] = bm + c * K;
    bz[j] = has_bzp ? (int)(BZ[bz_off + c * bzp_stride] ^ bmask) : (int)bmask;
  }
  // The products (x - zp) * (w - zp) are integers of at most 17 bits and a lane adds at most
  // 256 of them (< 2^24) before it is moved to the 32-bit integer sums: float FMA is exact
  // here, and faster on CPUs than 32-bit integer multiplies.
  const float fazb = (float)azb;
  float fbz[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) fbz[j] = (float)bz[j];
  uint16 acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = (uint16)(0u);
  int k = 0;
  while (k + 16 <= K) {
    const int kend = min(K, k + 16 * 256);
    float16 facc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) facc[i][j] = (float16)(0.0f);
    for (; k + 16 <= kend; k += 16) {
      float16 av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = convert_float16(vload16(0, ar[i] + k) ^ am16) - fazb;
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = convert_float16(vload16(0, br[j] + k) ^ bm16) - fbz[j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) facc[i][j] = fma(av[i], bv[j], facc[i][j]);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += as_uint16(convert_int16(facc[i][j]));
  }
  uint s[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) s[i][j] = hsum_u16(acc[i][j]);
  for (; k < K; ++k) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int av = (int)(ar[i][k] ^ amask) - azb;
#pragma unroll
      for (int j = 0; j < 4; ++j) s[i][j] += (uint)(av * ((int)(br[j][k] ^ bmask) - bz[j]));
    }
  }
  const int cbase = c_off + b * M * N;
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + i;
    if (m >= M) break;
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + j;
      if (n >= N) break;
      store_one(C, cbase, m * N + n, s[i][j], float_out, AS, as_off, BS, bs_off + n * bs_stride,
                BIAS, bias_off + n, has_bias);
    }
  }
}

// ---- Integer GEMM through 4 x 8-bit dot products (cl_khr_integer_dot_product) -----------------
//
// DOT4U(a, b): the unsigned dot product of two uchar4 (4 bytes of k packed in one 32-bit word),
// a uint. With cl_khr_integer_dot_product the host passes -DKILN_DOT4=1 (the device reports
// CL_DEVICE_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_KHR: dot(uchar4, uchar4)) or -DKILN_DOT4=2 (only the
// packed form: dot_4x8packed_uu_uint); only the non-saturating builtins are used, so every sum
// wraps in 32 bits like the CPU reference. Without them (PoCL here) the portable expression runs,
// so the packing, signedness and zero-point correction below are tested on any device. The
// mapping to the builtins is not run in the tests (PoCL lacks the extension); it was only compiled
// (clang 14, spir64, CL3.0 with the extension and its 4x8-bit feature macros).
#if defined(KILN_DOT4) && defined(cl_khr_integer_dot_product)
#if KILN_DOT4 == 1
#define DOT4U(a, b) dot((uchar4)(a), (uchar4)(b))
#else
#define DOT4U(a, b) dot_4x8packed_uu_uint(as_uint((uchar4)(a)), as_uint((uchar4)(b)))
#endif
#else
#define DOT4U(a, b)                                                                             \
  ((uint)(a).x * (uint)(b).x + (uint)(a).y * (uint)(b).y + (uint)(a).z * (uint)(b).z +          \
   (uint)(a).w * (uint)(b).w)
#endif

inline uint dot16u(uchar16 a, uchar16 b) {
  return DOT4U(a.s0123, b.s0123) + DOT4U(a.s4567, b.s4567) + DOT4U(a.s89ab, b.s89ab) +
         DOT4U(a.scdef, b.scdef);
}

// Integer GEMM on BT [N, K] (qtranspose_b) with one unsigned dot product for every u8 / s8 mix:
// bytes are taken as u = x ^ mask (0..255; x - zp == u - zu with zu = zp ^ mask), so
//   sum_k (ua - zua)(ub - zub) = sum ua ub - zub sum ua - zua sum ub + K zua zub   (mod 2^32),
// the row sums of A and column sums of B being dot products with (1, 1, 1, 1). All sums are
// uint and wrap exactly as the CPU's uint32 accumulator. 4 x 4 outputs per work-item, K in steps
// of 16 bytes (four packed words per row / column), then 4, then single bytes; clamped rows and
// masked stores. gid0: column block, gid1: row block, gid2: batch.
__kernel void qgemm_dot(QGEMM_ARGS) {
  const int n0 = get_global_id(0) * 4, m0 = get_global_id(1) * 4, b = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const __global uchar* a = A + a_off + batch_offset(b, nb, bdims, a_bstrides);
  const __global uchar* bm = B + b_off + batch_offset(b, nb, bdims, b_bstrides);
  const uint za = has_azp ? (uint)(AZ[az_off] ^ amask) : (uint)amask;
  const uchar16 am16 = (uchar16)(amask), bm16 = (uchar16)(bmask), ones16 = (uchar16)(1);
  const __global uchar* ar[4];
  const __global uchar* br[4];
  uint zb[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) ar[i] = a + min(m0 + i, M - 1) * K;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int c = min(n0 + j, N - 1);
    br[j] = bm + c * K;
    zb[j] = has_bzp ? (uint)(BZ[bz_off + c * bzp_stride] ^ bmask) : (uint)bmask;
  }
  uint acc[4][4], ra[4], cb[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    ra[i] = 0u;
    cb[i] = 0u;
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0u;
  }
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    uchar16 av[4], bv[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      av[i] = vload16(0, ar[i] + k) ^ am16;
      ra[i] += dot16u(av[i], ones16);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      bv[j] = vload16(0, br[j] + k) ^ bm16;
      cb[j] += dot16u(bv[j], ones16);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += dot16u(av[i], bv[j]);
  }
  const uchar4 am4 = (uchar4)(amask), bm4 = (uchar4)(bmask), ones4 = (uchar4)(1);
  for (; k + 4 <= K; k += 4) {
    uchar4 av[4], bv[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      av[i] = vload4(0, ar[i] + k) ^ am4;
      ra[i] += DOT4U(av[i], ones4);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      bv[j] = vload4(0, br[j] + k) ^ bm4;
      cb[j] += DOT4U(bv[j], ones4);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += DOT4U(av[i], bv[j]);
  }
  for (; k < K; ++k) {
    uint av[4], bv[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      av[i] = (uint)(ar[i][k] ^ amask);
      ra[i] += av[i];
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      bv[j] = (uint)(br[j][k] ^ bmask);
      cb[j] += bv[j];
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
  }
  const int cbase = c_off + b * M * N;
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + i;
    if (m >= M) break;
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + j;
      if (n >= N) break;
      const uint s = acc[i][j] - zb[j] * ra[i] - za * cb[j] + (uint)K * za * zb[j];
      store_one(C, cbase, m * N + n, s, float_out, AS, as_off, BS, bs_off + n * bs_stride, BIAS,
                bias_off + n, has_bias);
    }
  }
}

// Copies the bytes of B [nbb][K][N] (dense) to BT [nbb][N][K] for qgemm_nt, 16 x 16 per
// work-item. gid0: block of 16 columns of B, gid1: block of 16 rows, gid2: matrix.
__kernel void qtranspose_b(__global const uchar* B, int b_off, __global uchar* BT, int bt_off,
                           int K, int N) {
  const int n0 = get_global_id(0) * 16, k0 = get_global_id(1) * 16, b = get_global_id(2);
  if (n0 >= N || k0 >= K) return;
  const __global uchar* src = B + b_off + (long)b * K * N;
  __global uchar* dst = BT + bt_off + (long)b * K * N;
  const int nn = min(16, N - n0), kk = min(16, K - k0);
  for (int j = 0; j < nn; ++j)
    for (int i = 0; i < kk; ++i) dst[(n0 + j) * K + k0 + i] = src[(k0 + i) * N + n0 + j];
}

// ---- QLinearMatMul requantization --------------------------------------------------------------
// y = saturate(rint(C * m) + y_zp) with m = (a_scale * b_scale[n]) / y_scale in float (the
// division correctly rounded: the program is built with -cl-fp32-correctly-rounded-divide-sqrt)
// and C * m evaluated as the CPU reference does, in double, without needing fp64: the exact
// product of C and m's 24-bit significand is a 56-bit integer, rounded to 53 significant bits (the
// double multiply) and then to an integer half to even (rint), all in 64-bit integers.

// x >> s (1 <= s <= 62) rounded half to even.
inline ulong rne_shift(ulong x, int s) {
  const ulong q = x >> s, rem = x & ((1ul << s) - 1ul), hv = 1ul << (s - 1);
  return q + ((rem > hv || (rem == hv && (q & 1ul))) ? 1ul : 0ul);
}

inline int requant_one(int c, float mult, int zp, int lo, int hi) {
  if (isnan(mult) || (isinf(mult) && c == 0)) return lo;
  if (c == 0 || mult == 0.0f) return clamp(zp, lo, hi);
  const int neg = (c < 0) != (mult < 0.0f);
  if (isinf(mult)) return neg ? lo : hi;
  const uint bits = as_uint(mult) & 0x7fffffffu;
  const int ef = (int)(bits >> 23);
  const ulong mant = ef == 0 ? (ulong)(bits & 0x7fffffu) : (ulong)((bits & 0x7fffffu) | 0x800000u);
  const int e = ef == 0 ? -149 : ef - 150;
  ulong p = (ulong)abs(c) * mant;  // < 2^55
  // The double product: p rounded to 53 significant bits.
  const int bl = 64 - (int)clz(p);
  if (bl > 53) p = rne_shift(p, bl - 53) << (bl - 53);
  ulong r;
  const ulong big = 1ul << 30;
  if (e >= 0) {
    r = (e >= 20 || p >= (1ul << 20)) ? big : (p << e);
  } else {
    r = -e >= 57 ? 0ul : rne_shift(p, -e);
  }
  if (r > big) r = big;
  const int v = neg ? -(int)r : (int)r;
  return clamp(v + zp, lo, hi);
}

// The multipliers m[n] = (a_scale * b_scale[n]) / y_scale, one per column (bs_stride 1) or one.
__kernel void qlinear_multipliers(__global const float* AS, int as_off, __global const float* BS,
                                  int bs_off, __global const float* YS, int ys_off,
                                  __global float* MU, int mu_off, int count) {
  const int n = get_global_id(0);
  if (n >= count) return;
  const float ab = AS[as_off] * BS[bs_off + n];
  MU[mu_off + n] = ab / YS[ys_off];
}

// C: int32 products [rows][N], Y: bytes [rows][N]; mu_stride 1: multiplier per column.
// gid0: column, gid1: row.
__kernel void qlinear_requant(__global const int* C, int c_off, __global const float* MU,
                              int mu_off, __global const uchar* YZ, int yz_off, __global uchar* Y,
                              int y_off, int rows, int N, int mu_stride, uchar ymask, int lo,
                              int hi) {
  const int n = get_global_id(0), r = get_global_id(1);
  if (n >= N || r >= rows) return;
  const int e = r * N + n;
  const int v = requant_one(C[c_off + e], MU[mu_off + n * mu_stride], byte_value(YZ[yz_off], ymask),
                            lo, hi);
  Y[y_off + e] = (uchar)(v & 0xff);
}
