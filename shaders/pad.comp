// Pad (constant, reflect, edge, wrap) and Tile: output element start + i (i < n) of a tensor of
// rank <= 5 takes, per dim, source coordinate pad_source(mode, q - before, cnt) of a source
// window starting at src_base (the leading crops) with strides sst; a coordinate outside the
// window in constant mode takes the constant: cv[off[1]] when the flags say so, else the bits
// cbits. Tile is wrap mode without pads. Element type by variant as in copy.comp.
#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef HALVES
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#define ELEM uint16_t
#define WIDE uint
#endif
#ifdef BYTES
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#define ELEM uint8_t
#define WIDE uint
#endif
#ifdef PAIRS
#define ELEM uvec2
#define WIDE uvec2
#endif
#ifndef ELEM
#define ELEM uint
#define WIDE uint
#endif
// The constant is held widened (small integer locals trip lavapipe), narrowed at the store.
#ifdef PAIRS
#define FROM_BITS(lo, hi) uvec2(lo, hi)
#else
#define FROM_BITS(lo, hi) (lo)
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, binding = 1) readonly buffer C { ELEM cv[]; };
layout(std430, binding = 2) writeonly buffer Y { ELEM y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint n, start;
  uint flags;  // rank | mode << 4 | has_cv << 8; mode 0 constant, 1 reflect, 2 edge, 3 wrap
  uint cbits_lo, cbits_hi, src_base;
  uint dims[5];    // output dims
  uint sst[5];     // source strides
  uint before[5];  // leading pads (>= 0)
  uint cnt[5];     // source window length
} pc;

// a mod m for m > 0, also for negative a (GLSL's % is undefined there).
int pmod(int a, int m) {
  return a >= 0 ? a % m : (m - ((-a) % m)) % m;
}

// Source coordinate of padded coordinate i over a window of n, or -1 for the constant.
int pad_source(uint mode, int i, int n) {
  if (i >= 0 && i < n) return i;
  if (mode == 0u) return -1;
  if (mode == 2u) return i < 0 ? 0 : n - 1;
  if (mode == 3u) return pmod(i, n);
  if (n == 1) return 0;
  int p = 2 * (n - 1);
  int m = pmod(i, p);
  return m >= n ? p - m : m;
}

void main() {
  const uint rank = pc.flags & 15u;
  const uint mode = (pc.flags >> 4) & 15u;
  WIDE c = FROM_BITS(pc.cbits_lo, pc.cbits_hi);
  if (((pc.flags >> 8) & 1u) != 0u) c = WIDE(cv[pc.off[1]]);
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
    uint r = pc.start + i;
    uint s = pc.off[0] + pc.src_base;
    bool inside = true;
    for (int d = int(rank) - 1; d >= 0; --d) {
      uint q = r % pc.dims[d];
      r /= pc.dims[d];
      int src = pad_source(mode, int(q) - int(pc.before[d]), int(pc.cnt[d]));
      if (src < 0) {
        inside = false;
        break;
      }
      s += uint(src) * pc.sst[d];
    }
    if (inside)
      y[pc.off[2] + i] = x[s];
    else
      y[pc.off[2] + i] = ELEM(c);
  }
}
