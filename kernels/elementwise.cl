// Elementwise unary, binary (numpy broadcasting), comparison and Where kernels.
// Built with -DT=float (storage and compute type), and a second time with -DT=float -DKILN_HALF
// for float16 tensors: storage is `half` read with vload_half and written with vstore_half_rte
// (round to nearest even, as the CPU reference), arithmetic is float. Op codes match ElementwiseOp / UnaryOp in
// runtime/opencl/ops_elementwise.cpp. Broadcasting: `rank` dims (at most 8) in `dims`, and per
// operand element strides (0 on broadcast dims); mode 0 means all operands are dense with the
// output's shape, so offsets equal the output index. The host collapses dims first (drops
// extent-1 dims, merges neighbours every operand walks contiguously or not at all), so the
// general path usually divides over one to three dims; float `binary` with dense or
// row/scalar-broadcast operands runs `binary_vec` (four elements per work-item).

#ifndef T
#define T float
#endif

// S: the element type of T buffers; LOAD/STORE convert to and from float. RAW: the type Where
// copies bit-exactly.
#ifdef KILN_HALF
#define S half
#define RAW ushort
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#define LOAD4(p, i) vload_half4(0, (p) + (i))
#define STORE4(p, i, v) vstore_half4_rte((v), 0, (p) + (i))
#else
#define S T
#define RAW T
#define LOAD(p, i) ((float)(p)[(i)])
#define STORE(p, i, v) ((p)[(i)] = (T)(v))
#define LOAD4(p, i) vload4(0, (p) + (i))
#define STORE4(p, i, v) vstore4((v), 0, (p) + (i))
#endif

#define U_IDENTITY 0
#define U_RELU 1
#define U_LEAKY_RELU 2
#define U_ELU 3
#define U_SIGMOID 4
#define U_TANH 5
#define U_EXP 6
#define U_LOG 7
#define U_SQRT 8
#define U_ERF 9
#define U_GELU 10
#define U_GELU_TANH 11
#define U_NEG 12
#define U_ABS 13
#define U_RECIPROCAL 14
#define U_FLOOR 15
#define U_CEIL 16
#define U_CLIP 17
#define U_HARD_SIGMOID 18
#define U_SOFTPLUS 19
#define U_SIN 20
#define U_COS 21
#define U_ROUND 22
#define U_SIGN 23
#define U_HARD_SWISH 24
#define U_SELU 25
#define U_SOFTSIGN 26

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_POW 4
#define B_MIN 5
#define B_MAX 6
#define B_PRELU 7

#define C_EQUAL 0
#define C_LESS 1
#define C_LESS_EQUAL 2
#define C_GREATER 3
#define C_GREATER_EQUAL 4

inline float apply_unary(int op, float x, float alpha, float beta) {
  switch (op) {
    case U_IDENTITY: return x;
    case U_RELU: return x < 0.0f ? 0.0f : x;  // NaN stays NaN, as on the CPU
    case U_LEAKY_RELU: return x >= 0.0f ? x : alpha * x;
    case U_ELU: return x >= 0.0f ? x : alpha * (exp(x) - 1.0f);
    case U_SIGMOID: return x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
    case U_TANH: return tanh(x);
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_ERF: return erf(x);
    case U_GELU: return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
    case U_GELU_TANH:
      return 0.5f * x * (1.0f + tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case U_NEG: return -x;
    case U_ABS: return fabs(x);
    case U_RECIPROCAL: return 1.0f / x;
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_CLIP: return isnan(x) ? x : fmin(fmax(x, alpha), beta);
    case U_HARD_SIGMOID: return fmax(0.0f, fmin(1.0f, alpha * x + beta));
    case U_SOFTPLUS: return x > 20.0f ? x : log1p(exp(x));
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_ROUND: return rint(x);
    case U_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case U_HARD_SWISH: return x * fmax(0.0f, fmin(1.0f, x / 6.0f + 0.5f));
    case U_SELU: return x > 0.0f ? beta * x : beta * (alpha * exp(x) - alpha);
    case U_SOFTSIGN: return x / (1.0f + fabs(x));
  }
  return x;
}

inline float apply_binary(int op, float a, float b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MIN: return (isnan(a) || isnan(b)) ? NAN : fmin(a, b);
    case B_MAX: return (isnan(a) || isnan(b)) ? NAN : fmax(a, b);
    case B_PRELU: return a < 0.0f ? a * b : a;
  }
  return a;
}

