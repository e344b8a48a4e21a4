// Fused attention core for com.microsoft Attention / MultiHeadAttention
// (runtime/vulkan/ops_attention.cpp): out = softmax(Q K^T * scale + mask + attention_bias) V
// without writing the score matrix. One invocation per (query row s, batch b * heads N + head n).
//
// -DHEAD=h -DVEC4 (h a multiple of 4, Q/K and V head sizes both h, Q/K/V read as vec4): Q and
// the output accumulator live in vec4 registers; keys are taken in tiles of TILE with online
// softmax (running max m and sum l, the accumulator rescaled once per tile whose max raises m).
// Without HEAD (the generic path, any head sizes): pass 1 finds m and l online, pass 2
// accumulates p * V straight into this invocation's own output row.
//
// Q, K and V are read in place through strides: element (b, n, t, j) of X is at
// X_base + b * X_sb + n * X_sn + t * X_st + j, which covers [B, S, N * H] tensors, packed QKV /
// KV, BNSH key / value, Attention's projection [B * S, 3 * D] and the present buffers. The MHA
// bias is folded in: q += bias_q, score += q . bias_k, out += bias_v (sum of p is 1).
// Causal (unidirectional) rows stop at key P + s. Masks (mode): 1 [B, T] raw, 2 [B] key lengths,
// 3 [2B] lengths then start positions, 4 [B, S, T] raw, 5 [B, 1, M, M] raw (row P + s); raw
// values > 0 keep a key, masked keys get `filter` added (ONNX Runtime's mask_filter_value).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

// Keys per online-softmax step. On lavapipe 1 measured fastest (1x128x12x64: 15.9 ms vs 17.7 ms
// with 2, 21.8 with 4) and compiles quickest (h128: 3.4 s vs 4.7, 8.5 s; 16 keys took 16 s at
// h64): the unrolled loops spill to the stack either way.
#define TILE 1

layout(local_size_x_id = 0) in;
#ifdef VEC4
// -DVEC4 (with HEAD): Q, K and V offsets and strides are multiples of 4, read as vec4.
layout(std430, binding = 0) readonly buffer Q { vec4 q[]; };
layout(std430, binding = 1) readonly buffer K { vec4 k[]; };
layout(std430, binding = 2) readonly buffer V { vec4 v[]; };
#define LOAD4(buf, e) buf[(e) >> 2]
#else
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
#define LOAD4(buf, e) vec4(buf[e], buf[(e) + 1u], buf[(e) + 2u], buf[(e) + 3u])
#endif
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) readonly buffer Mask { int mask[]; };
layout(std430, binding = 5) readonly buffer AB { float ab[]; };
layout(std430, binding = 6) buffer Out { float o[]; };
layout(push_constant) uniform PC {
  uint off[7];
  uint B, N, S, T, H, Hv, P;
  uint flags;  // bits 0-3 mask mode, 4 causal, 5 bias on Q, 6 bias on K/V, 7 attention_bias,
               // 8 attention_bias broadcast over the batch, 9 over the heads
  uint q_base, q_sb, q_sn, q_st;
  uint k_base, k_sb, k_sn, k_st;
  uint v_base, v_sb, v_sn, v_st;
  uint mask_m;  // M of the [B, 1, M, M] mask
  float scale, mask_filter;
} pc;

uint mode;
uint len, start;
uint mrow, abrow;
bool has_ab;
float qbk;

// The additive mask and attention bias of key t.
float addend(uint t) {
  float a = 0.0;
  if (has_ab) a += ab[abrow + t];
  if (mode == 1u || mode >= 4u) {
    if (mask[mrow + t] <= 0) a += pc.mask_filter;
  } else if (mode != 0u) {
    if (t >= len || t < start) a += pc.mask_filter;
  }
  return a;
}

