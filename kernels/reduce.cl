// Reductions (Reduce*, ArgMax/ArgMin), Softmax/LogSoftmax, LayerNormalization and Cast.
// Built with -DT=float, and again with -DT=float -DKILN_HALF for float16 tensors: the Reduce*,
// ArgMax/ArgMin, Softmax and LayerNormalization buffers are then `half`, read with vload_half and
// written with vstore_half_rte (round to nearest even, as the CPU reference), and all arithmetic
// stays float (no cl_khr_fp16 needed). Elements are addressed by index from the buffer start (no
// pointer arithmetic on half pointers). Op codes match runtime/opencl/ops_reduce.cpp.
//
// Row kernels share one layout: a work-group of LANES x ROWS work-items (local size (L, G) with
// L a power of two and L * G <= MAX_GROUP); work-item (lane, g) handles row get_global_id(1)
// and visits the row's elements lane, lane + L, lane + 2L, ... Partial results are combined by a
// tree in local memory, so the reduction order is fixed by the shapes and L (chosen per device
// from the shapes): the results are deterministic. Sums accumulate in float with Kahan
// compensation in four independent chains per lane. Rows past the end (padding of the global
// size) still take part in every barrier but touch no memory.

#ifndef T
#define T float
#endif

#define MAX_GROUP 128

// S: the storage type of the float buffers; LOAD / STORE convert to and from float.
#ifdef KILN_HALF
#define S half
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#else
#define S T
#define LOAD(p, i) ((float)(p)[(i)])
#define STORE(p, i, v) ((p)[(i)] = (T)(v))
#endif

#define R_SUM 0
#define R_MEAN 1
#define R_MAX 2
#define R_MIN 3
#define R_PROD 4
#define R_L2 5
#define R_SUMSQ 6

// Dtype codes of Cast (ONNX TensorProto values).
#define D_FLOAT 1
#define D_INT32 6
#define D_INT64 7
#define D_BOOL 9
#define D_HALF 10

inline void unpack8(int8 v, int* a) {
  a[0] = v.s0;
  a[1] = v.s1;
  a[2] = v.s2;
  a[3] = v.s3;
  a[4] = v.s4;
  a[5] = v.s5;
  a[6] = v.s6;
  a[7] = v.s7;
}

// Element offset of linear index j over `n` dims `d` with strides `s` (row-major).
inline int offset_of(int j, int n, const int* d, const int* s) {
  int off = 0;
  for (int k = n - 1; k >= 0; --k) {
    int q = j % d[k];
    j /= d[k];
    off += q * s[k];
  }
  return off;
}

// The row of this work-item (clamped so that padding past INT_MAX stays out of range).
inline int row_id(void) { return (int)min(get_global_id(1), (size_t)INT_MAX); }

// Kahan-compensated accumulation: *sum += v.
inline void kahan_add(float* sum, float* c, float v) {
  float y = v - *c;
  float t = *sum + y;
  *c = isfinite(t) ? (t - *sum) - y : 0.0f;  // no compensation once infinite or NaN
  *sum = t;
}

inline float nan_max(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmax(a, b); }
inline float nan_min(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmin(a, b); }

inline float combine(int op, float a, float b) {
  switch (op) {
    case R_MAX: return nan_max(a, b);
    case R_MIN: return nan_min(a, b);
    case R_PROD: return a * b;
  }
  return a + b;
}

// Row loops. In scope: `lane`, `L` and the row length `n`. EXPR is an expression of the element
// index `j`. The lane's elements j = lane + k * L are split over four independent accumulators
// (k mod 4) in blocks of 4L (a trip count that is the same for every lane), then a tail goes to
// the first one; the four are combined in a fixed order.
#define ROW_KAHAN_SUM(OUT, EXPR)                                                   \
  {                                                                                \
    float s0_ = 0.0f, s1_ = 0.0f, s2_ = 0.0f, s3_ = 0.0f;                          \
    float c0_ = 0.0f, c1_ = 0.0f, c2_ = 0.0f, c3_ = 0.0f;                          \
    const int full_ = n - n % (4 * L);                                             \
    int j;                                                                         \
    for (int b_ = 0; b_ < full_; b_ += 4 * L) {                                    \
      j = b_ + lane;                                                               \
      kahan_add(&s0_, &c0_, (EXPR));                                               \
      j += L;                                                                      \
      kahan_add(&s1_, &c1_, (EXPR));                                               \
      j += L;                                                                      \
      kahan_add(&s2_, &c2_, (EXPR));                                               \
      j += L;                                                                      \
      kahan_add(&s3_, &c3_, (EXPR));                                               \
    }                                                                              \
    for (j = full_ + lane; j < n; j += L) kahan_add(&s0_, &c0_, (EXPR));           \
    OUT = ((s0_ - c0_) + (s1_ - c1_)) + ((s2_ - c2_) + (s3_ - c3_));               \
  }