inline uchar apply_compare(int op, float a, float b) {
  switch (op) {
    case C_EQUAL: return a == b;
    case C_LESS: return a < b;
    case C_LESS_EQUAL: return a <= b;
    case C_GREATER: return a > b;
    case C_GREATER_EQUAL: return a >= b;
  }
  return 0;
}

// Offsets of output element i in up to three broadcast operands.
inline void bcast_offsets(int i, int rank, int8 dims, int8 s0, int8 s1, int8 s2, int* o0, int* o1,
                          int* o2) {
  int d[8] = {dims.s0, dims.s1, dims.s2, dims.s3, dims.s4, dims.s5, dims.s6, dims.s7};
  int a[8] = {s0.s0, s0.s1, s0.s2, s0.s3, s0.s4, s0.s5, s0.s6, s0.s7};
  int b[8] = {s1.s0, s1.s1, s1.s2, s1.s3, s1.s4, s1.s5, s1.s6, s1.s7};
  int c[8] = {s2.s0, s2.s1, s2.s2, s2.s3, s2.s4, s2.s5, s2.s6, s2.s7};
  int r = i, x = 0, y = 0, z = 0;
  for (int k = rank - 1; k >= 0; --k) {
    int q = r % d[k];
    r /= d[k];
    x += q * a[k];
    y += q * b[k];
    z += q * c[k];
  }
  *o0 = x;
  *o1 = y;
  *o2 = z;
}

__kernel void unary(__global const S* x, int x_off, __global S* y, int y_off, int op, int n,
                    float alpha, float beta) {
  int i = get_global_id(0);
  if (i >= n) return;
  STORE(y, y_off + i, apply_unary(op, LOAD(x, x_off + i), alpha, beta));
}

__kernel void binary(__global const S* a, int a_off, __global const S* b, int b_off,
                     __global S* y, int y_off, int op, int n, int mode, int rank, int8 dims,
                     int8 sa, int8 sb) {
  int i = get_global_id(0);
  if (i >= n) return;
  int ia = i, ib = i, unused;
  if (mode != 0) bcast_offsets(i, rank, dims, sa, sb, sb, &ia, &ib, &unused);
  STORE(y, y_off + i, apply_binary(op, LOAD(a, a_off + ia), LOAD(b, b_off + ib)));
}

// Four lanes of apply_binary: the IEEE-exact ops as vector arithmetic (the same single
// operations, so bit-identical to the scalar kernel), the others lane by lane.
inline float4 apply_binary4(int op, float4 a, float4 b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
  }
  return (float4)(apply_binary(op, a.s0, b.s0), apply_binary(op, a.s1, b.s1),
                  apply_binary(op, a.s2, b.s2), apply_binary(op, a.s3, b.s3));
}

// `binary` with four outputs per work-item (global size ceil(n / 4)) and vload4/vstore4 (any
// element offset: vloadn needs only element alignment). mode 0: a and b dense with the output;
// mode 1: a dense, b repeats with period `inner` (a trailing row, or a scalar when inner == 1);
// mode 2: b dense, a repeats. Rows are read with one vload4 when the four lanes stay in a row.
__kernel void binary_vec(__global const S* a, int a_off, __global const S* b, int b_off,
                         __global S* y, int y_off, int op, int n, int mode, int inner) {
  int i = get_global_id(0) * 4;
  if (i >= n) return;
  if (i + 4 <= n) {
    float4 va, vb;
    if (mode == 0) {
      va = LOAD4(a, a_off + i);
      vb = LOAD4(b, b_off + i);
    } else {
      __global const S* f = mode == 1 ? a : b;
      __global const S* r = mode == 1 ? b : a;
      int f_off = mode == 1 ? a_off : b_off, r_off = mode == 1 ? b_off : a_off;
      float4 vf = LOAD4(f, f_off + i), vr;
      int j = inner == 1 ? 0 : i % inner;
      if (inner == 1) {
        vr = (float4)(LOAD(r, r_off));
      } else if (j + 4 <= inner) {
        vr = LOAD4(r, r_off + j);
      } else {
        float t[4];
        for (int l = 0; l < 4; ++l) {
          t[l] = LOAD(r, r_off + j);
          j = j + 1 == inner ? 0 : j + 1;
        }
        vr = (float4)(t[0], t[1], t[2], t[3]);
      }
      va = mode == 1 ? vf : vr;
      vb = mode == 1 ? vr : vf;
    }
    STORE4(y, y_off + i, apply_binary4(op, va, vb));
    return;
  }
  for (int k = i; k < n; ++k) {
    int ia = k, ib = k;
    if (mode == 1) ib = k % inner;
    if (mode == 2) ia = k % inner;
    STORE(y, y_off + k, apply_binary(op, LOAD(a, a_off + ia), LOAD(b, b_off + ib)));
  }
}

