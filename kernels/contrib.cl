// ONNX Runtime contrib ops (com.microsoft) on OpenCL, float32: the Gelu family and BiasAdd
// (act_bias: y = f(x [+ bias over the last dim] [+ skip])) and the row normalisations
// SkipLayerNormalization, SkipSimplifiedLayerNormalization and SimplifiedLayerNormalization
// (norm_rows: one work-item per row, two passes in float), and EmbedLayerNormalization
// (embed_ln_rows, embed_mask_index). Op codes match ops_contrib.cpp.

#define A_IDENTITY 0
#define A_GELU 1
#define A_GELU_TANH 2
#define A_QUICK_GELU 3

__kernel void act_bias(__global const float* x, int x_off, __global const float* bias, int b_off,
                       __global const float* skip, int s_off, __global float* y, int y_off, int op,
                       int n, int c, int has_bias, int has_skip, float alpha) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = x[x_off + i];
  if (has_bias) v += bias[b_off + i % c];
  if (has_skip) v += skip[s_off + i];
  float r;
  switch (op) {
    case A_GELU: r = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f)); break;
    case A_GELU_TANH:
      r = 0.5f * v * (1.0f + tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
      break;
    case A_QUICK_GELU: r = v / (1.0f + exp(-alpha * v)); break;
    default: r = v;
  }
  y[y_off + i] = r;
}

#define F_SKIP 1
#define F_BETA 2
#define F_BIAS 4
#define F_SIMPLIFIED 8
#define F_MEAN 16
#define F_INV 32
#define F_SUM 64

// Row r of v = x + skip (row r % skip_rows) + bias, normalised: (v - mean) / sqrt(var + eps) *
// gamma + beta, or with F_SIMPLIFIED v / sqrt(mean(v^2) + eps) * gamma. Optional outputs: the
// mean and 1 / std per row and the sum v. y may be x's bytes (in place): each row is read and
// written by its own work-item only, and the last pass reads x[i] before writing y[i].
__kernel void norm_rows(__global const float* x, int x_off, __global const float* skip, int s_off,
                        __global const float* gamma, int g_off, __global const float* beta,
                        int be_off, __global const float* bias, int bi_off, __global float* y,
                        int y_off, __global float* mean_out, int m_off, __global float* inv_out,
                        int i_off, __global float* sum_out, int su_off, int rows, int h,
                        int skip_rows, float eps, int flags) {
  int r = get_global_id(0);
  if (r >= rows) return;
  __global const float* xr = x + x_off + r * h;
  __global const float* sr = skip + s_off + (r % skip_rows) * h;
  __global const float* br = bias + bi_off;
  const int has_skip = flags & F_SKIP, has_bias = flags & F_BIAS;
  float sum = 0.0f;
  for (int i = 0; i < h; ++i) {
    float v = xr[i];
    if (has_skip) v += sr[i];
    if (has_bias) v += br[i];
    if (flags & F_SUM) sum_out[su_off + r * h + i] = v;
    sum += v;
  }
  const float mean = (flags & F_SIMPLIFIED) ? 0.0f : sum / (float)h;
  float sq = 0.0f;
  for (int i = 0; i < h; ++i) {
    float v = xr[i];
    if (has_skip) v += sr[i];
    if (has_bias) v += br[i];
    sq += (v - mean) * (v - mean);
  }
  const float inv = 1.0f / sqrt(sq / (float)h + eps);
  for (int i = 0; i < h; ++i) {
    float v = xr[i];
    if (has_skip) v += sr[i];
    if (has_bias) v += br[i];
    float o = (v - mean) * inv * gamma[g_off + i];
    if (flags & F_BETA) o += beta[be_off + i];
    y[y_off + r * h + i] = o;
  }
  if (flags & F_MEAN) mean_out[m_off + r] = mean;
  if (flags & F_INV) inv_out[i_off + r] = inv;
}

#define E_SEGMENT 1
#define E_POSITION_IDS 2
#define E_SUM 4

// EmbedLayerNormalization, one work-item per token row r = b * seq + s: v = word[ids[r]] +
// position[p] (+ segment[seg[r]]), p = position_ids[b or 0, s] (E_POSITION_IDS) or s; the
// output is LayerNorm(v) * gamma + beta, and with E_SUM v itself. A row with an id outside its
// table reads nothing, writes zeros and records r * 3 + (0 word, 1 segment, 2 position) in
// *err with atomic_min, so the host can fail like the CPU reference (the smallest row first).
__kernel void embed_ln_rows(__global const int* ids, int ids_off, __global const int* seg,
                            int seg_off, __global const int* pos, int pos_off,
                            __global const float* wemb, int w_off, __global const float* pemb,
                            int p_off, __global const float* semb, int s_off,
                            __global const float* gamma, int g_off, __global const float* beta,
                            int be_off, __global float* y, int y_off, __global float* sum_out,
                            int su_off, __global int* err, int rows, int seq, int h, int nw,
                            int np, int ns, int pos_rows, int flags, float eps) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int b = r / seq, s = r % seq;
  const int wid = ids[ids_off + r];
  const int sid = (flags & E_SEGMENT) ? seg[seg_off + r] : 0;
  const int p = (flags & E_POSITION_IDS) ? pos[pos_off + (pos_rows == 1 ? 0 : b) * seq + s] : s;
  int bad = -1;
  if (wid < 0 || wid >= nw)
    bad = 0;
  else if ((flags & E_SEGMENT) && (sid < 0 || sid >= ns))
    bad = 1;
  else if (p < 0 || p >= np)
    bad = 2;
  __global float* yr = y + y_off + r * h;
  __global float* sr = sum_out + su_off + r * h;
  if (bad >= 0) {
    atomic_min(err, r * 3 + bad);
    for (int i = 0; i < h; ++i) {
      yr[i] = 0.0f;
      if (flags & E_SUM) sr[i] = 0.0f;
    }
    return;
  }
  __global const float* wr = wemb + w_off + wid * h;
  __global const float* pr = pemb + p_off + p * h;
  __global const float* gr = semb + s_off + sid * h;
  const int has_seg = flags & E_SEGMENT;
  float sum = 0.0f;
  for (int i = 0; i < h; ++i) {
    float v = wr[i] + pr[i];
    if (has_seg) v += gr[i];
    if (flags & E_SUM) sr[i] = v;
    sum += v;
  }
  const float mean = sum / (float)h;
  float sq = 0.0f;
  for (int i = 0; i < h; ++i) {
    float v = wr[i] + pr[i];
    if (has_seg) v += gr[i];
    sq += (v - mean) * (v - mean);
  }
  const float inv = 1.0f / sqrt(sq / (float)h + eps);
  for (int i = 0; i < h; ++i) {
    float v = wr[i] + pr[i];
    if (has_seg) v += gr[i];
    yr[i] = (v - mean) * inv * gamma[g_off + i] + beta[be_off + i];
  }
}

// mask_index of EmbedLayerNormalization: per batch row, the number of mask values equal to 1
// (0 without a mask).
__kernel void embed_mask_index(__global const int* mask, int m_off, __global int* out, int o_off,
                               int batch, int seq, int has_mask) {
  const int b = get_global_id(0);
  if (b >= batch) return;
  int c = 0;
  if (has_mask)
    for (int s = 0; s < seq; ++s) c += mask[m_off + b * seq + s] == 1 ? 1 : 0;
  out[o_off + b] = c;
}