// The same with a plain fold: STEP(acc, v) updates acc, COMB(a, b) combines two accumulators.
#define ROW_FOLD(OUT, INIT, STEP, COMB, EXPR)                                      \
  {                                                                                \
    float a0_ = (INIT), a1_ = (INIT), a2_ = (INIT), a3_ = (INIT);                  \
    const int full_ = n - n % (4 * L);                                             \
    int j;                                                                         \
    for (int b_ = 0; b_ < full_; b_ += 4 * L) {                                    \
      j = b_ + lane;                                                               \
      STEP(a0_, (EXPR));                                                           \
      j += L;                                                                      \
      STEP(a1_, (EXPR));                                                           \
      j += L;                                                                      \
      STEP(a2_, (EXPR));                                                           \
      j += L;                                                                      \
      STEP(a3_, (EXPR));                                                           \
    }                                                                              \
    for (j = full_ + lane; j < n; j += L) STEP(a0_, (EXPR));                       \
    OUT = COMB(COMB(a0_, a1_), COMB(a2_, a3_));                                    \
  }

#define STEP_MAX(a, v) a = nan_max(a, v)
#define STEP_MIN(a, v) a = nan_min(a, v)
#define STEP_PROD(a, v) a *= (v)
#define COMB_MUL(a, b) ((a) * (b))

