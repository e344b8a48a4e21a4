// ConvInteger and QLinearConv (runtime/vulkan/ops_qconv.cpp), two entries (the first in two variants):
//
// default  the direct integer convolution: one invocation per 4 outputs of a row of Y
//          [N, M, out...] sums (x - x_zp) * (w - w_zp) over its group's input channels and the
//          kernel taps inside the input (pads contribute nothing, as in the CPU reference's
//          runtime/cpu/ops/nn_conv.cpp), in 32-bit integers that wrap like the CPU's int32 output
//          of its int64 sums. x and w are uint8_t storage; an int8 byte u holds (u ^ 0x80) - 128,
//          so with mask 0x80 (int8) or 0 (uint8) one shader serves every u8/s8 combination.
//          x_zero_point per tensor, w_zero_point per tensor or per output channel.
//          Bindings: 0 X, 1 W, 2 x_zp, 3 w_zp (u8), 4 Y (int32).
// -DREQUANT QLinearConv's output stage over those sums C (the host keeps |C| < 2^31, no wrap):
//          y = saturate(roundEven(double(C + bias[m]) * double(mult[m])) + y_zp),
//          mult[m] = x_scale * w_scale[m] / y_scale (float), as the CPU evaluates it. C + bias
//          is a sign and a 32-bit magnitude (< 2^32); its exact product with mult's 24-bit
//          significand (< 2^56, a uvec2 of 32-bit halves: no shaderInt64) is rounded to 53
//          significant bits (the double multiply), then to an integer half to even.
//          Bindings: 0 C (int32), 1 bias (int32), 2 x_scale, 3 w_scale, 4 y_scale (f32),
//          5 y_zero_point (u8), 6 Y (u8).
// Push constants: uint off[8] (element offsets of the bindings), then the parameters.
#version 450
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require

layout(local_size_x_id = 0) in;

#define GRID_STRIDE (gl_NumWorkGroups.x * gl_WorkGroupSize.x)

#ifndef REQUANT

layout(std430, binding = 0) readonly buffer X { uint8_t x[]; };
layout(std430, binding = 1) readonly buffer W { uint8_t w[]; };
layout(std430, binding = 2) readonly buffer XZ { uint8_t xz[]; };
layout(std430, binding = 3) readonly buffer WZ { uint8_t wz[]; };
layout(std430, binding = 4) writeonly buffer Y { int y[]; };

const uint HAS_XZP = 1u, HAS_WZP = 2u, X_S8 = 4u, W_S8 = 8u;

layout(push_constant) uniform PC {
  uint off[8];
  uint total, M, cg, mg;
  uint flags, wzp_stride;
  int in_[3];
  uint k[3];
  int s[3];
  int d[3];
  int pb[3];
  uint out_[3];
} pc;

