// Direct int8 convolution (runtime/opencl/ops_qconv.cpp): ConvInteger and QLinearConv, 1 to 3
// spatial axes (the geometry padded to 3 axes with leading 1s, as runtime/cpu/ops/nn_internal.h's
// Geom), groups (depthwise included), strides, dilations and pads. Each work-item computes one
// output pixel of QC_MB output channels of one group (4 where a group has 4 or more channels,
// else 1: the x bytes are read once for all of them); gid0: pixel of the output plane (padded to
// the work-group size, guarded), gid1: group * blocks per group + block, gid2: batch n.
//
//  - 8-bit tensors are read as raw bytes (uchar); mask 0x80 marks int8 (see kernels/quant.cl).
//  - Padded taps are skipped (they add (x_zero_point - x_zero_point) * w = 0, as on the CPU).
//  - The products accumulate in 32-bit unsigned lanes: ConvInteger's int32 output wraps exactly
//    like the CPU reference's int64 sum cast to int32. QLinearConv runs only where the sum
//    cannot overflow int32 (checked in supports()), so its sum equals the CPU's int64 one.
//  - QLinearConv's requantization is the CPU's, bit for bit: m = (x_scale * w_scale[m]) /
//    y_scale in float (the division correctly rounded: the program is built with
//    -cl-fp32-correctly-rounded-divide-sqrt), then y = saturate(nearbyint((double)(sum + bias)
//    * (double)m) + y_zp), the double product emulated in 64-bit integers (requant_long, the
//    int64-sum form of kernels/quant.cl's requant_one).
#pragma OPENCL FP_CONTRACT OFF

inline int qc_byte(uchar b, uchar mask) {
  return (int)(b ^ mask) - (mask ? 128 : 0);
}

// x >> s (1 <= s <= 62) rounded half to even.
inline ulong qc_rne_shift(ulong x, int s) {
  const ulong q = x >> s, rem = x & ((1ul << s) - 1ul), hv = 1ul << (s - 1);
  return q + ((rem > hv || (rem == hv && (q & 1ul))) ? 1ul : 0ul);
}

// saturate(nearbyint((double)c * (double)mult) + zp) into [lo, hi] for |c| <= 2^32, without
// fp64: c times mult's 24-bit significand is an integer below 2^57, rounded to 53 significant
// bits (the double multiply), then to an integer half to even.
inline int requant_long(long c, float mult, int zp, int lo, int hi) {
  if (isnan(mult) || (isinf(mult) && c == 0)) return lo;
  if (c == 0 || mult == 0.0f) return clamp(zp, lo, hi);
  const int neg = (c < 0) != (mult < 0.0f);
  if (isinf(mult)) return neg ? lo : hi;
  const uint bits = as_uint(mult) & 0x7fffffffu;
  const int ef = (int)(bits >> 23);
  const ulong mant = ef == 0 ? (ulong)(bits & 0x7fffffu) : (ulong)((bits & 0x7fffffu) | 0x800000u);
  const int e = ef == 0 ? -149 : ef - 150;
  ulong p = (c < 0 ? (ulong)(-c) : (ulong)c) * mant;  // < 2^57
  const int bl = 64 - (int)clz(p);
  if (bl > 53) p = qc_rne_shift(p, bl - 53) << (bl - 53);
  ulong r;
  const ulong big = 1ul << 30;
  if (e >= 0) {
    r = (e >= 20 || p >= (1ul << 20)) ? big : (p << e);
  } else {
    r = -e >= 63 ? 0ul : qc_rne_shift(p, -e);  // p < 2^58: a shift of 63 leaves less than 1/2
  }
  if (r > big) r = big;
  const int v = neg ? -(int)r : (int)r;
  return clamp(v + zp, lo, hi);
}

#ifndef QC_MB
#define QC_MB 1  // output channels per work-item (of one group)
#endif

// The wrapped int32 sums of (x - xz) * (w - wz[j]) over the window of output pixel p for the
// output channels m0 + j, j < cnt (W at wbase is channel m0's filter; channels j >= cnt repeat
// channel m0 + cnt - 1 and are not stored by the caller).
inline void qconv_sums(__global const uchar* X, long xbase, __global const uchar* W, long wbase,
                       int xz, const int* wz, int cnt, uchar xmask, uchar wmask, int cg, int p,
                       int4 in, int4 k, int4 s, int4 d, int4 pb, int4 out, uint* acc) {
  const int o2 = p % out.z, t = p / out.z;
  const int o1 = t % out.y, o0 = t / out.y;
  const int insz = in.x * in.y * in.z, ksz = k.x * k.y * k.z;
  const long wm = (long)cg * ksz;  // one output channel's filter
  long wj[QC_MB];
  for (int j = 0; j < QC_MB; ++j) {
    wj[j] = wbase + (long)min(j, cnt - 1) * wm;
    acc[j] = 0u;
  }
  for (int c = 0; c < cg; ++c) {
    const __global uchar* xc = X + xbase + (long)c * insz;
    const int wc = c * ksz;
    for (int k0 = 0; k0 < k.x; ++k0) {
      const int i0 = o0 * s.x + k0 * d.x - pb.x;
      if (i0 < 0 || i0 >= in.x) continue;
      for (int k1 = 0; k1 < k.y; ++k1) {
        const int i1 = o1 * s.y + k1 * d.y - pb.y;
        if (i1 < 0 || i1 >= in.y) continue;
        const __global uchar* xrow = xc + (i0 * in.y + i1) * in.z;
        const int wrow = wc + (k0 * k.y + k1) * k.z;
        for (int k2 = 0; k2 < k.z; ++k2) {
          const int i2 = o2 * s.z + k2 * d.z - pb.z;
          if (i2 < 0 || i2 >= in.z) continue;
          const int xv = qc_byte(xrow[i2], xmask) - xz;
          for (int j = 0; j < QC_MB; ++j)
            acc[j] += (uint)(xv * (qc_byte(W[wj[j] + wrow + k2], wmask) - wz[j]));
        }
      }
    }
  }
}

