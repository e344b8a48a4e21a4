// Fused attention (com.microsoft Attention / MultiHeadAttention) on OpenCL, float32.
//
// attend: out = softmax(Q K^T * scale + mask + attention_bias) V without writing the score
// matrix: one work-item per (batch, head, query row), online softmax over tiles of TILE keys
// (running max and sum, the accumulator rescaled once per tile), Q and the accumulator held in
// float4 registers (head sizes up to MAXH; float4 loads when the head sizes are multiples of 4,
// a scalar path otherwise). Q, K and V are read in place through strides (batch, row, head)
// from [B, S, N * H] tensors, BNSH [B, N, T, H] tensors (cached cross-attention K / V, or the
// present K / V), packed QKV [B, S, N, 3, H] / KV [B, L, N, 2, H] or the packed projection
// [B * S, 3 * D]; the MHA bias is added to Q and, when K / V are read from the node inputs,
// folded in as q.bias_k (per row) and bias_v * sum(p) (at the end). Causal rows stop at key
// past + s. Attention's packed input projection runs before it on the tuned GEMM of
// kernels/matmul.cl.
//
// kv_present: present [B, N, P + L, h] = concat(past [B, N, P, h], new heads (+ bias)) along the
// sequence axis, the new heads read through strides from [B, L, N * h], BNSH
// [B, N, L, h], packed QKV / KV or the packed projection; one work-item per element.

#define MAXH 128
#define H4MAX (MAXH / 4)
#define TILE 16

#define M_NONE 0
#define M_RAW2D 1      // [B, T]: mask > 0 keeps the key
#define M_LENGTHS 2    // [B]: keys t >= length are masked
#define M_START_END 3  // [2B]: lengths, then start positions
#define M_RAW3D 4      // [B, S, T]
#define M_RAW4D 5      // [B, 1, M, M]: query row s reads row past + s

inline float4 load4(__global const float* p, int h4, int n, int vec) {
  if (vec) return vload4(h4, p);
  float4 r = (float4)(0.0f);
  int h = h4 * 4;
  r.x = p[h];
  if (h + 1 < n) r.y = p[h + 1];
  if (h + 2 < n) r.z = p[h + 2];
  if (h + 3 < n) r.w = p[h + 3];
  return r;
}

inline float hsum4(float4 v) {
  return (v.x + v.y) + (v.z + v.w);
}