#ifdef M4
// -DM4: 4 output channels of a group x 4 consecutive outputs of a row per invocation (groups of
// 4 or more output channels): each x byte is read once for the 4 channels, each weight once for
// the 4 outputs. Channels past the group's end compute on channel m0 and are not stored.
#define WV(i) (int(uint(w[wb[i] + cw]) ^ wmask) - wzp[i])
void main() {
  const uint xmask = (pc.flags & X_S8) != 0u ? 0x80u : 0u;
  const uint wmask = (pc.flags & W_S8) != 0u ? 0x80u : 0u;
  const int xzp = (pc.flags & HAS_XZP) != 0u ? int(uint(xz[pc.off[2]]) ^ xmask) : int(xmask);
  const uint plane = pc.out_[0] * pc.out_[1] * pc.out_[2];
  const uint in_sz = uint(pc.in_[0] * pc.in_[1] * pc.in_[2]);
  const uint ksz = pc.k[0] * pc.k[1] * pc.k[2];
  const uint pblocks = (pc.out_[2] + 3u) / 4u;
  const uint rows = pc.out_[0] * pc.out_[1];
  const uint mblocks = (pc.mg + 3u) / 4u;
  const uint groups = pc.M / pc.mg;
  for (uint e = gl_GlobalInvocationID.x; e < pc.total; e += GRID_STRIDE) {
    const uint blk = e % pblocks;
    const uint row = (e / pblocks) % rows;
    const uint rest = e / (pblocks * rows);
    const uint mb = rest % mblocks;
    const uint grp = (rest / mblocks) % groups;
    const uint n = rest / (mblocks * groups);
    const uint m0 = grp * pc.mg + mb * 4u;
    const uint mend = (grp + 1u) * pc.mg;
    const bvec4 mlive = lessThan(uvec4(m0) + uvec4(0u, 1u, 2u, 3u), uvec4(mend));
    uint wb[4];
    int wzp[4];
    for (uint i = 0u; i < 4u; ++i) {
      const uint m = mlive[i] ? m0 + i : m0;
      wb[i] = pc.off[1] + m * pc.cg * ksz;
      wzp[i] = (pc.flags & HAS_WZP) != 0u ? int(uint(wz[pc.off[3] + m * pc.wzp_stride]) ^ wmask)
                                          : int(wmask);
    }
    const int o1 = int(row % pc.out_[1]);
    const int o0 = int(row / pc.out_[1]);
    const ivec4 o2 = ivec4(blk * 4u) + ivec4(0, 1, 2, 3);
    const bvec4 live = lessThan(o2, ivec4(pc.out_[2]));
    const uint xbase = pc.off[0] + (n * groups * pc.cg + grp * pc.cg) * in_sz;
    ivec4 a0 = ivec4(0), a1 = ivec4(0), a2 = ivec4(0), a3 = ivec4(0);
    for (uint k0 = 0u; k0 < pc.k[0]; ++k0) {
      const int i0 = o0 * pc.s[0] + int(k0) * pc.d[0] - pc.pb[0];
      if (i0 < 0 || i0 >= pc.in_[0]) continue;
      for (uint k1 = 0u; k1 < pc.k[1]; ++k1) {
        const int i1 = o1 * pc.s[1] + int(k1) * pc.d[1] - pc.pb[1];
        if (i1 < 0 || i1 >= pc.in_[1]) continue;
        const uint xrow = xbase + uint((i0 * pc.in_[1] + i1) * pc.in_[2]);
        for (uint k2 = 0u; k2 < pc.k[2]; ++k2) {
          const ivec4 i2 = o2 * pc.s[2] + int(k2) * pc.d[2] - pc.pb[2];
          const bvec4 ok = bvec4(uvec4(live) & uvec4(greaterThanEqual(i2, ivec4(0))) &
                                 uvec4(lessThan(i2, ivec4(pc.in_[2]))));
          if (!any(ok)) continue;
          const uvec4 xi = uvec4(xrow) + uvec4(ok.x ? i2.x : 0, ok.y ? i2.y : 0,
                                               ok.z ? i2.z : 0, ok.w ? i2.w : 0);
          const ivec4 xzv = ivec4(ok.x ? xzp : 0, ok.y ? xzp : 0, ok.z ? xzp : 0, ok.w ? xzp : 0);
          const ivec4 on = ivec4(ok);
          const uint tap = (k0 * pc.k[1] + k1) * pc.k[2] + k2;
          for (uint c = 0u; c < pc.cg; ++c) {
            const uint cx = c * in_sz;
            const ivec4 xv = ivec4(uint(x[xi.x + cx]) ^ xmask, uint(x[xi.y + cx]) ^ xmask,
                                   uint(x[xi.z + cx]) ^ xmask, uint(x[xi.w + cx]) ^ xmask) * on -
                             xzv;
            const uint cw = c * ksz + tap;
            a0 += xv * WV(0);
            a1 += xv * WV(1);
            a2 += xv * WV(2);
            a3 += xv * WV(3);
          }
        }
      }
    }
    const ivec4 accs[4] = ivec4[4](a0, a1, a2, a3);
    for (uint i = 0u; i < 4u; ++i) {
      if (!mlive[i]) continue;
      const uint ybase = pc.off[4] + (n * pc.M + m0 + i) * plane + row * pc.out_[2];
      for (uint j = 0u; j < 4u; ++j)
        if (live[j]) y[ybase + uint(o2[j])] = accs[i][j];
    }
  }
}
#else
// Four consecutive outputs of a row per invocation (o2 = 4 * block + j): each weight is read once
// for the four, x bytes outside the input (pads, the row's end) are not read.
void main() {
  const uint xmask = (pc.flags & X_S8) != 0u ? 0x80u : 0u;
  const uint wmask = (pc.flags & W_S8) != 0u ? 0x80u : 0u;
  const int xzp = (pc.flags & HAS_XZP) != 0u ? int(uint(xz[pc.off[2]]) ^ xmask) : int(xmask);
  const uint plane = pc.out_[0] * pc.out_[1] * pc.out_[2];
  const uint in_sz = uint(pc.in_[0] * pc.in_[1] * pc.in_[2]);
  const uint ksz = pc.k[0] * pc.k[1] * pc.k[2];
  const uint pblocks = (pc.out_[2] + 3u) / 4u;
  const uint rows = pc.out_[0] * pc.out_[1];
  for (uint e = gl_GlobalInvocationID.x; e < pc.total; e += GRID_STRIDE) {
    const uint blk = e % pblocks;
    const uint row = (e / pblocks) % rows;
    const uint nm = e / (pblocks * rows);
    const uint m = nm % pc.M, n = nm / pc.M;
    const uint grp = m / pc.mg;
    const int wzp = (pc.flags & HAS_WZP) != 0u
                        ? int(uint(wz[pc.off[3] + m * pc.wzp_stride]) ^ wmask)
                        : int(wmask);
    const int o1 = int(row % pc.out_[1]);
    const int o0 = int(row / pc.out_[1]);
    const ivec4 o2 = ivec4(blk * 4u) + ivec4(0, 1, 2, 3);
    const bvec4 live = lessThan(o2, ivec4(pc.out_[2]));
    const uint xbase = pc.off[0] + (n * pc.M / pc.mg * pc.cg + grp * pc.cg) * in_sz;
    const uint wbase = pc.off[1] + m * pc.cg * ksz;
    ivec4 acc = ivec4(0);
    for (uint k0 = 0u; k0 < pc.k[0]; ++k0) {
      const int i0 = o0 * pc.s[0] + int(k0) * pc.d[0] - pc.pb[0];
      if (i0 < 0 || i0 >= pc.in_[0]) continue;
      for (uint k1 = 0u; k1 < pc.k[1]; ++k1) {
        const int i1 = o1 * pc.s[1] + int(k1) * pc.d[1] - pc.pb[1];
        if (i1 < 0 || i1 >= pc.in_[1]) continue;
        const uint xrow = xbase + uint((i0 * pc.in_[1] + i1) * pc.in_[2]);
        for (uint k2 = 0u; k2 < pc.k[2]; ++k2) {
          const ivec4 i2 = o2 * pc.s[2] + int(k2) * pc.d[2] - pc.pb[2];
          const bvec4 ok = bvec4(uvec4(live) & uvec4(greaterThanEqual(i2, ivec4(0))) &
                                 uvec4(lessThan(i2, ivec4(pc.in_[2]))));
          if (!any(ok)) continue;
          // Outside taps read element xrow (inside the input) and are masked to 0.
          const uvec4 xi = uvec4(xrow) + uvec4(ok.x ? i2.x : 0, ok.y ? i2.y : 0,
                                               ok.z ? i2.z : 0, ok.w ? i2.w : 0);
          const ivec4 xzv = ivec4(ok.x ? xzp : 0, ok.y ? xzp : 0, ok.z ? xzp : 0, ok.w ? xzp : 0);
          const ivec4 on = ivec4(ok);
          const uint wi = wbase + (k0 * pc.k[1] + k1) * pc.k[2] + k2;
          for (uint c = 0u; c < pc.cg; ++c) {
            const uint cx = c * in_sz;
            const ivec4 xv = ivec4(uint(x[xi.x + cx]) ^ xmask, uint(x[xi.y + cx]) ^ xmask,
                                   uint(x[xi.z + cx]) ^ xmask, uint(x[xi.w + cx]) ^ xmask) * on -
                             xzv;
            acc += xv * (int(uint(w[wi + c * ksz]) ^ wmask) - wzp);
          }
        }
      }
    }
    const uint ybase = pc.off[4] + nm * plane + row * pc.out_[2];
    for (uint j = 0u; j < 4u; ++j)
      if (live[j]) y[ybase + uint(o2[j])] = acc[j];
  }
}
#endif  // M4