// gid1 = group * mblocks + block: the block's first output channel m0 and its channel count.
inline int qc_first_channel(int mb, int mblocks, int mg, int* cnt) {
  const int grp = mb / mblocks;
  const int m0 = grp * mg + (mb % mblocks) * QC_MB;
  *cnt = min(QC_MB, (grp + 1) * mg - m0);
  return m0;
}

// ConvInteger: Y int32 [N, M, out...]. has_xz / has_wz: zero points present; wz_stride 1: one
// w zero point per output channel. mblocks: blocks of QC_MB channels per group.
__kernel void qconv_integer(__global const uchar* X, int x_off, __global const uchar* W, int w_off,
                            __global const uchar* XZ, int xz_off, __global const uchar* WZ,
                            int wz_off, __global int* Y, int y_off, int C, int M, int cg, int mg,
                            int mblocks, int has_xz, int has_wz, int wz_stride, uchar xmask,
                            uchar wmask, int4 in, int4 k, int4 s, int4 d, int4 pb, int4 out) {
  const int p = get_global_id(0), n = get_global_id(2);
  const int plane = out.x * out.y * out.z;
  if (p >= plane) return;
  int cnt;
  const int m0 = qc_first_channel(get_global_id(1), mblocks, mg, &cnt);
  const int grp = m0 / mg;
  const int insz = in.x * in.y * in.z, ksz = k.x * k.y * k.z;
  const int xz = has_xz ? qc_byte(XZ[xz_off], xmask) : 0;
  int wz[QC_MB];
  for (int j = 0; j < QC_MB; ++j)
    wz[j] = has_wz ? qc_byte(WZ[wz_off + (m0 + min(j, cnt - 1)) * wz_stride], wmask) : 0;
  uint acc[QC_MB];
  qconv_sums(X, x_off + ((long)n * C + (long)grp * cg) * insz, W, w_off + (long)m0 * cg * ksz, xz,
             wz, cnt, xmask, wmask, cg, p, in, k, s, d, pb, out, acc);
  for (int j = 0; j < cnt; ++j) Y[y_off + ((long)n * M + m0 + j) * plane + p] = (int)acc[j];
}

// QLinearConv: Y 8-bit [N, M, out...]. ws_stride / wz_stride 1: w_scale / w_zero_point per output
// channel; ymask, lo, hi: the output type (0x80, -128, 127 for int8; 0, 0, 255 for uint8).
__kernel void qlinear_conv(__global const uchar* X, int x_off, __global const uchar* W, int w_off,
                           __global const uchar* XZ, int xz_off, __global const uchar* WZ,
                           int wz_off, __global const float* XS, int xs_off,
                           __global const float* WS, int ws_off, __global const float* YS,
                           int ys_off, __global const uchar* YZ, int yz_off, __global const int* B,
                           int b_off, __global uchar* Y, int y_off, int C, int M, int cg, int mg,
                           int mblocks, int ws_stride, int wz_stride, int has_bias, uchar xmask,
                           uchar wmask, uchar ymask, int lo, int hi, int4 in, int4 k, int4 s,
                           int4 d, int4 pb, int4 out) {
  const int p = get_global_id(0), n = get_global_id(2);
  const int plane = out.x * out.y * out.z;
  if (p >= plane) return;
  int cnt;
  const int m0 = qc_first_channel(get_global_id(1), mblocks, mg, &cnt);
  const int grp = m0 / mg;
  const int insz = in.x * in.y * in.z, ksz = k.x * k.y * k.z;
  const int xz = qc_byte(XZ[xz_off], xmask);
  int wz[QC_MB];
  for (int j = 0; j < QC_MB; ++j)
    wz[j] = qc_byte(WZ[wz_off + (m0 + min(j, cnt - 1)) * wz_stride], wmask);
  uint acc[QC_MB];
  qconv_sums(X, x_off + ((long)n * C + (long)grp * cg) * insz, W, w_off + (long)m0 * cg * ksz, xz,
             wz, cnt, xmask, wmask, cg, p, in, k, s, d, pb, out, acc);
  const int yz = qc_byte(YZ[yz_off], ymask);
  for (int j = 0; j < cnt; ++j) {
    const int m = m0 + j;
    const long c = (long)(int)acc[j] + (has_bias ? (long)B[b_off + m] : 0l);
    const float xw = XS[xs_off] * WS[ws_off + m * ws_stride];
    const float mult = xw / YS[ys_off];
    const int v = requant_long(c, mult, yz, lo, hi);
    Y[y_off + ((long)n * M + m) * plane + p] = (uchar)(v & 0xff);
  }
}
