// ONNX Runtime contrib ops (com.microsoft) on OpenCL, float32: the Gelu family and BiasAdd
// (act_bias: y = f(x [+ bias over the last dim] [+ skip])) and the row normalisations
// SkipLayerNormalization, SkipSimplifiedLayerNormalization and SimplifiedLayerNormalization
// (norm_rows: one work-item per row, two passes in float). Op codes match ops_contrib.cpp.

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
// mean and 1 / std per row and the sum v.
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