#else  // REQUANT

layout(std430, binding = 0) readonly buffer C { int c[]; };
layout(std430, binding = 1) readonly buffer BIAS { int bias[]; };
layout(std430, binding = 2) readonly buffer XS { float xs[]; };
layout(std430, binding = 3) readonly buffer WS { float ws[]; };
layout(std430, binding = 4) readonly buffer YS { float ys[]; };
layout(std430, binding = 5) readonly buffer YZ { uint8_t yz[]; };
layout(std430, binding = 6) writeonly buffer Y { uint8_t y[]; };

const uint HAS_BIAS = 1u, Y_S8 = 2u;

layout(push_constant) uniform PC {
  uint off[8];
  uint total, plane, M, ws_stride, flags;
} pc;

// 64-bit unsigned values as uvec2(low, high).
uvec2 shr64(uvec2 v, uint s) {
  if (s == 0u) return v;
  if (s < 32u) return uvec2((v.x >> s) | (v.y << (32u - s)), v.y >> s);
  return uvec2(v.y >> (s - 32u), 0u);
}
uvec2 shl64(uvec2 v, uint s) {
  if (s == 0u) return v;
  if (s < 32u) return uvec2(v.x << s, (v.y << s) | (v.x >> (32u - s)));
  return uvec2(0u, v.x << (s - 32u));
}
bool gt64(uvec2 a, uvec2 b) {
  return a.y > b.y || (a.y == b.y && a.x > b.x);
}
// v >> s (1 <= s <= 62) rounded half to even.
uvec2 rne_shift(uvec2 v, uint s) {
  uvec2 q = shr64(v, s);
  const uvec2 mask = s < 32u ? uvec2((1u << s) - 1u, 0u)
                             : uvec2(0xffffffffu, s == 32u ? 0u : (1u << (s - 32u)) - 1u);
  const uvec2 rem = v & mask;
  const uvec2 half_ = s - 1u < 32u ? uvec2(1u << (s - 1u), 0u) : uvec2(0u, 1u << (s - 33u));
  if (gt64(rem, half_) || (rem == half_ && (q.x & 1u) != 0u)) {
    q.x += 1u;
    if (q.x == 0u) q.y += 1u;
  }
  return q;
}

