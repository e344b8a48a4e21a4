// Reductions over any set of axes: each invocation makes one output element. The input is seen
// as kept dims (kdims/kst, the output's order) and reduced dims (rdims/rst), each at most 4 after
// merging contiguous dims. Op codes match runtime/vulkan/ops_reduce.cpp. -DF16: float16 storage,
// float accumulation.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fp16.glsl"
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { FT x[]; };
layout(std430, binding = 1) writeonly buffer Y { FT y[]; };
layout(push_constant) uniform PC {
  uint off[4];
  uint op, n_out, krank, rrank;
  uint kdims[4];
  uint kst[4];
  uint rdims[4];
  uint rst[4];
  uint rcount;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n_out; i += GRID_STRIDE) {
    uint base = pc.off[0];
    uint t = i;
    for (int d = int(pc.krank) - 1; d >= 0; --d) {
      base += (t % pc.kdims[d]) * pc.kst[d];
      t /= pc.kdims[d];
    }
    float acc;
    switch (pc.op) {
      case 2: acc = -1.0 / 0.0; break;  // max
      case 3: acc = 1.0 / 0.0; break;   // min
      case 4: acc = 1.0; break;         // prod
      default: acc = 0.0;
    }
    float mx = -1.0 / 0.0;
    if (pc.op == 9u) {  // LogSumExp: max first
      for (uint j = 0u; j < pc.rcount; ++j) {
        uint o = base, q = j;
        for (int d = int(pc.rrank) - 1; d >= 0; --d) {
          o += (q % pc.rdims[d]) * pc.rst[d];
          q /= pc.rdims[d];
        }
        mx = max(mx, float(x[o]));
      }
      if (isinf(mx)) mx = 0.0;
    }
    bool nan_seen = false;
    for (uint j = 0u; j < pc.rcount; ++j) {
      uint o = base, q = j;
      for (int d = int(pc.rrank) - 1; d >= 0; --d) {
        o += (q % pc.rdims[d]) * pc.rst[d];
        q /= pc.rdims[d];
      }
      float v = float(x[o]);
      switch (pc.op) {
        case 0:
        case 1:
        case 8: acc += v; break;          // sum, mean, logsum
        case 2: nan_seen = nan_seen || isnan(v); acc = max(acc, v); break;
        case 3: nan_seen = nan_seen || isnan(v); acc = min(acc, v); break;
        case 4: acc *= v; break;
        case 5: acc += v * v; break;      // sum square
        case 6: acc += abs(v); break;     // L1
        case 7: acc += v * v; break;      // L2
        case 9: acc += exp(v - mx); break;
      }
    }
    if (nan_seen) acc = 0.0 / 0.0;
    if (pc.op == 1u) acc /= float(pc.rcount);
    if (pc.op == 7u) acc = sqrt(acc);
    if (pc.op == 8u) acc = log(acc);
    if (pc.op == 9u) acc = log(acc) + mx;
    y[pc.off[1] + i] = FT(acc);
  }
}
