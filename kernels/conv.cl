// nn kernels: convolution (direct, im2col for the GEMM kernels of kernels/matmul.cl, depthwise),
// windowed and global pools, BatchNormalization (inference) and Resize / Upsample through
// host-built tap tables. Built with no options (float32), and with -DKILN_HALF for the direct
// conv kernels on float16 tensors (see CT / LOAD / STORE below).
//
// Spatial geometry follows runtime/cpu/ops/nn_internal.h: up to three spatial axes, normalised to
// exactly three by prepending unit axes, passed as int4 vectors (x, y, z = axes 0, 1, 2; w unused)
// for input sizes `in`, kernel sizes `k`, strides `s`, dilations `d`, leading pads `pb`, trailing
// pads `pe` and output sizes `out`. Every output element accumulates in the CPU reference's order.

inline int floor_div(int a, int b) {
  int q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
inline int ceil_div(int a, int b) { return -floor_div(-a, b); }

// CT: storage of the direct conv kernels' X, W, B and Y: float, or half with -DKILN_HALF (read with
// vload_half, written with vstore_half_rte: round to nearest even as the CPU reference; all
// arithmetic in float). The other kernels of this file are float32 in both builds.
#ifdef KILN_HALF
#define CT half
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#else
#define CT float
#define LOAD(p, i) ((p)[(i)])
#define STORE(p, i, v) ((p)[(i)] = (v))
#endif

// --- Conv: direct ----------------------------------------------------------------------------
// Each work-item computes TM output channels (of one group) x TP consecutive output pixels of
// one output row (fixed o0, o1), accumulating over (input channel, k0, k1, k2) in registers.
// gid0: row * pblocks + pixel block; gid1: group * mblocks + channel block; gid2: batch.
// Offsets are element indices (no pointer arithmetic on half pointers).

#define CONV_KERNEL(NAME, TM, TP)                                                                \
  __kernel void NAME(__global const CT* X, int x_off, __global const CT* W, int w_off,             \
                     __global const CT* B, int b_off, __global CT* Y, int y_off, int C, int M,     \
                     int cg, int mg, int groups, int mblocks, int pblocks, int has_bias, int4 in, \
                     int4 k, int4 s, int4 d, int4 pb, int4 out) {                                \
    const int rows = out.x * out.y;                                                              \
    const int g0 = get_global_id(0), g1 = get_global_id(1), n = get_global_id(2);                \
    if (g0 >= rows * pblocks || g1 >= groups * mblocks) return;                                  \
    const int row = g0 / pblocks, o2s = (g0 % pblocks) * TP;                                     \
    const int o0 = row / out.y, o1 = row % out.y;                                                \
    const int grp = g1 / mblocks;                                                                \
    const int m0 = grp * mg + (g1 % mblocks) * TM, mend = grp * mg + mg;                         \
    const int ksz = k.x * k.y * k.z, insz = in.x * in.y * in.z;                                  \
    const int xg = x_off + (n * C + grp * cg) * insz;                                            \
    int wr[TM];                                                                                  \
    for (int j = 0; j < TM; ++j) wr[j] = w_off + min(m0 + j, mend - 1) * cg * ksz;               \
    const int b0 = o0 * s.x - pb.x, b1 = o1 * s.y - pb.y;                                        \
    int b2[TP];                                                                                  \
    for (int i = 0; i < TP; ++i) b2[i] = min(o2s + i, out.z - 1) * s.z - pb.z;                   \
    /* Every pixel of the block is real and every tap along axis 2 lands inside the input. */ \
    const bool interior = o2s + TP <= out.z && b2[0] >= 0 && b2[TP - 1] + (k.z - 1) * d.z < in.z; \
    float acc[TM][TP];                                                                           \
    for (int j = 0; j < TM; ++j)                                                                 \
      for (int i = 0; i < TP; ++i) acc[j][i] = 0.0f;                                             \
    for (int c = 0; c < cg; ++c) {                                                               \
      const int xc = xg + c * insz;                                                              \
      const int wc = c * ksz;                                                                    \
      for (int k0 = 0; k0 < k.x; ++k0) {                                                         \
        const int i0 = b0 + k0 * d.x;                                                            \
        if (i0 < 0 || i0 >= in.x) continue;                                                      \
        for (int k1 = 0; k1 < k.y; ++k1) {                                                       \
          const int i1 = b1 + k1 * d.y;                                                          \
          if (i1 < 0 || i1 >= in.y) continue;                                                    \
          const int xrow = xc + (i0 * in.y + i1) * in.z;                                         \
          const int kb = wc + (k0 * k.y + k1) * k.z;                                             \
          for (int k2 = 0; k2 < k.z; ++k2) {                                                     \
            float wv[TM];                                                                        \
            for (int j = 0; j < TM; ++j) wv[j] = LOAD(W, wr[j] + kb + k2);                       \
            const int kd = k2 * d.z;                                                             \
            if (interior) {                                                                      \
              for (int i = 0; i < TP; ++i) {                                                     \
                const float xv = LOAD(X, xrow + b2[i] + kd);                                     \
                for (int j = 0; j < TM; ++j) acc[j][i] = fma(wv[j], xv, acc[j][i]);              \
              }                                                                                  \
            } else {                                                                             \
              for (int i = 0; i < TP; ++i) {                                                     \
                const int i2 = b2[i] + kd;                                                       \
                if (i2 >= 0 && i2 < in.z) {                                                      \
                  const float xv = LOAD(X, xrow + i2);                                           \
                  for (int j = 0; j < TM; ++j) acc[j][i] = fma(wv[j], xv, acc[j][i]);            \
                }                                                                                \
              }                                                                                  \
            }                                                                                    \
          }                                                                                      \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
    for (int j = 0; j < TM; ++j) {                                                               \
      const int m = m0 + j;                                                                      \
      if (m >= mend) break;                                                                      \
      const float bv = has_bias ? LOAD(B, b_off + m) : 0.0f;                                     \
      const int yr = y_off + ((n * M + m) * rows + row) * out.z;                                 \
      for (int i = 0; i < TP; ++i) {                                                             \
        const int o2 = o2s + i;                                                                  \
        if (o2 >= out.z) break;                                                                  \
        STORE(Y, yr + o2, has_bias ? acc[j][i] + bv : acc[j][i]);                                \
      }                                                                                          \
    }                                                                                            \
  }

CONV_KERNEL(conv_m4p4, 4, 4)
CONV_KERNEL(conv_m1p8, 1, 8)

// --- Conv: im2col (float32) ------------------------------------------------------------------
// Unfolds the input of one group-1 convolution into a scratch matrix for the GEMM kernels of
// kernels/matmul.cl, with zeros where a tap falls into the padding. Rows r = (c, k0, k1, k2) of
// Kc = C * kernel size, columns p = output pixels (P of them), per image n:
//   im2col_pk: col[n][p][r] (B stored [N, K] for gemm_nt). One work-item per pixel writes its
//              Kc values in order (gid0: p, gid1: n).
//   im2col_kp: col[n][r][p] (B = [K, N] for gemm_nn). One work-item per (output row, r) writes
//              that row's out.z pixels in order (gid0: row o0 * out.y + o1, gid1: r, gid2: n).
// Index arithmetic (divisions) happens once per work-item, not per element.

__kernel void im2col_pk(__global const float* X, int x_off, __global float* col, int col_off,
                        int C, int P, int Kc, int4 in, int4 k, int4 s, int4 d, int4 pb,
                        int4 out) {
  const int p = get_global_id(0), n = get_global_id(1);
  if (p >= P) return;
  const int o2 = p % out.z, t = p / out.z;
  const int o1 = t % out.y, o0 = t / out.y;
  const int b0 = o0 * s.x - pb.x, b1 = o1 * s.y - pb.y, b2 = o2 * s.z - pb.z;
  const int insz = in.x * in.y * in.z;
  __global float* dst = col + col_off + (n * P + p) * Kc;
  const __global float* xc = X + x_off + n * C * insz;
  for (int c = 0; c < C; ++c, xc += insz) {
    for (int k0 = 0; k0 < k.x; ++k0) {
      const int i0 = b0 + k0 * d.x;
      const bool ok0 = i0 >= 0 && i0 < in.x;
      for (int k1 = 0; k1 < k.y; ++k1) {
        const int i1 = b1 + k1 * d.y;
        if (!ok0 || i1 < 0 || i1 >= in.y) {
          for (int k2 = 0; k2 < k.z; ++k2) *dst++ = 0.0f;
          continue;
        }
        const __global float* xrow = xc + (i0 * in.y + i1) * in.z;
        for (int k2 = 0, i2 = b2; k2 < k.z; ++k2, i2 += d.z)
          *dst++ = (i2 >= 0 && i2 < in.z) ? xrow[i2] : 0.0f;
      }
    }
  }
}

__kernel void im2col_kp(__global const float* X, int x_off, __global float* col, int col_off,
                        int C, int P, int Kc, int4 in, int4 k, int4 s, int4 d, int4 pb,
                        int4 out) {
  const int row = get_global_id(0), r = get_global_id(1), n = get_global_id(2);
  if (row >= out.x * out.y || r >= Kc) return;
  const int k2 = r % k.z, t = r / k.z;
  const int k1 = t % k.y, t2 = t / k.y;
  const int k0 = t2 % k.x, c = t2 / k.x;
  const int o0 = row / out.y, o1 = row % out.y;
  const int i0 = o0 * s.x - pb.x + k0 * d.x, i1 = o1 * s.y - pb.y + k1 * d.y;
  __global float* dst = col + col_off + (n * Kc + r) * P + row * out.z;
  if (i0 < 0 || i0 >= in.x || i1 < 0 || i1 >= in.y) {
    for (int o2 = 0; o2 < out.z; ++o2) dst[o2] = 0.0f;
    return;
  }
  const __global float* xrow = X + x_off + (((n * C + c) * in.x + i0) * in.y + i1) * in.z;
  for (int o2 = 0, i2 = k2 * d.z - pb.z; o2 < out.z; ++o2, i2 += s.z)
    dst[o2] = (i2 >= 0 && i2 < in.z) ? xrow[i2] : 0.0f;
}

// --- Conv: depthwise (float32) ---------------------------------------------------------------
// group == C == M: one input plane per output plane. Each work-item computes one output row of
// one plane: the pixels [lo, hi) whose taps all lie inside the input row go 8 at a time in a
// float8, loaded with vload8 (stride 1), vload16(..).even (stride 2) or gathers; the pixels
// before lo, and after the last whole block, one at a time with bounds checks. Taps accumulate
// in the CPU's (k0, k1, k2) order. gid0: row (o0 * out.y + o1), gid1: plane (n * C + c).

// One output pixel o2 of the row (taps outside the input skipped).
inline float dw_pixel(const __global float* xp, const __global float* wp, int o2, int b0, int b1,
                      int4 in, int4 k, int4 s, int4 d, int4 pb) {
  const int b2 = o2 * s.z - pb.z;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k.x; ++k0) {
    const int i0 = b0 + k0 * d.x;
    if (i0 < 0 || i0 >= in.x) continue;
    for (int k1 = 0; k1 < k.y; ++k1) {
      const int i1 = b1 + k1 * d.y;
      if (i1 < 0 || i1 >= in.y) continue;
      const __global float* xrow = xp + (i0 * in.y + i1) * in.z;
      const __global float* wrow = wp + (k0 * k.y + k1) * k.z;
      for (int k2 = 0; k2 < k.z; ++k2) {
        const int i2 = b2 + k2 * d.z;
        if (i2 >= 0 && i2 < in.z) acc = fma(wrow[k2], xrow[i2], acc);
      }
    }
  }
  return acc;
}

__kernel void conv_dw(__global const float* X, int x_off, __global const float* W, int w_off,
                      __global const float* B, int b_off, __global float* Y, int y_off, int C,
                      int planes, int has_bias, int4 in, int4 k, int4 s, int4 d, int4 pb,
                      int4 out) {
  const int rows = out.x * out.y;
  const int row = get_global_id(0), pl = get_global_id(1);
  if (row >= rows || pl >= planes) return;
  const int o0 = row / out.y, o1 = row % out.y;
  const int c = pl % C;
  const int ksz = k.x * k.y * k.z;
  const __global float* xp = X + x_off + pl * (in.x * in.y * in.z);
  const __global float* wp = W + w_off + c * ksz;
  const int b0 = o0 * s.x - pb.x, b1 = o1 * s.y - pb.y;
  const float bv = has_bias ? B[b_off + c] : 0.0f;
  __global float* yr = Y + y_off + (pl * rows + row) * out.z;
  // [lo, hi): the output pixels whose every tap along axis 2 is inside the input.
  const int lo = clamp((pb.z + s.z - 1) / s.z, 0, out.z);
  const int span = in.z - 1 - (k.z - 1) * d.z + pb.z;
  const int hi = span < 0 ? lo : clamp(span / s.z + 1, lo, out.z);
  for (int o2 = 0; o2 < lo; ++o2)
    yr[o2] = dw_pixel(xp, wp, o2, b0, b1, in, k, s, d, pb) + bv;
  int o2s = lo;
  for (; o2s + 8 <= hi; o2s += 8) {
    const int b2 = o2s * s.z - pb.z;
    const bool wide2 = s.z == 2 && b2 + 15 + (k.z - 1) * d.z < in.z;  // vload16 stays inside
    float8 acc = (float8)(0.0f);
    for (int k0 = 0; k0 < k.x; ++k0) {
      const int i0 = b0 + k0 * d.x;
      if (i0 < 0 || i0 >= in.x) continue;
      for (int k1 = 0; k1 < k.y; ++k1) {
        const int i1 = b1 + k1 * d.y;
        if (i1 < 0 || i1 >= in.y) continue;
        const __global float* xrow = xp + (i0 * in.y + i1) * in.z + b2;
        const __global float* wrow = wp + (k0 * k.y + k1) * k.z;
        if (s.z == 1) {
          for (int k2 = 0; k2 < k.z; ++k2)
            acc = fma((float8)(wrow[k2]), vload8(0, xrow + k2 * d.z), acc);
        } else if (wide2) {
          for (int k2 = 0; k2 < k.z; ++k2)
            acc = fma((float8)(wrow[k2]), vload16(0, xrow + k2 * d.z).even, acc);
        } else {
          const int st = s.z;
          for (int k2 = 0; k2 < k.z; ++k2) {
            const __global float* q = xrow + k2 * d.z;
            const float8 xv = (float8)(q[0], q[st], q[2 * st], q[3 * st], q[4 * st], q[5 * st],
                                       q[6 * st], q[7 * st]);
            acc = fma((float8)(wrow[k2]), xv, acc);
          }
        }
      }
    }
    vstore8(acc + (float8)(bv), 0, yr + o2s);
  }
  for (int o2 = o2s; o2 < out.z; ++o2)
    yr[o2] = dw_pixel(xp, wp, o2, b0, b1, in, k, s, d, pb) + bv;
}

// --- MaxPool / AveragePool -------------------------------------------------------------------
// One work-item per output element. mode 0: max (NaN never wins, an empty window gives -inf);
// 1: average over the positions inside the input; 2: average counting the explicit padding.

#define POOL_MAX 0
#define POOL_AVG 1
#define POOL_AVG_PAD 2

__kernel void pool(__global const float* X, int x_off, __global float* Y, int y_off, int total,
                   int mode, int4 in, int4 k, int4 s, int4 d, int4 pb, int4 pe, int4 out) {
  const int gid = get_global_id(0);
  if (gid >= total) return;
  const int osz = out.x * out.y * out.z, insz = in.x * in.y * in.z;
  const int pl = gid / osz, p = gid % osz;
  const int o2 = p % out.z, o1 = (p / out.z) % out.y, o0 = p / (out.z * out.y);
  const int st0 = o0 * s.x - pb.x, st1 = o1 * s.y - pb.y, st2 = o2 * s.z - pb.z;
  // Kernel index ranges [lo, hi) whose positions fall inside the input.
  const int lo0 = max(0, ceil_div(-st0, d.x));
  const int hi0 = max(lo0, min(k.x, floor_div(in.x - 1 - st0, d.x) + 1));
  const int lo1 = max(0, ceil_div(-st1, d.y));
  const int hi1 = max(lo1, min(k.y, floor_div(in.y - 1 - st1, d.y) + 1));
  const int lo2 = max(0, ceil_div(-st2, d.z));
  const int hi2 = max(lo2, min(k.z, floor_div(in.z - 1 - st2, d.z) + 1));
  const __global float* xp = X + x_off + pl * insz;
  float r;
  if (mode == POOL_MAX) {
    float best = -INFINITY;
    for (int j0 = lo0; j0 < hi0; ++j0) {
      const int i0 = st0 + j0 * d.x;
      for (int j1 = lo1; j1 < hi1; ++j1) {
        const int rowo = (i0 * in.y + st1 + j1 * d.y) * in.z;
        for (int j2 = lo2; j2 < hi2; ++j2) {
          const float v = xp[rowo + st2 + j2 * d.z];
          if (v > best) best = v;
        }
      }
    }
    r = best;
  } else {
    float sum = 0.0f;
    for (int j0 = lo0; j0 < hi0; ++j0) {
      const int i0 = st0 + j0 * d.x;
      for (int j1 = lo1; j1 < hi1; ++j1) {
        const int rowo = (i0 * in.y + st1 + j1 * d.y) * in.z;
        for (int j2 = lo2; j2 < hi2; ++j2) sum += xp[rowo + st2 + j2 * d.z];
      }
    }
    int count;
    if (mode == POOL_AVG_PAD) {
      const int a0 = max(0, ceil_div(-pb.x - st0, d.x)),
                c0 = max(a0, min(k.x, floor_div(in.x + pe.x - 1 - st0, d.x) + 1));
      const int a1 = max(0, ceil_div(-pb.y - st1, d.y)),
                c1 = max(a1, min(k.y, floor_div(in.y + pe.y - 1 - st1, d.y) + 1));
      const int a2 = max(0, ceil_div(-pb.z - st2, d.z)),
                c2 = max(a2, min(k.z, floor_div(in.z + pe.z - 1 - st2, d.z) + 1));
      count = (c0 - a0) * (c1 - a1) * (c2 - a2);
    } else {
      count = (hi0 - lo0) * (hi1 - lo1) * (hi2 - lo2);
    }
    r = count > 0 ? sum / (float)count : NAN;
  }
  Y[y_off + gid] = r;
}

// --- GlobalAveragePool / GlobalMaxPool -------------------------------------------------------
// One work-item per (batch, channel) plane of `size` elements. mode 0: average, 1: max (NaN
// propagates).

__kernel void global_pool(__global const float* X, int x_off, __global float* Y, int y_off,
                          int planes, int size, int mode) {
  const int pl = get_global_id(0);
  if (pl >= planes) return;
  const __global float* xp = X + x_off + pl * size;
  float r;
  if (mode == 0) {
    float sum = 0.0f;
    for (int i = 0; i < size; ++i) sum += xp[i];
    r = size > 0 ? sum / (float)size : NAN;
  } else {
    float best = -INFINITY;
    for (int i = 0; i < size; ++i) {
      const float v = xp[i];
      if (isnan(v) || v > best) best = v;
      if (isnan(best)) break;
    }
    r = best;
  }
  Y[y_off + pl] = r;
}

// --- BatchNormalization (inference) ----------------------------------------------------------
// y = (x - mean) / sqrt(var + eps) * scale + B, per channel (axis 1; `size` elements per plane).

__kernel void batch_norm(__global const float* X, int x_off, __global const float* S, int s_off,
                         __global const float* Bi, int b_off, __global const float* Mn, int m_off,
                         __global const float* V, int v_off, __global float* Y, int y_off,
                         int total, int C, int size, float eps) {
  const int gid = get_global_id(0);
  if (gid >= total) return;
  const int c = (gid / size) % C;
  const float v = X[x_off + gid];
  Y[y_off + gid] =
      (v - Mn[m_off + c]) / sqrt(V[v_off + c] + eps) * S[s_off + c] + Bi[b_off + c];
}

// --- Resize / Upsample -----------------------------------------------------------------------
// Separable resampling with per-axis tap tables built on the host (as the CPU reference builds
// them): for axis a and output coordinate o, taps [tap_begin[tb_off[a] + o],
// tap_begin[tb_off[a] + o + 1]) of (tap_idx, tap_w); a first tap index of -1 marks a coordinate
// outside the input (the output is `extrap`). One work-item per output element; single-tap axes
// fold into the base offset, multi-tap axes are walked as an odometer.

__kernel void resize(__global const float* X, int x_off, __global float* Y, int y_off, int total,
                     int rank, int8 out_dims, int8 in_strides, int8 tb_off,
                     __global const int* tap_begin, __global const int* tap_idx,
                     __global const float* tap_w, float extrap) {
  const int gid = get_global_id(0);
  if (gid >= total) return;
  const int od[8] = {out_dims.s0, out_dims.s1, out_dims.s2, out_dims.s3,
                     out_dims.s4, out_dims.s5, out_dims.s6, out_dims.s7};
  const int is[8] = {in_strides.s0, in_strides.s1, in_strides.s2, in_strides.s3,
                     in_strides.s4, in_strides.s5, in_strides.s6, in_strides.s7};
  const int tb[8] = {tb_off.s0, tb_off.s1, tb_off.s2, tb_off.s3,
                     tb_off.s4, tb_off.s5, tb_off.s6, tb_off.s7};
  int coord[8];
  int r = gid;
  for (int a = rank - 1; a >= 0; --a) {
    coord[a] = r % od[a];
    r /= od[a];
  }
  int base = 0;
  float wbase = 1.0f;
  int nm = 0;
  int mb[8], me[8], ms[8], cur[8];
  for (int a = 0; a < rank; ++a) {
    const int b = tap_begin[tb[a] + coord[a]], e = tap_begin[tb[a] + coord[a] + 1];
    if (tap_idx[b] < 0) {
      Y[y_off + gid] = extrap;
      return;
    }
    if (e - b == 1) {
      base += tap_idx[b] * is[a];
      wbase *= tap_w[b];
    } else {
      mb[nm] = b;
      me[nm] = e;
      ms[nm] = is[a];
      cur[nm] = b;
      ++nm;
    }
  }
  const __global float* xp = X + x_off;
  if (nm == 0) {
    Y[y_off + gid] = wbase == 1.0f ? xp[base] : wbase * xp[base];
    return;
  }
  float acc = 0.0f;
  for (;;) {
    int off = base;
    float w = wbase;
    for (int i = 0; i < nm; ++i) {
      off += tap_idx[cur[i]] * ms[i];
      w *= tap_w[cur[i]];
    }
    acc = fma(w, xp[off], acc);
    int i = nm - 1;
    for (; i >= 0; --i) {
      if (++cur[i] < me[i]) break;
      cur[i] = mb[i];
    }
    if (i < 0) break;
  }
  Y[y_off + gid] = acc;
}
