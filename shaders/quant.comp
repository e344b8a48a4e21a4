// Linear quantization (runtime/vulkan/ops_quant.cpp), one variant per step:
//   -DQUANTIZE        y = saturate(roundEven(x / scale[s]) + zp[s])      X f32, S f32, Z u8, Y u8
//   -DDEQUANTIZE      y = (x - zp[s]) * scale[s]                         X u8, S f32, Z u8, Y f32
//   -DDQL_PARTIAL     invocation g: min/max (from 0, NaN ignored) of x[g], x[g + G]...  X, P f32
//   -DDQL_PARAMS      one invocation: DynamicQuantizeLinear's scale and zero point   P, SC, ZP
//   -DDQL_QUANTIZE    y = saturate(roundEven(x / scale) + zp) into 0..255   X, SC, ZP u8, Y u8
// 8-bit tensors are uint8_t storage (GL_EXT_shader_8bit_storage). An int8 byte u holds
// (u ^ 0x80) - 128, so with mask 0x80 (int8) or 0 (uint8), x - zp == (x ^ mask) - (zp ^ mask).
// Float math follows the CPU reference's order and is `precise` (never contracted).
// Push constants: uint off[8] (element offsets of bindings 0..7), then the parameters.
#version 450
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require

layout(local_size_x_id = 0) in;

#define GRID_STRIDE (gl_NumWorkGroups.x * gl_WorkGroupSize.x)

// saturate(roundEven(q) + zp) into [lo, hi]; NaN gives lo (the CPU's quantize_value).
int quantize_one(float q, int zp, int lo, int hi) {
  if (isnan(q)) return lo;
  const float r = roundEven(clamp(q, -1e9, 1e9));
  return clamp(int(r) + zp, lo, hi);
}

#if defined(QUANTIZE) || defined(DEQUANTIZE)
#ifdef QUANTIZE
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 3) writeonly buffer Y { uint8_t y[]; };
#else
layout(std430, binding = 0) readonly buffer X { uint8_t x[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#endif
layout(std430, binding = 1) readonly buffer S { float sc[]; };
layout(std430, binding = 2) readonly buffer Z { uint8_t z[]; };
layout(push_constant) uniform PC {
  uint off[8];
  uint n, axis_dim, inner, per_axis, has_zp, mask;
  int lo, hi;
} pc;

void main() {
  for (uint e = gl_GlobalInvocationID.x; e < pc.n; e += GRID_STRIDE) {
    const uint s = pc.per_axis != 0u ? (e / pc.inner) % pc.axis_dim : 0u;
    const int zb = pc.has_zp != 0u ? int(uint(z[pc.off[2] + s]) ^ pc.mask) : int(pc.mask);
#ifdef QUANTIZE
    precise const float q = x[pc.off[0] + e] / sc[pc.off[1] + s];
    const int zp = zb - (pc.mask != 0u ? 128 : 0);
    y[pc.off[3] + e] = uint8_t(quantize_one(q, zp, pc.lo, pc.hi) & 255);
#else
    const float d = float(int(uint(x[pc.off[0] + e]) ^ pc.mask) - zb);
    precise const float v = d * sc[pc.off[1] + s];
    y[pc.off[3] + e] = v;
#endif
  }
}
#endif

#ifdef DQL_PARTIAL
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer P { float p[]; };
layout(push_constant) uniform PC {
  uint off[8];
  uint n;
} pc;

void main() {
  const uint g = gl_GlobalInvocationID.x;
  float mn = 0.0, mx = 0.0;
  for (uint i = g; i < pc.n; i += GRID_STRIDE) {
    const float v = x[pc.off[0] + i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  p[pc.off[1] + 2u * g] = mn;
  p[pc.off[1] + 2u * g + 1u] = mx;
}
#endif

#ifdef DQL_PARAMS
layout(std430, binding = 0) readonly buffer P { float p[]; };
layout(std430, binding = 1) writeonly buffer SC { float scale_out[]; };
layout(std430, binding = 2) writeonly buffer ZP { uint8_t zp_out[]; };
layout(push_constant) uniform PC {
  uint off[8];
  uint parts, ort_rule;
} pc;

void main() {
  if (gl_GlobalInvocationID.x != 0u) return;
  float mn = 0.0, mx = 0.0;
  for (uint i = 0u; i < pc.parts; ++i) {
    const float a = p[pc.off[0] + 2u * i], b = p[pc.off[0] + 2u * i + 1u];
    if (a < mn) mn = a;
    if (b > mx) mx = b;
  }
  precise const float range = mx - mn;
  precise const float scale = mx == mn ? 1.0 : range / 255.0;
  precise const float q = mn / scale;
  precise float z = 0.0 - q;
  if (pc.ort_rule != 0u) {
    if (!(z >= 0.0)) z = 0.0;
    z = min(255.0, z);
  } else {
    z = z < 0.0 ? 0.0 : (z > 255.0 ? 255.0 : z);
  }
  scale_out[pc.off[1]] = scale;
  zp_out[pc.off[2]] = uint8_t(int(roundEven(z)) & 255);
}
#endif

#ifdef DQL_QUANTIZE
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer SC { float scale_in[]; };
layout(std430, binding = 2) readonly buffer ZP { uint8_t zp_in[]; };
layout(std430, binding = 3) writeonly buffer Y { uint8_t y[]; };
layout(push_constant) uniform PC {
  uint off[8];
  uint n, nan_zp;
} pc;

void main() {
  const float scale = scale_in[pc.off[1]];
  const int zp = int(uint(zp_in[pc.off[2]]));
  for (uint e = gl_GlobalInvocationID.x; e < pc.n; e += GRID_STRIDE) {
    precise const float q = x[pc.off[0] + e] / scale;
    const int v = (pc.nan_zp != 0u && isnan(q)) ? zp : quantize_one(q, zp, 0, 255);
    y[pc.off[3] + e] = uint8_t(v & 255);
  }
}
#endif