__kernel void compare(__global const S* a, int a_off, __global const S* b, int b_off,
                      __global uchar* y, int y_off, int op, int n, int mode, int rank, int8 dims,
                      int8 sa, int8 sb) {
  int i = get_global_id(0);
  if (i >= n) return;
  int ia = i, ib = i, unused;
  if (mode != 0) bcast_offsets(i, rank, dims, sa, sb, sb, &ia, &ib, &unused);
  y[y_off + i] = apply_compare(op, LOAD(a, a_off + ia), LOAD(b, b_off + ib));
}

__kernel void where_select(__global const uchar* c, int c_off, __global const RAW* a, int a_off,
                           __global const RAW* b, int b_off, __global RAW* y, int y_off, int n,
                           int mode, int rank, int8 dims, int8 sc, int8 sa, int8 sb) {
  int i = get_global_id(0);
  if (i >= n) return;
  int ic = i, ia = i, ib = i;
  if (mode != 0) bcast_offsets(i, rank, dims, sc, sa, sb, &ic, &ia, &ib);
  y[y_off + i] = c[c_off + ic] ? a[a_off + ia] : b[b_off + ib];
}

// IsNaN (op 0) and IsInf (op 1: +inf when detect_pos, -inf when detect_neg) to bool.
__kernel void classify(__global const S* x, int x_off, __global uchar* y, int y_off, int op, int n,
                       int detect_pos, int detect_neg) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = LOAD(x, x_off + i);
  uchar r;
  if (op == 0)
    r = isnan(v) ? 1 : 0;
  else
    r = isinf(v) && (v > 0.0f ? detect_pos : detect_neg) ? 1 : 0;
  y[y_off + i] = r;
}

// int64 arithmetic (B_ADD, B_SUB, B_MUL, B_MIN, B_MAX; two's complement wrap-around) and
// comparisons (C_*), with the same broadcasting arguments as `binary`.
__kernel void binary_i64(__global const long* a, int a_off, __global const long* b, int b_off,
                         __global long* y, int y_off, int op, int n, int mode, int rank, int8 dims,
                         int8 sa, int8 sb) {
  int i = get_global_id(0);
  if (i >= n) return;
  int ia = i, ib = i, unused;
  if (mode != 0) bcast_offsets(i, rank, dims, sa, sb, sb, &ia, &ib, &unused);
  ulong x = (ulong)a[a_off + ia], z = (ulong)b[b_off + ib];
  long r;
  switch (op) {
    case B_ADD: r = (long)(x + z); break;
    case B_SUB: r = (long)(x - z); break;
    case B_MUL: r = (long)(x * z); break;
    case B_MIN: r = min((long)x, (long)z); break;
    case B_MAX: r = max((long)x, (long)z); break;
    default: r = 0;
  }
  y[y_off + i] = r;
}

__kernel void compare_i64(__global const long* a, int a_off, __global const long* b, int b_off,
                          __global uchar* y, int y_off, int op, int n, int mode, int rank,
                          int8 dims, int8 sa, int8 sb) {
  int i = get_global_id(0);
  if (i >= n) return;
  int ia = i, ib = i, unused;
  if (mode != 0) bcast_offsets(i, rank, dims, sa, sb, sb, &ia, &ib, &unused);
  long x = a[a_off + ia], z = b[b_off + ib];
  uchar r = 0;
  switch (op) {
    case C_EQUAL: r = x == z; break;
    case C_LESS: r = x < z; break;
    case C_LESS_EQUAL: r = x <= z; break;
    case C_GREATER: r = x > z; break;
    case C_GREATER_EQUAL: r = x >= z; break;
  }
  y[y_off + i] = r;
}

// Where with 8-byte (int64) operands, bit-exact.
__kernel void where_select_i64(__global const uchar* c, int c_off, __global const long* a,
                               int a_off, __global const long* b, int b_off, __global long* y,
                               int y_off, int n, int mode, int rank, int8 dims, int8 sc, int8 sa,
                               int8 sb) {
  int i = get_global_id(0);
  if (i >= n) return;
  int ic = i, ia = i, ib = i;
  if (mode != 0) bcast_offsets(i, rank, dims, sc, sa, sb, &ic, &ia, &ib);
  y[y_off + i] = c[c_off + ic] ? a[a_off + ia] : b[b_off + ib];
}