// Tree-combines v over the L lanes of one row (s: that row's L local slots). Every work-item of
// the group must call it. Returns the row's result to every lane.
inline float tree_reduce(__local float* s, int lane, int L, float v, int op) {
  s[lane] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int h = L >> 1; h > 0; h >>= 1) {
    if (lane < h) s[lane] = combine(op, s[lane], s[lane + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = s[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

// --- Reduce* -------------------------------------------------------------------------------------
// Output o reduces `count` elements: base = offset of o over the kept dims (nk, kd, ks), then the
// reduced index space (nr, rd, rs).
__kernel void reduce(__global const S* x, int x_off, __global S* y, int y_off, int op, int n_out,
                     int count, int nk, int8 kd8, int8 ks8, int nr, int8 rd8, int8 rs8) {
  __local float sbuf[MAX_GROUP];
  const int lane = get_local_id(0), L = get_local_size(0);
  const int o = row_id();
  int kd[8], ks[8], rd[8], rs[8];
  unpack8(kd8, kd);
  unpack8(ks8, ks);
  unpack8(rd8, rd);
  unpack8(rs8, rs);
  float acc;
  if (op == R_MAX)
    acc = -INFINITY;
  else if (op == R_MIN)
    acc = INFINITY;
  else if (op == R_PROD)
    acc = 1.0f;
  else
    acc = 0.0f;
  if (o < n_out) {
    const int base = x_off + offset_of(o, nk, kd, ks);
    const int n = count;
#define REDUCE_OPS(EXPR)                                                                \
  switch (op) {                                                                         \
    case R_MAX: ROW_FOLD(acc, -INFINITY, STEP_MAX, nan_max, EXPR); break;              \
    case R_MIN: ROW_FOLD(acc, INFINITY, STEP_MIN, nan_min, EXPR); break;               \
    case R_PROD: ROW_FOLD(acc, 1.0f, STEP_PROD, COMB_MUL, EXPR); break;                \
    case R_L2:                                                                          \
    case R_SUMSQ: {                                                                     \
      ROW_KAHAN_SUM(acc, ((float)(EXPR)) * ((float)(EXPR)));                           \
      break;                                                                            \
    }                                                                                   \
    default: ROW_KAHAN_SUM(acc, EXPR);                                                  \
  }
    if (nr <= 1) {
      const int s = nr == 1 ? rs[0] : 0;
      REDUCE_OPS(LOAD(x, base + j * s));
    } else {
      REDUCE_OPS(LOAD(x, base + offset_of(j, nr, rd, rs)));
    }
#undef REDUCE_OPS
  }
  int tree_op = (op == R_MAX || op == R_MIN || op == R_PROD) ? op : R_SUM;
  float r = tree_reduce(sbuf + get_local_id(1) * L, lane, L, acc, tree_op);
  if (o < n_out && lane == 0) {
    if (op == R_MEAN) r = r / (float)count;
    if (op == R_L2) r = sqrt(r);
    STORE(y, y_off + o, r);
  }
}

// --- ArgMax / ArgMin ------------------------------------------------------------------------------
// Row r of [outer, n, inner] starts at (r / inner) * n * inner + r % inner, stride inner. NaN is the
// best value; ties keep the lower index (the higher one with `last`). That preference is a total
// order, so the tree gives the sequential answer.
inline int arg_better(int is_max, int last, float a, int ia, float b, int ib) {
  // Is (b, ib) preferred over (a, ia)?
  if (ib < 0) return 0;
  if (ia < 0) return 1;
  int na = isnan(a), nb = isnan(b);
  int tie;
  if (na || nb) {
    if (na != nb) return nb;
    tie = 1;
  } else {
    if (is_max ? b > a : b < a) return 1;
    tie = b == a;
  }
  return tie && (last ? ib > ia : ib < ia);
}

__kernel void arg_reduce(__global const S* x, int x_off, __global long* y, int y_off, int is_max,
                         int last, int rows, int n, int inner) {
  __local float sval[MAX_GROUP];
  __local int sidx[MAX_GROUP];
  const int lane = get_local_id(0), L = get_local_size(0);
  const int r = row_id();
  float best = 0.0f;
  int bi = -1;
  if (r < rows) {
    const int row = x_off + (r / inner) * n * inner + r % inner;
    for (int j = lane; j < n; j += L) {
      float v = LOAD(x, row + j * inner);
      if (arg_better(is_max, last, best, bi, v, j)) {
        best = v;
        bi = j;
      }
    }
  }
  __local float* sv = sval + get_local_id(1) * L;
  __local int* si = sidx + get_local_id(1) * L;
  sv[lane] = best;
  si[lane] = bi;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int h = L >> 1; h > 0; h >>= 1) {
    if (lane < h && arg_better(is_max, last, sv[lane], si[lane], sv[lane + h], si[lane + h])) {
      sv[lane] = sv[lane + h];
      si[lane] = si[lane + h];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (r < rows && lane == 0) y[y_off + r] = (long)max(si[0], 0);
}

// --- Softmax / LogSoftmax -------------------------------------------------------------------------
// Rows as in arg_reduce. Max, then the Kahan sum of exp(x - max), then the outputs.
__kernel void softmax(__global const S* x, int x_off, __global S* y, int y_off, int log_mode,
                      int rows, int n, int inner) {
  __local float sbuf[MAX_GROUP];
  const int lane = get_local_id(0), L = get_local_size(0);
  const int r = row_id();
  __local float* s = sbuf + get_local_id(1) * L;
  const int start = (r / inner) * n * inner + r % inner;
  const int row = x_off + start, out = y_off + start;
  const int live = r < rows;
  float m = -INFINITY;
  if (live) ROW_FOLD(m, -INFINITY, STEP_MAX, nan_max, LOAD(x, row + j * inner));
  m = tree_reduce(s, lane, L, m, R_MAX);
  float sum = 0.0f;
  if (live) ROW_KAHAN_SUM(sum, exp(LOAD(x, row + j * inner) - m));
  sum = tree_reduce(s, lane, L, sum, R_SUM);
  if (!live) return;
  if (log_mode) {
    const float ls = log(sum);
    for (int j = lane; j < n; j += L)
      STORE(y, out + j * inner, (LOAD(x, row + j * inner) - m) - ls);
  } else {
    const float inv = 1.0f / sum;
    for (int j = lane; j < n; j += L)
      STORE(y, out + j * inner, exp(LOAD(x, row + j * inner) - m) * inv);
  }
}

// --- LayerNormalization ---------------------------------------------------------------------------
// Row o of [outer, n] (contiguous). Scale and bias broadcast to X: with *_dense they hold one value
// per element of the normalized shape (offset i); otherwise element (o, i) of X is decomposed over
// X's dims `xd` (rank dims) and dotted with the operand's broadcast strides.
inline int operand_offset(int dense, int o, int i, int n, int rank, const int* xd, const int* st) {
  return dense ? i : offset_of(o * n + i, rank, xd, st);
}

__kernel void layer_norm(__global const S* x, int x_off, __global const S* scale, int s_off,
                         __global const S* bias, int b_off, __global S* y, int y_off, int rows,
                         int n, float eps, int has_bias, int scale_dense, int bias_dense,
                         int rank, int8 xd8, int8 ss8, int8 bs8) {
  __local float sbuf[MAX_GROUP];
  const int lane = get_local_id(0), L = get_local_size(0);
  const int o = row_id();
  __local float* s = sbuf + get_local_id(1) * L;
  const int live = o < rows;
  const int row = x_off + o * n;
  float sum = 0.0f;
  if (live) ROW_KAHAN_SUM(sum, LOAD(x, row + j));
  const float mean = tree_reduce(s, lane, L, sum, R_SUM) / (float)n;
  float sq = 0.0f;
  if (live) ROW_KAHAN_SUM(sq, (LOAD(x, row + j) - mean) * (LOAD(x, row + j) - mean));
  const float var = tree_reduce(s, lane, L, sq, R_SUM) / (float)n;
  if (!live) return;
  const float inv = 1.0f / sqrt(var + eps);
  int xd[8], ss[8], bs[8];
  unpack8(xd8, xd);
  unpack8(ss8, ss);
  unpack8(bs8, bs);
  const int out = y_off + o * n;
  for (int j = lane; j < n; j += L) {
    float v = (LOAD(x, row + j) - mean) * inv *
              LOAD(scale, s_off + operand_offset(scale_dense, o, j, n, rank, xd, ss));
    if (has_bias) v += LOAD(bias, b_off + operand_offset(bias_dense, o, j, n, rank, xd, bs));
    STORE(y, out + j, v);
  }
}

// --- Cast -----------------------------------------------------------------------------------------
// Between float32, float16 (storage only), int32, int64 and bool. Float -> integer truncates toward
// zero and saturates, NaN gives 0; integer -> integer wraps; -> bool is (v != 0), NaN gives true;
// -> float16 rounds to nearest even. The buffers are typed by `from` / `to`.
__kernel void cast(__global const uchar* xb, int x_off, __global uchar* yb, int y_off, int from,
                   int to, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  float f = 0.0f;
  long l = 0;
  int is_f = 0;
  switch (from) {
    case D_FLOAT:
      f = ((__global const float*)xb)[x_off + i];
      is_f = 1;
      break;
    case D_HALF:
      f = vload_half(x_off + i, (__global const half*)xb);
      is_f = 1;
      break;
    case D_INT32: l = ((__global const int*)xb)[x_off + i]; break;
    case D_INT64: l = ((__global const long*)xb)[x_off + i]; break;
    case D_BOOL: l = xb[x_off + i] != 0; break;
  }
  switch (to) {
    case D_FLOAT: ((__global float*)yb)[y_off + i] = is_f ? f : convert_float_rte(l); break;
    case D_HALF:
      vstore_half_rte(is_f ? f : convert_float_rte(l), y_off + i, (__global half*)yb);
      break;
    case D_INT32:
      ((__global int*)yb)[y_off + i] = is_f ? convert_int_sat_rtz(f) : (int)l;
      break;
    case D_INT64:
      ((__global long*)yb)[y_off + i] = is_f ? convert_long_sat_rtz(f) : l;
      break;
    case D_BOOL: yb[y_off + i] = is_f ? (uchar)(f != 0.0f || isnan(f)) : (uchar)(l != 0); break;
  }
}
