// Resize / Upsample (runtime/vulkan/ops_pool.cpp), float32, rank up to 8: separable resampling
// through per-axis tap tables built on the host exactly as the CPU reference builds them
// (cpu::nn::build_taps), so every mode, coordinate transformation, nearest mode, cubic and
// antialias filter the CPU runs is covered by the same data. One table buffer (binding 1):
// for axis a and output coordinate o, tab[tb_off[a] + o] and tab[tb_off[a] + o + 1] are the
// table indices [b, e) of that coordinate's (input index, weight bits) pairs; an input index of
// -1 marks a coordinate outside the input (the output is `extrap`). One invocation per output
// element; single-tap axes fold into the base offset, multi-tap axes are walked as an odometer
// (as kernels/conv.cl's resize).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer T { int tab[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint total, rank;
  uint out_dims[8];
  uint in_strides[8];
  uint tb_off[8];
  float extrap;
} pc;

void main() {
  const uint tb = pc.off[1];
  for (uint gid = gl_GlobalInvocationID.x; gid < pc.total; gid += GRID_STRIDE) {
    uint coord[8];
    uint r = gid;
    for (int a = int(pc.rank) - 1; a >= 0; --a) {
      coord[a] = r % pc.out_dims[a];
      r /= pc.out_dims[a];
    }
    uint base = 0u;
    float wbase = 1.0;
    int nm = 0;
    uint mb[8], me[8], ms[8], cur[8];
    bool outside = false;
    for (int a = 0; a < int(pc.rank); ++a) {
      const uint b = uint(tab[tb + pc.tb_off[a] + coord[a]]);
      const uint e = uint(tab[tb + pc.tb_off[a] + coord[a] + 1u]);
      const int i0 = tab[tb + b];
      if (i0 < 0) {
        outside = true;
        break;
      }
      if (e - b == 2u) {
        base += uint(i0) * pc.in_strides[a];
        wbase *= intBitsToFloat(tab[tb + b + 1u]);
      } else {
        mb[nm] = b;
        me[nm] = e;
        ms[nm] = pc.in_strides[a];
        cur[nm] = b;
        ++nm;
      }
    }
    if (outside) {
      y[pc.off[2] + gid] = pc.extrap;
      continue;
    }
    const uint xp = pc.off[0];
    if (nm == 0) {
      y[pc.off[2] + gid] = wbase == 1.0 ? x[xp + base] : wbase * x[xp + base];
      continue;
    }
    float acc = 0.0;
    for (;;) {
      uint o = base;
      float wv = wbase;
      for (int i = 0; i < nm; ++i) {
        o += uint(tab[tb + cur[i]]) * ms[i];
        wv *= intBitsToFloat(tab[tb + cur[i] + 1u]);
      }
      acc += wv * x[xp + o];
      int i = nm - 1;
      for (; i >= 0; --i) {
        cur[i] += 2u;
        if (cur[i] < me[i]) break;
        cur[i] = mb[i];
      }
      if (i < 0) break;
    }
    y[pc.off[2] + gid] = acc;
  }
}
