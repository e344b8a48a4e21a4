// QLinearMatMul's requantization (runtime/vulkan/ops_quant.cpp), after the MatMulInteger GEMM
// (quant_gemm.comp) wrote the int32 products C:
//   y[e] = saturate(roundEven(C[e] * m) + y_zp),  m = (a_scale * b_scale[n]) / y_scale (float)
// bit-exact with the CPU reference, which evaluates C * m in double: the exact product of C and
// m's 24-bit significand (< 2^55, as a uvec2 of 32-bit halves: no shaderInt64 needed) is rounded
// to 53 significant bits (the double multiply), then to an integer half to even.
// Bindings: 0 C (int32), 1 a_scale, 2 b_scale, 3 y_scale (f32), 4 y_zero_point (u8), 5 Y (u8).
// Push constants: uint off[8] (element offsets of bindings 0..7), then the parameters.
#version 450
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer C { int c[]; };
layout(std430, binding = 1) readonly buffer AS { float as_[]; };
layout(std430, binding = 2) readonly buffer BS { float bs_[]; };
layout(std430, binding = 3) readonly buffer YS { float ys_[]; };
layout(std430, binding = 4) readonly buffer YZ { uint8_t yz[]; };
layout(std430, binding = 5) writeonly buffer Y { uint8_t y[]; };
layout(push_constant) uniform PC {
  uint off[8];
  uint total, N, bs_stride, ymask;
  int lo, hi;
} pc;

#define GRID_STRIDE (gl_NumWorkGroups.x * gl_WorkGroupSize.x)

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

int requant_one(int cv, float mult, int zp, int lo, int hi) {
  if (isnan(mult) || (isinf(mult) && cv == 0)) return lo;
  if (cv == 0 || mult == 0.0) return clamp(zp, lo, hi);
  const bool neg = (cv < 0) != (mult < 0.0);
  if (isinf(mult)) return neg ? lo : hi;
  const uint bits = floatBitsToUint(mult) & 0x7fffffffu;
  const int ef = int(bits >> 23);
  const uint mant = ef == 0 ? (bits & 0x7fffffu) : ((bits & 0x7fffffu) | 0x800000u);
  const int e = ef == 0 ? -149 : ef - 150;
  const uint ac = cv < 0 ? uint(-(cv + 1)) + 1u : uint(cv);  // |cv|, also for INT_MIN
  uvec2 p;
  umulExtended(ac, mant, p.y, p.x);  // < 2^55
  // The double product: p rounded to 53 significant bits.
  const int bl = p.y != 0u ? 33 + findMSB(p.y) : findMSB(p.x) + 1;
  if (bl > 53) p = shl64(rne_shift(p, uint(bl - 53)), uint(bl - 53));
  const uint big = 1u << 30;
  uint r;
  if (e >= 0) {
    r = (e >= 20 || p.y != 0u || p.x >= (1u << 20)) ? big : (p.x << uint(e));
  } else if (-e >= 57) {
    r = 0u;
  } else {
    const uvec2 q = rne_shift(p, uint(-e));
    r = (q.y != 0u || q.x > big) ? big : q.x;
  }
  const int v = neg ? -int(r) : int(r);
  return clamp(v + zp, lo, hi);
}

void main() {
  const int zb = int(uint(yz[pc.off[4]]) ^ pc.ymask) - (pc.ymask != 0u ? 128 : 0);
  const float a_s = as_[pc.off[1]], y_s = ys_[pc.off[3]];
  for (uint e = gl_GlobalInvocationID.x; e < pc.total; e += GRID_STRIDE) {
    const uint n = e % pc.N;
    precise const float ab = a_s * bs_[pc.off[2] + n * pc.bs_stride];
    precise const float mult = ab / y_s;
    const int v = requant_one(c[pc.off[0] + e], mult, zb, pc.lo, pc.hi);
    y[pc.off[5] + e] = uint8_t(v & 255);
  }
}
