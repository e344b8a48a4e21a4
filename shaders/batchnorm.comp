// BatchNormalization, inference form (runtime/vulkan/ops_pool.cpp), float32, per-channel
// parameters (axis 1, `size` elements per plane), in two passes because a dispatch binds at most
// four tensors, with the CPU reference's order of operations:
//   default   Y = (X - mean) / sqrt(var + eps)      bindings X, mean, var, Y
//   -DAFFINE  Y = Y * scale + B (in place)         bindings Y, scale, B
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#ifdef AFFINE
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer S { float sc[]; };
layout(std430, binding = 2) readonly buffer Bi { float bi[]; };
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Mn { float mn[]; };
layout(std430, binding = 2) readonly buffer V { float va[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#endif
layout(push_constant) uniform PC {
  uint off[4];
  uint total, C, size;
  float eps;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.total; i += GRID_STRIDE) {
    const uint c = (i / pc.size) % pc.C;
#ifdef AFFINE
    const uint o = pc.off[0] + i;
    y[o] = y[o] * sc[pc.off[1] + c] + bi[pc.off[2] + c];
#else
    y[pc.off[3] + i] = (x[pc.off[0] + i] - mn[pc.off[1] + c]) / sqrt(va[pc.off[2] + c] + pc.eps);
#endif
  }
}
