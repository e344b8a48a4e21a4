// Cast between float32, float16 (16-bit storage, converted through float), int32, int64 (uvec2
// words: low, high) and bool (uint8). Variant defines SRC_* and DST_* pick the types (F32, F16,
// I32, I64, BOOL).
#version 450
#extension GL_GOOGLE_include_directive : require
#if defined(SRC_BOOL) || defined(DST_BOOL)
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#endif
#if defined(SRC_F16) || defined(DST_F16)
#extension GL_EXT_shader_16bit_storage : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
#if defined(SRC_F32)
layout(std430, binding = 0) readonly buffer X { float x[]; };
#elif defined(SRC_F16)
layout(std430, binding = 0) readonly buffer X { float16_t x[]; };
#elif defined(SRC_I32)
layout(std430, binding = 0) readonly buffer X { int x[]; };
#elif defined(SRC_I64)
layout(std430, binding = 0) readonly buffer X { uvec2 x[]; };
#else
layout(std430, binding = 0) readonly buffer X { uint8_t x[]; };
#endif
#if defined(DST_F32)
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#define YF float
#elif defined(DST_F16)
layout(std430, binding = 1) writeonly buffer Y { float16_t y[]; };
#define YF float16_t
#elif defined(DST_I32)
layout(std430, binding = 1) writeonly buffer Y { int y[]; };
#elif defined(DST_I64)
layout(std430, binding = 1) writeonly buffer Y { uvec2 y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { uint8_t y[]; };
#endif
layout(push_constant) uniform PC {
  uint off[4];
  uint n;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += GRID_STRIDE) {
#if defined(SRC_F32) || defined(SRC_F16)
    float v = float(x[pc.off[0] + i]);
#if defined(DST_F32) || defined(DST_F16)
    y[pc.off[1] + i] = YF(v);
#elif defined(DST_I32)
    // As the CPU: NaN gives 0, out-of-range values saturate.
    y[pc.off[1] + i] = isnan(v) ? 0 : (v >= 2147483647.0 ? 2147483647 : (v <= -2147483648.0 ? int(0x80000000u) : int(v)));
#elif defined(DST_I64)
    float t = trunc(v);
    if (isnan(v)) {
      y[pc.off[1] + i] = uvec2(0u);
    } else if (t >= 9.2233720368547758e18) {
      y[pc.off[1] + i] = uvec2(0xffffffffu, 0x7fffffffu);
    } else if (t <= -9.2233720368547758e18) {
      y[pc.off[1] + i] = uvec2(0u, 0x80000000u);
    } else if (abs(t) < 2147483648.0) {
      int s = int(t);
      y[pc.off[1] + i] = uvec2(uint(s), s < 0 ? 0xffffffffu : 0u);
    } else {
      float hi = floor(t / 4294967296.0);
      float lo = t - hi * 4294967296.0;
      y[pc.off[1] + i] = uvec2(uint(lo), uint(int(hi)));
    }
#else
    y[pc.off[1] + i] = uint8_t(v != 0.0 ? 1 : 0);
#endif
#elif defined(SRC_I32)
    int v = x[pc.off[0] + i];
#if defined(DST_F32) || defined(DST_F16)
    y[pc.off[1] + i] = YF(float(v));
#elif defined(DST_I32)
    y[pc.off[1] + i] = v;
#elif defined(DST_I64)
    y[pc.off[1] + i] = uvec2(uint(v), v < 0 ? 0xffffffffu : 0u);
#else
    y[pc.off[1] + i] = uint8_t(v != 0 ? 1 : 0);
#endif
#elif defined(SRC_I64)
    uvec2 v = x[pc.off[0] + i];
#if defined(DST_F32) || defined(DST_F16)
    int hi = int(v.y);
    bool small = (hi == 0 && v.x < 0x80000000u) || (hi == -1 && v.x >= 0x80000000u);
    y[pc.off[1] + i] = YF(small ? float(int(v.x)) : float(hi) * 4294967296.0 + float(v.x));
#elif defined(DST_I32)
    y[pc.off[1] + i] = int(v.x);
#elif defined(DST_I64)
    y[pc.off[1] + i] = v;
#else
    y[pc.off[1] + i] = uint8_t((v.x | v.y) != 0u ? 1 : 0);
#endif
#else
    uint v = uint(x[pc.off[0] + i]) != 0u ? 1u : 0u;
#if defined(DST_F32) || defined(DST_F16)
    y[pc.off[1] + i] = YF(float(v));
#elif defined(DST_I32)
    y[pc.off[1] + i] = int(v);
#elif defined(DST_I64)
    y[pc.off[1] + i] = uvec2(v, 0u);
#else
    y[pc.off[1] + i] = uint8_t(v);
#endif
#endif
  }
}