#ifndef HEAD
// q (+ bias_q) . k over the Q/K head size, 4 elements per loop iteration.
float qk_dot(uint qrow, uint kr, bool bias_q, uint bq) {
  float d = 0.0;
  uint j = 0u;
  for (; j + 4u <= pc.H; j += 4u) {
    vec4 qv = vec4(q[qrow + j], q[qrow + j + 1u], q[qrow + j + 2u], q[qrow + j + 3u]);
    if (bias_q) qv += vec4(bias[bq + j], bias[bq + j + 1u], bias[bq + j + 2u], bias[bq + j + 3u]);
    d += dot(qv, vec4(k[kr + j], k[kr + j + 1u], k[kr + j + 2u], k[kr + j + 3u]));
  }
  for (; j < pc.H; ++j) d += (q[qrow + j] + (bias_q ? bias[bq + j] : 0.0)) * k[kr + j];
  return d;
}
#endif

void main() {
  // Lanes past the last query row compute row S - 1 and store nothing; every key loop runs to a
  // bound that is uniform over the workgroup (lavapipe then loads K and V once per workgroup
  // instead of gathering per lane), and each lane masks the keys after its own causal end.
  const bool live_row = gl_GlobalInvocationID.x < pc.S;
  const uint s = min(gl_GlobalInvocationID.x, pc.S - 1u);
  const uint s_last = min(pc.S - 1u, (gl_WorkGroupID.x + 1u) * gl_WorkGroupSize.x - 1u);
  const uint bn = gl_WorkGroupID.y;
  const uint b = bn / pc.N, n = bn % pc.N;
  const uint T = pc.T, H = pc.H, Hv = pc.Hv;
  mode = pc.flags & 15u;
  const bool causal = (pc.flags & 16u) != 0u;
  const bool bias_q = (pc.flags & 32u) != 0u, bias_kv = (pc.flags & 64u) != 0u;
  has_ab = (pc.flags & 128u) != 0u;
  const uint tend = causal ? min(T, pc.P + s + 1u) : T;
  const uint tloop = causal ? min(T, pc.P + s_last + 1u) : T;
  len = T;
  start = 0u;
  if (mode == 2u || mode == 3u) len = uint(clamp(mask[pc.off[4] + b], 0, int(T)));
  if (mode == 3u) start = uint(clamp(mask[pc.off[4] + pc.B + b], 0, int(T)));
  mrow = pc.off[4];
  if (mode == 1u) mrow += b * T;
  if (mode == 4u) mrow += (b * pc.S + s) * T;
  if (mode == 5u) mrow += (b * pc.mask_m + pc.P + s) * pc.mask_m;
  const uint ab_n = (pc.flags & 512u) != 0u ? 0u : pc.S * T;
  const uint ab_b = (pc.flags & 256u) != 0u ? 0u : ((pc.flags & 512u) != 0u ? 1u : pc.N) * pc.S * T;
  abrow = pc.off[5] + b * ab_b + n * ab_n + s * T;

  const uint qrow = pc.off[0] + pc.q_base + b * pc.q_sb + n * pc.q_sn + s * pc.q_st;
  const uint kbase = pc.off[1] + pc.k_base + b * pc.k_sb + n * pc.k_sn;
  const uint vbase = pc.off[2] + pc.v_base + b * pc.v_sb + n * pc.v_sn;
  const uint bq = pc.off[3] + n * H, bk = pc.off[3] + pc.N * H + n * H;
  const uint bv = pc.off[3] + 2u * pc.N * H + n * Hv;
  const uint orow = pc.off[6] + (b * pc.S + s) * pc.N * Hv + n * Hv;
  const float scale = pc.scale;
  const float NEG_INF = -1.0 / 0.0;

#ifdef HEAD
#define H4 (HEAD / 4)
  vec4 q4[H4];
  vec4 acc[H4];
  [[unroll]] for (int i = 0; i < H4; ++i) {
    const uint e = qrow + 4u * uint(i);
    q4[i] = LOAD4(q, e);
    if (bias_q) {
      const uint f = bq + 4u * uint(i);
      q4[i] += vec4(bias[f], bias[f + 1u], bias[f + 2u], bias[f + 3u]);
    }
    acc[i] = vec4(0.0);
  }
  qbk = 0.0;
  if (bias_kv) {
    vec4 d = vec4(0.0);
    [[unroll]] for (int i = 0; i < H4; ++i) {
      const uint f = bk + 4u * uint(i);
      d += q4[i] * vec4(bias[f], bias[f + 1u], bias[f + 2u], bias[f + 3u]);
    }
    qbk = (d.x + d.y) + (d.z + d.w);
  }
  float m = NEG_INF, l = 0.0;
  for (uint t0 = 0u; t0 < tloop; t0 += TILE) {
    float sc[TILE];
    float tmax = NEG_INF;
    [[unroll]] for (int j = 0; j < TILE; ++j) {
      const uint t = min(t0 + uint(j), tloop - 1u);
      const uint kr = kbase + t * pc.k_st;
      vec4 d = vec4(0.0);
      [[unroll]] for (int i = 0; i < H4; ++i) {
        const uint e = kr + 4u * uint(i);
        d += q4[i] * LOAD4(k, e);
      }
      float x = ((d.x + d.y) + (d.z + d.w) + qbk) * scale + addend(t);
      if (t0 + uint(j) >= tend) x = NEG_INF;
      sc[j] = x;
      tmax = max(tmax, x);
    }
    if (tmax > m) {
      const float corr = exp(m - tmax);
      l *= corr;
      [[unroll]] for (int i = 0; i < H4; ++i) acc[i] *= corr;
      m = tmax;
    }
    [[unroll]] for (int j = 0; j < TILE; ++j) {
      const uint t = min(t0 + uint(j), tloop - 1u);
      const float p = sc[j] == NEG_INF ? 0.0 : exp(sc[j] - m);
      l += p;
      const uint vr = vbase + t * pc.v_st;
      [[unroll]] for (int i = 0; i < H4; ++i) {
        const uint e = vr + 4u * uint(i);
        acc[i] += p * LOAD4(v, e);
      }
    }
  }
  if (!live_row) return;
  const float inv = 1.0 / l;
  [[unroll]] for (int i = 0; i < H4; ++i) {
    vec4 r = acc[i] * inv;
    if (bias_kv) {
      const uint f = bv + 4u * uint(i);
      r += vec4(bias[f], bias[f + 1u], bias[f + 2u], bias[f + 3u]);
    }
    const uint e = orow + 4u * uint(i);
    o[e] = r.x;
    o[e + 1u] = r.y;
    o[e + 2u] = r.z;
    o[e + 3u] = r.w;
  }
#else
  // llvmpipe ends a shader's loops after 65535 iterations in total per invocation: inner loops
  // go 4 elements per iteration, and ops_attention.cpp keeps T * (H + Hv) within the limit.
  qbk = 0.0;
  if (bias_kv) {
    for (uint j = 0u; j < H; ++j)
      qbk += (q[qrow + j] + (bias_q ? bias[bq + j] : 0.0)) * bias[bk + j];
  }
  // Pass 1: the running max and sum.
  float m = NEG_INF, l = 0.0;
  for (uint t = 0u; t < tloop; ++t) {
    float x = (qk_dot(qrow, kbase + t * pc.k_st, bias_q, bq) + qbk) * scale + addend(t);
    if (t >= tend) x = NEG_INF;
    if (x > m) {
      l *= exp(m - x);
      m = x;
    }
    l += x == NEG_INF ? 0.0 : exp(x - m);
  }
  if (!live_row) return;
  // Pass 2: out = sum_t p_t V_t (+ bias_v), accumulated in this lane's own output row.
  for (uint j = 0u; j < Hv; ++j) o[orow + j] = 0.0;
  const float inv = 1.0 / l;
  for (uint t = 0u; t < tend; ++t) {
    const float x = (qk_dot(qrow, kbase + t * pc.k_st, bias_q, bq) + qbk) * scale + addend(t);
    const float p = x == NEG_INF ? 0.0 : exp(x - m) * inv;
    const uint vr = vbase + t * pc.v_st;
    uint j = 0u;
    for (; j + 4u <= Hv; j += 4u) {
      o[orow + j] += p * v[vr + j];
      o[orow + j + 1u] += p * v[vr + j + 1u];
      o[orow + j + 2u] += p * v[vr + j + 2u];
      o[orow + j + 3u] += p * v[vr + j + 3u];
    }
    for (; j < Hv; ++j) o[orow + j] += p * v[vr + j];
  }
  if (bias_kv)
    for (uint j = 0u; j < Hv; ++j) o[orow + j] += bias[bv + j];
#endif
}