// dims: B, N, S, T (keys, past included), H, Hv, mask_mode, flags (1 causal, 2 bias added to
// Q, 4 attention_bias, 8 bias of K / V folded in).
// strides: q batch, q row, k batch, k row, v batch, v row, attention_bias batch, head.
// cols: the column of head 0 in a Q, K, V row; D (bias offset of K), bias offset of V.
// heads: the head strides of Q, K, V; the past length (causal rows stop at key past + s).
// mask_m: M of the [B, 1, M, M] mask.
__kernel void attend(__global const float* q, int q_off, __global const float* k, int k_off,
                     __global const float* v, int v_off, __global const float* bias, int bias_off,
                     __global const int* mask, int mask_off, __global const float* ab, int ab_off,
                     __global float* out, int out_off, int8 dims, int8 strides, int4 cols,
                     float scale, float filter, int4 heads, int mask_m) {
  const int B = dims.s0, N = dims.s1, S = dims.s2, nT = dims.s3, H = dims.s4, Hv = dims.s5;
  const int mode = dims.s6, flags = dims.s7;
  const int s = get_global_id(0);
  const int bn = get_global_id(1);
  if (s >= S || bn >= B * N) return;
  const int b = bn / N, n = bn % N;
  const int H4 = (H + 3) / 4, Hv4 = (Hv + 3) / 4;
  const int vecq = (H & 3) == 0, vecv = (Hv & 3) == 0;

  float4 q4[H4MAX];
  float4 acc[H4MAX];
  __global const float* qp = q + q_off + b * strides.s0 + s * strides.s1 + cols.s0 + n * heads.s0;
  for (int i = 0; i < H4; ++i) q4[i] = load4(qp, i, H, vecq);
  float qbk = 0.0f;  // q . bias_k
  if (flags & 2) {
    __global const float* bq = bias + bias_off + n * H;
    for (int i = 0; i < H4; ++i) q4[i] += load4(bq, i, H, vecq);
  }
  if (flags & 8) {
    __global const float* bk = bias + bias_off + cols.s3 + n * H;
    float4 d = (float4)(0.0f);
    for (int i = 0; i < H4; ++i) d += q4[i] * load4(bk, i, H, vecq);
    qbk = hsum4(d);
  }
  for (int i = 0; i < Hv4; ++i) acc[i] = (float4)(0.0f);

  int tend = nT;
  if (flags & 1) tend = min(nT, heads.s3 + s + 1);
  int len = nT, start = 0;
  if (mode == M_LENGTHS || mode == M_START_END) len = clamp(mask[mask_off + b], 0, nT);
  if (mode == M_START_END) start = clamp(mask[mask_off + B + b], 0, nT);
  __global const int* mrow = mask + mask_off;
  if (mode == M_RAW2D) mrow += b * nT;
  if (mode == M_RAW3D) mrow += (b * S + s) * nT;
  if (mode == M_RAW4D) mrow += (b * mask_m + heads.s3 + s) * mask_m;
  __global const float* abrow = ab + ab_off + b * strides.s6 + n * strides.s7 + s * nT;
  __global const float* kbase = k + k_off + b * strides.s2 + cols.s1 + n * heads.s1;
  __global const float* vbase = v + v_off + b * strides.s4 + cols.s2 + n * heads.s2;

  float m = -INFINITY, l = 0.0f;
  float sc[TILE];
  for (int t0 = 0; t0 < tend; t0 += TILE) {
    const int tn = min(TILE, tend - t0);
    float tmax = -INFINITY;
    for (int j = 0; j < tn; ++j) {
      const int t = t0 + j;
      __global const float* kp = kbase + t * strides.s3;
      float4 d = (float4)(0.0f);
      for (int i = 0; i < H4; ++i) d += q4[i] * load4(kp, i, H, vecq);
      float add = 0.0f;
      if (flags & 4) add += abrow[t];
      if (mode == M_RAW2D || mode == M_RAW3D || mode == M_RAW4D) {
        if (mrow[t] <= 0) add += filter;
      } else if (mode != M_NONE) {
        if (t >= len || t < start) add += filter;
      }
      const float x = (hsum4(d) + qbk) * scale + add;
      sc[j] = x;
      tmax = fmax(tmax, x);
    }
    if (tmax == -INFINITY && m == -INFINITY) continue;
    if (tmax > m) {
      const float corr = exp(m - tmax);
      l *= corr;
      for (int i = 0; i < Hv4; ++i) acc[i] *= corr;
      m = tmax;
    }
    for (int j = 0; j < tn; ++j) {
      const float p = exp(sc[j] - m);
      l += p;
      __global const float* vp = vbase + (t0 + j) * strides.s5;
      for (int i = 0; i < Hv4; ++i) acc[i] += p * load4(vp, i, Hv, vecv);
    }
  }
  const float inv = 1.0f / l;
  __global float* op = out + out_off + (b * S + s) * N * Hv + n * Hv;
  __global const float* bv = bias + bias_off + 2 * cols.s3 + n * Hv;
  for (int i = 0; i < Hv4; ++i) {
    float4 r = acc[i] * inv;
    if (flags & 8) r += load4(bv, i, Hv, vecv);
    if (vecv) {
      vstore4(r, i, op);
    } else {
      const int h = i * 4;
      op[h] = r.x;
      if (h + 1 < Hv) op[h + 1] = r.y;
      if (h + 2 < Hv) op[h + 2] = r.z;
      if (h + 3 < Hv) op[h + 3] = r.w;
    }
  }
}

// dims: B, N, P (past), L (new), h, source strides of batch, row, head.
// cols: the column of head 0 in a source row; the bias offset (-1: no bias); the element offsets
// in dst and past of this half (Attention's packed [2, B, N, T, h] present / past).
__kernel void kv_present(__global const float* past, int past_off, __global const float* src,
                         int src_off, __global const float* bias, int bias_off,
                         __global float* dst, int dst_off, int8 dims, int4 cols) {
  const int N = dims.s1, P = dims.s2, L = dims.s3, h = dims.s4;
  const int nT = P + L;
  const int e = get_global_id(0);
  const int bn = get_global_id(1);
  if (e >= nT * h || bn >= dims.s0 * N) return;
  const int t = e / h, i = e % h;
  const int b = bn / N, n = bn % N;
  float x;
  if (t < P) {
    x = past[past_off + cols.s3 + (bn * P + t) * h + i];
  } else {
    x = src[src_off + b * dims.s5 + (t - P) * dims.s6 + n * dims.s7 + cols.s0 + i];
    if (cols.s1 >= 0) x += bias[bias_off + cols.s1 + n * h + i];
  }
  dst[dst_off + cols.s2 + bn * nT * h + e] = x;
}