// saturate(roundEven((neg ? -ac : ac) * mult) + zp) for a finite positive... or any finite mult.
int requant_mag(bool cneg, uint ac, float mult, int zp, int lo, int hi) {
  if (ac == 0u || mult == 0.0) return clamp(zp, lo, hi);
  if (isnan(mult)) return lo;
  const bool neg = cneg != (mult < 0.0);
  if (isinf(mult)) return neg ? lo : hi;
  const uint bits = floatBitsToUint(mult) & 0x7fffffffu;
  const int ef = int(bits >> 23);
  const uint mant = ef == 0 ? (bits & 0x7fffffu) : ((bits & 0x7fffffu) | 0x800000u);
  const int e = ef == 0 ? -149 : ef - 150;
  uvec2 p;
  umulExtended(ac, mant, p.y, p.x);  // < 2^56
  // The double product: p rounded to 53 significant bits.
  const int bl = p.y != 0u ? 33 + findMSB(p.y) : findMSB(p.x) + 1;
  if (bl > 53) p = shl64(rne_shift(p, uint(bl - 53)), uint(bl - 53));
  const uint big = 1u << 30;
  uint r;
  if (e >= 0) {
    r = (e >= 20 || p.y != 0u || p.x >= (1u << 20)) ? big : (p.x << uint(e));
  } else if (-e >= 58) {
    r = 0u;
  } else {
    const uvec2 q = rne_shift(p, uint(-e));
    r = (q.y != 0u || q.x > big) ? big : q.x;
  }
  const int v = neg ? -int(r) : int(r);
  return clamp(v + zp, lo, hi);
}

// |v| of an int32 (also for INT_MIN).
uint mag(int v) {
  return v < 0 ? uint(-(v + 1)) + 1u : uint(v);
}

void main() {
  const bool s8 = (pc.flags & Y_S8) != 0u;
  const uint ymask = s8 ? 0x80u : 0u;
  const int lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
  const int zp = int(uint(yz[pc.off[5]]) ^ ymask) - (s8 ? 128 : 0);
  const float x_s = xs[pc.off[2]], y_s = ys[pc.off[4]];
  for (uint e = gl_GlobalInvocationID.x; e < pc.total; e += GRID_STRIDE) {
    const uint m = (e / pc.plane) % pc.M;
    precise const float xw = x_s * ws[pc.off[3] + m * pc.ws_stride];
    precise const float mult = xw / y_s;
    const int cv = c[pc.off[0] + e];
    const int bv = (pc.flags & HAS_BIAS) != 0u ? bias[pc.off[1] + m] : 0;
    // cv + bv as a sign and a magnitude (|cv| < 2^31, |bv| <= 2^31: it fits a uint).
    bool neg;
    uint ac;
    const uint mc = mag(cv), mb = mag(bv);
    if ((cv < 0) == (bv < 0)) {
      neg = cv < 0;
      ac = mc + mb;
    } else if (mc >= mb) {
      neg = cv < 0;
      ac = mc - mb;
    } else {
      neg = bv < 0;
      ac = mb - mc;
    }
    const int v = requant_mag(neg, ac, mult, zp, lo, hi);
    y[pc.off[6] + e] = uint8_t(v & 255);
  }
}

#endif
