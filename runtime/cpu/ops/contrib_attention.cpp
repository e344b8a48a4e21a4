// CPU reference kernels for ONNX Runtime's Attention and MultiHeadAttention (com.microsoft).
// Q, K and V are gathered into float [batch, heads, seq, head_size] buffers (past first, then the
// new keys/values, which also make the present outputs); then each query row is
// softmax(Q K^T * scale + mask + attention_bias) V, with the mask built as ONNX Runtime's
// PrepareMask does (0 -> mask_filter_value, future keys -> lowest float, 1-D masks as key lengths /
// start positions). The fast path (attend_fast, and the packed SGEMM for Attention's input
// projection) works per (batch, head) with the SGEMM and vec_softmax_row; KILN_CPU_GEMM=ref or
// KILN_CPU_ELEMENTWISE=ref keep the reference loops (attend_ref, split over query rows). Neither
// splits one output's sum across threads, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/contrib_attention.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "runtime/cpu/ops/packed_weights.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {

namespace {

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<compute_t<T>>;

// A float32 copy of a floating tensor (the tensor itself when it already is float32).
Expected<Tensor> as_float(const OpContext& ctx, const Tensor& t, const std::string& what) {
  if (t.dtype() == DType::kFloat32) return t;
  if (!is_float(t.dtype()))
    return ctx.invalid("input '" + what + "' has dtype " + dtype_name(t.dtype()) +
                       ", expected a floating type");
  KILN_ASSIGN_OR_RETURN(Tensor f, Tensor::create(DType::kFloat32, t.shape()));
  float* d = f.data<float>();
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      const T* s = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<float>(to_compute(s[i]));
    }
  });
  return f;
}

// Writes float values into output i with dtype `t` and the given shape.
Status emit(OpContext& ctx, size_t i, DType t, const Shape& shape, const float* src) {
  // Every element is written below (or the dtype is refused).
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, i, t, shape));
  bool ok = false;
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      ok = true;
      T* d = y->data<T>();
      for (int64_t k = 0; k < y->numel(); ++k)
        d[k] = from_compute<T>(static_cast<compute_t<T>>(src[k]));
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported output dtype ") + dtype_name(t));
  return Status::ok();
}

std::string shp(const Tensor& t) {
  return shape_to_string(t.shape());
}

// Sizes of one attention problem. T = P + L keys per query.
struct Dims {
  int64_t B = 0, N = 0, S = 0, L = 0, P = 0, H = 0, Hv = 0;
  int64_t T() const { return P + L; }
};

// Q [B, N, S, H], K [B, N, T, H] and V [B, N, T, Hv] in float; K and V hold the past first.
struct Qkv {
  Tensor q, k, v;
};

// Not zero-filled: the callers write every element (the heads gathered from the projections,
// the past rows copied in front).
// Where attend() reads Q, K and V: row i of head (b, n) of Q at q + b * q_bs + n * q_ns +
// i * q_rs (its H elements contiguous), the same for K (T rows, H elements) and V (T rows, Hv).
// Either the gathered [B, N, rows, h] tensors of a Qkv, or the projection itself.
struct QkvView {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t q_bs = 0, q_ns = 0, q_rs = 0, k_bs = 0, k_ns = 0, k_rs = 0, v_bs = 0, v_ns = 0, v_rs = 0;
  const float* qh(int64_t b, int64_t n) const { return q + b * q_bs + n * q_ns; }
  const float* kh(int64_t b, int64_t n) const { return k + b * k_bs + n * k_ns; }
  const float* vh(int64_t b, int64_t n) const { return v + b * v_bs + n * v_ns; }
};

QkvView view_of(const Qkv& x, const Dims& d) {
  QkvView w;
  w.q = x.q.data<float>();
  w.k = x.k.data<float>();
  w.v = x.v.data<float>();
  w.q_rs = d.H;
  w.q_ns = d.S * d.H;
  w.q_bs = d.N * w.q_ns;
  w.k_rs = d.H;
  w.k_ns = d.T() * d.H;
  w.k_bs = d.N * w.k_ns;
  w.v_rs = d.Hv;
  w.v_ns = d.T() * d.Hv;
  w.v_bs = d.N * w.v_ns;
  return w;
}

Expected<Qkv> alloc_qkv(const Dims& d) {
  Qkv r;
  KILN_ASSIGN_OR_RETURN(r.q, create_uninitialized(DType::kFloat32, {d.B, d.N, d.S, d.H}));
  KILN_ASSIGN_OR_RETURN(r.k, create_uninitialized(DType::kFloat32, {d.B, d.N, d.T(), d.H}));
  KILN_ASSIGN_OR_RETURN(r.v, create_uninitialized(DType::kFloat32, {d.B, d.N, d.T(), d.Hv}));
  return r;
}

// The attention output [B, S, N * Hv]: output 0 itself when its dtype is float32 (attend writes
// every element), otherwise a float scratch that emit() converts.
Expected<Tensor> attention_output(OpContext& ctx, DType dt, const Shape& shape) {
  if (dt == DType::kFloat32) {
    KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, dt, shape));
    return *y;
  }
  return create_uninitialized(DType::kFloat32, shape);
}

// Copies past [B, N, P, h] (float) into the first P rows of dst [B, N, T, h].
void copy_past(const Dims& d, const float* past, int64_t h, float* dst) {
  for (int64_t bn = 0; bn < d.B * d.N; ++bn)
    std::copy(past + bn * d.P * h, past + (bn + 1) * d.P * h, dst + bn * d.T() * h);
}

// The additive mask [B, S, T] (ONNX Runtime's PrepareMask), or an undefined tensor when there
// is neither a mask nor a causal mask. `allow_4d`: Attention's [B, 1, M, M] form.
Expected<Tensor> build_mask(const OpContext& ctx, const Tensor* m, const Dims& d, bool causal,
                            float filter, bool allow_4d) {
  if (!m && !causal) return Tensor();
  const int64_t B = d.B, S = d.S, T = d.T();
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DType::kFloat32, {B, S, T}));
  float* o = out.data<float>();
  if (m) {
    if (m->dtype() != DType::kInt32 && m->dtype() != DType::kInt64)
      return ctx.invalid("the mask must be int32, got " + std::string(dtype_name(m->dtype())));
    const std::vector<int64_t> mv = m->to_int64_vector();
    const int r = m->rank();
    if (r == 1 && (m->dim(0) == B || m->dim(0) == 2 * B)) {
      const bool has_start = m->dim(0) == 2 * B && B > 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t end = std::clamp<int64_t>(mv[b], 0, T);
        const int64_t start = has_start ? std::clamp<int64_t>(mv[B + b], 0, T) : 0;
        for (int64_t s = 0; s < S; ++s) {
          float* row = o + (b * S + s) * T;
          for (int64_t t = end; t < T; ++t) row[t] = filter;
          for (int64_t t = 0; t < start; ++t) row[t] = filter;
        }
      }
    } else if (r == 1 && m->dim(0) == 3 * B + 2) {
      return ctx.unsupported_here("the 1-D mask of 3 * batch + 2 values (CUDA only)");
    } else if (r == 2 && m->dim(0) == B && m->dim(1) == T) {
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t t = 0; t < T; ++t)
            o[(b * S + s) * T + t] = mv[b * T + t] > 0 ? 0.0f : filter;
    } else if (r == 3 && m->dim(0) == B && m->dim(1) == S && m->dim(2) == T) {
      for (int64_t i = 0; i < B * S * T; ++i) o[i] = mv[i] > 0 ? 0.0f : filter;
    } else if (allow_4d && r == 4 && m->dim(0) == B && m->dim(1) == 1 && m->dim(2) == m->dim(3) &&
               m->dim(2) >= T) {
      const int64_t M = m->dim(2);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t t = 0; t < T; ++t)
            o[(b * S + s) * T + t] = mv[(b * M + d.P + s) * M + t] > 0 ? 0.0f : filter;
    } else {
      return ctx.invalid("mask of shape " + shp(*m) + " is none of [batch] (key lengths), [2 * " +
                         "batch] (with start positions), [batch, total_seq], [batch, seq, " +
                         "total_seq]" + (allow_4d ? ", [batch, 1, max_seq, max_seq]" : "") +
                         " for batch " + std::to_string(B) + ", seq " + std::to_string(S) +
                         ", total_seq " + std::to_string(T));
    }
  }
  // Future keys get the lowest float (as ONNX Runtime 1.23 does), not mask_filter_value: a
  // padded key must still win over a future one.
  if (causal)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s + 1 < S; ++s)
        for (int64_t t = d.P + s + 1; t < T; ++t)
          o[(b * S + s) * T + t] = std::numeric_limits<float>::lowest();
  return out;
}

// The attention bias [B or 1, N or 1, S, T] as float, or an undefined tensor.
Expected<Tensor> read_attention_bias(const OpContext& ctx, const Tensor* ab, const Dims& d) {
  if (!ab) return Tensor();
  if (ab->rank() != 4 || (ab->dim(0) != d.B && ab->dim(0) != 1) ||
      (ab->dim(1) != d.N && ab->dim(1) != 1) || ab->dim(2) != d.S || ab->dim(3) != d.T())
    return ctx.invalid("attention_bias of shape " + shp(*ab) + " must be [" + std::to_string(d.B) +
                       " or 1, " + std::to_string(d.N) + " or 1, " + std::to_string(d.S) + ", " +
                       std::to_string(d.T()) + "]");
  return as_float(ctx, *ab, "attention_bias");
}

// Reference loops: out [B, S, N * Hv] = softmax(Q K^T * scale + mask + bias) V; qk [B, N, S, T]
// (optional) gets the scores before the softmax.
Status attend_ref(OpContext& ctx, const Dims& d, const QkvView& x, const Tensor& mask,
                  const Tensor& bias, float scale, float* out, float* qk) {
  const int64_t B = d.B, N = d.N, S = d.S, T = d.T(), H = d.H, Hv = d.Hv;
  const float* md = mask.defined() ? mask.data<float>() : nullptr;
  const float* bd = bias.defined() ? bias.data<float>() : nullptr;
  const int64_t bias_bs = bd && bias.dim(0) != 1 ? bias.dim(1) * S * T : 0;  // [B, N or 1, S, T]
  const int64_t bias_ns = bd && bias.dim(1) != 1 ? S * T : 0;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, T * H));
  ctx.parallel_for(B * N * S, grain, [&](int64_t lo, int64_t hi) {
    std::vector<float> p(static_cast<size_t>(T));
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = r / (N * S), n = (r / S) % N, s = r % S;
      const float* qrow = x.qh(b, n) + s * x.q_rs;  // r == (b * N + n) * S + s
      const float* kbase = x.kh(b, n);
      const float* vbase = x.vh(b, n);
      float mx = -INFINITY;
      for (int64_t t = 0; t < T; ++t) {
        float dot = 0;
        for (int64_t h = 0; h < H; ++h) dot += qrow[h] * kbase[t * x.k_rs + h];
        float add = 0;
        if (bd) add += bd[b * bias_bs + n * bias_ns + s * T + t];
        if (md) add += md[(b * S + s) * T + t];
        const float sc = dot * scale + add;
        if (qk) qk[r * T + t] = sc;
        p[t] = sc;
        mx = std::max(mx, sc);
      }
      double sum = 0;
      for (int64_t t = 0; t < T; ++t) {
        p[t] = std::exp(p[t] - mx);
        sum += p[t];
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* orow = out + (b * S + s) * N * Hv + n * Hv;
      for (int64_t j = 0; j < Hv; ++j) orow[j] = 0;
      for (int64_t t = 0; t < T; ++t) {
        const float w = p[t] * inv;
        for (int64_t j = 0; j < Hv; ++j) orow[j] += w * vbase[t * x.v_rs + j];
      }
    }
  });
  return Status::ok();
}

// The fast path (issue 9): per (batch, head), scores = scale * Q K^T with the packed SGEMM into a
// scratch buffer of at most max(2^20, T) floats (or straight into qk), plus mask and bias, the row
// softmax of vec_softmax_row, then out = P V with the SGEMM writing the strided [B, S, N * Hv]
// output. Tasks are whole (batch, head) pairs; with fewer pairs than threads the pairs run in turn
// and the SGEMM shares out its output tiles instead. Either way each output element sees the same
// operations in the same order, so results do not depend on the thread count.
Status attend_fast(OpContext& ctx, const Dims& d, const QkvView& x, const Tensor& mask,
                   const Tensor& bias, float scale, float* out, float* qk) {
  const int64_t B = d.B, N = d.N, S = d.S, T = d.T(), H = d.H, Hv = d.Hv;
  if (B * N * S == 0) return Status::ok();
  const float* md = mask.defined() ? mask.data<float>() : nullptr;
  const float* bd = bias.defined() ? bias.data<float>() : nullptr;
  const int64_t bias_bs = bd && bias.dim(0) != 1 ? bias.dim(1) * S * T : 0;  // [B, N or 1, S, T]
  const int64_t bias_ns = bd && bias.dim(1) != 1 ? S * T : 0;
  // Query rows go through in blocks of R, so the scratch stays at most kScratch floats (or one
  // row) however long the sequences are; R depends only on T, never on the thread count.
  constexpr int64_t kScratch = int64_t{1} << 20;
  const int64_t R = std::clamp<int64_t>(kScratch / std::max<int64_t>(T, 1), 1, S);
  // One (batch, head) pair; `sc` and `p` are [R, T] scratch buffers (scores, probabilities).
  auto one = [&](int64_t bn, float* sc, float* p, ThreadPool* pool) {
    const int64_t b = bn / N, n = bn % N;
    for (int64_t s0 = 0; s0 < S; s0 += R) {
      const int64_t rows = std::min(R, S - s0);
      float* o = out + (b * S + s0) * N * Hv + n * Hv;
      if (T == 0) {  // no keys: the reference's empty sum
        for (int64_t s = 0; s < rows; ++s) std::fill(o + s * N * Hv, o + s * N * Hv + Hv, 0.0f);
        continue;
      }
      float* scores = qk ? qk + (bn * S + s0) * T : sc;
      fast::sgemm(rows, T, H, scale, x.qh(b, n) + s0 * x.q_rs, x.q_rs, 1, x.kh(b, n), 1, x.k_rs,
                  0.0f, scores, T, pool);
      for (int64_t s = s0; s < s0 + rows; ++s) {
        float* row = scores + (s - s0) * T;
        // bias + mask first, then the score, as the reference adds them (a fully padded row sits
        // near mask_filter_value, where the order of the additions shows).
        const float* brow = bd ? bd + b * bias_bs + n * bias_ns + s * T : nullptr;
        const float* mrow = md ? md + (b * S + s) * T : nullptr;
        if (brow && mrow) {
          for (int64_t t = 0; t < T; ++t) row[t] += brow[t] + mrow[t];
        } else if (brow || mrow) {
          const float* add = brow ? brow : mrow;
          for (int64_t t = 0; t < T; ++t) row[t] += add[t];
        }
        fast::vec_softmax_row(row, p + (s - s0) * T, T, false);
      }
      fast::sgemm(rows, Hv, T, 1.0f, p, T, 1, x.vh(b, n), x.v_rs, 1, 0.0f, o, N * Hv, pool);
    }
  };
  const size_t rt = static_cast<size_t>(R * T);
  ThreadPool& pool = ctx.pool();
  // Scratch without zero-filling: every score and probability is written before it is read.
  auto scratch = [&] { return std::unique_ptr<float[]>(new float[qk ? rt : 2 * rt]); };
  if (B * N >= pool.num_threads()) {
    ctx.parallel_for(B * N, 1, [&](int64_t lo, int64_t hi) {
      const std::unique_ptr<float[]> buf = scratch();
      float* p = qk ? buf.get() : buf.get() + rt;
      for (int64_t bn = lo; bn < hi; ++bn) one(bn, buf.get(), p, nullptr);
    });
  } else {
    const std::unique_ptr<float[]> buf = scratch();
    float* p = qk ? buf.get() : buf.get() + rt;
    for (int64_t bn = 0; bn < B * N; ++bn) one(bn, buf.get(), p, &pool);
  }
  return Status::ok();
}

// KILN_CPU_GEMM=ref or KILN_CPU_ELEMENTWISE=ref (or set_elementwise_fast_for_testing(false))
// keep Attention / MultiHeadAttention on the reference loops.
bool attention_fast() {
  static const bool gemm_on = [] {
    const char* v = std::getenv("KILN_CPU_GEMM");
    return !(v && std::string(v) == "ref");
  }();
  return gemm_on && fast::elementwise_fast_enabled();
}

Status attend(OpContext& ctx, const Dims& d, const QkvView& x, const Tensor& mask,
              const Tensor& bias, float scale, float* out, float* qk) {
  if (attention_fast()) return attend_fast(ctx, d, x, mask, bias, scale, out, qk);
  return attend_ref(ctx, d, x, mask, bias, scale, out, qk);
}

Status check_heads(const OpContext& ctx, int64_t hidden, int64_t heads, const std::string& what) {
  if (hidden <= 0 || hidden % heads != 0)
    return ctx.invalid(what + " " + std::to_string(hidden) +
                       " must be positive and divisible by num_heads " + std::to_string(heads));
  return Status::ok();
}

float scale_of(const OpContext& ctx, int64_t head_size) {
  const float s = ctx.attr_float("scale", 0.0f);
  return s == 0.0f ? 1.0f / std::sqrt(static_cast<float>(head_size)) : s;
}

// Copies rows of a [B, seq, N, h]-ordered source (element (b, i, n, 0) at b * bs + i * rs +
// n * hs) plus bias[n * h + j] into dst: Q [B, N, seq, h] when t0 < 0, else K / V [B, N, T, h]
// at sequence offset t0.
void gather_heads(const OpContext& ctx, const Dims& d, int64_t seq, int64_t h, const float* src,
                  int64_t bs, int64_t rs, int64_t hs, const float* bias, int64_t t0, float* dst) {
  const int64_t rows = t0 < 0 ? seq : d.T(), off = t0 < 0 ? 0 : t0;
  // One (batch, head) pair per task: pure copies, so the split never changes a value.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, seq * h));
  ctx.parallel_for(d.B * d.N, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t bn = lo; bn < hi; ++bn) {
      const int64_t b = bn / d.N, n = bn % d.N;
      for (int64_t i = 0; i < seq; ++i) {
        const float* s = src + b * bs + i * rs + n * hs;
        float* o = dst + (bn * rows + off + i) * h;
        if (bias) {
          const float* bn_bias = bias + n * h;
          for (int64_t j = 0; j < h; ++j) o[j] = s[j] + bn_bias[j];
        } else {
          std::copy(s, s + h, o);
        }
      }
    }
  });
}

}  // namespace

// Declared in contrib_attention.h: everything after the input projection (QAttention shares it).
Status attention_from_projection(OpContext& ctx, const AttentionProjected& a, const Tensor& proj) {
  const int64_t heads = a.heads;
  const int64_t cols = 2 * a.qk_hidden + a.v_hidden;
  const Tensor* mask = a.mask;
  const Tensor* past = a.past;
  const Tensor* ab = a.attention_bias;
  if (heads <= 0 || a.qk_hidden % heads != 0 || a.v_hidden % heads != 0 ||
      proj.dtype() != DType::kFloat32 || proj.rank() != 2 || proj.dim(0) != a.batch * a.seq ||
      proj.dim(1) != cols)
    return ctx.invalid("internal: projection of shape " + shp(proj) + " does not match batch " +
                       std::to_string(a.batch) + ", seq " + std::to_string(a.seq) + ", " +
                       std::to_string(heads) + " heads");
  Dims d;
  d.B = a.batch;
  d.S = d.L = a.seq;
  d.N = heads;
  d.H = a.qk_hidden / heads;
  d.Hv = a.v_hidden / heads;
  if (past) {
    if (d.H != d.Hv) return ctx.invalid("past needs equal Q/K and V head sizes");
    if (past->rank() != 5 || past->dim(0) != 2 || past->dim(1) != d.B || past->dim(2) != heads ||
        past->dim(4) != d.H)
      return ctx.invalid("past of shape " + shp(*past) + " must be [2, " + std::to_string(d.B) +
                         ", " + std::to_string(heads) + ", past_seq, " + std::to_string(d.H) + "]");
    d.P = past->dim(3);
  }
  if (ctx.wants_output(1) && d.H != d.Hv)
    return ctx.invalid("present needs equal Q/K and V head sizes");
  KILN_ASSIGN_OR_RETURN(int64_t n_scores, checked_numel({d.B, d.N, d.S, d.T()}));
  (void)n_scores;
  const bool causal = ctx.attr_int("unidirectional", 0) != 0 && d.S > 1;
  const float filter = ctx.attr_float("mask_filter_value", -10000.0f);
  KILN_ASSIGN_OR_RETURN(Tensor mk, build_mask(ctx, mask, d, causal, filter, true));
  KILN_ASSIGN_OR_RETURN(Tensor abf, read_attention_bias(ctx, ab, d));

  const float* pd = proj.data<float>();
  const int64_t D = a.qk_hidden;
  Qkv qkv;
  QkvView view;
  if (!past && !ctx.wants_output(1)) {
    // Nothing to prepend and no present to write: attend reads the heads where the projection
    // left them ([B * S, cols] rows holding Q, K, V, each head h wide), no copies.
    view.q = pd;
    view.k = pd + D;
    view.v = pd + 2 * D;
    view.q_bs = view.k_bs = view.v_bs = d.S * cols;
    view.q_rs = view.k_rs = view.v_rs = cols;
    view.q_ns = view.k_ns = d.H;
    view.v_ns = d.Hv;
  } else {
    KILN_ASSIGN_OR_RETURN(qkv, alloc_qkv(d));
    gather_heads(ctx, d, d.S, d.H, pd, d.S * cols, cols, d.H, nullptr, -1, qkv.q.data<float>());
    gather_heads(ctx, d, d.L, d.H, pd + D, d.S * cols, cols, d.H, nullptr, d.P,
                 qkv.k.data<float>());
    gather_heads(ctx, d, d.L, d.Hv, pd + 2 * D, d.S * cols, cols, d.Hv, nullptr, d.P,
                 qkv.v.data<float>());
    view = view_of(qkv, d);
  }
  if (past) {
    KILN_ASSIGN_OR_RETURN(Tensor pf, as_float(ctx, *past, "past"));
    const int64_t half = d.B * d.N * d.P * d.H;
    copy_past(d, pf.data<float>(), d.H, qkv.k.data<float>());
    copy_past(d, pf.data<float>() + half, d.H, qkv.v.data<float>());
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, attention_output(ctx, a.out_dtype, {d.B, d.S, d.N * d.Hv}));
  KILN_RETURN_IF_ERROR(
      attend(ctx, d, view, mk, abf, scale_of(ctx, d.H), out.data<float>(), nullptr));
  if (a.out_dtype != DType::kFloat32)
    KILN_RETURN_IF_ERROR(emit(ctx, 0, a.out_dtype, out.shape(), out.data<float>()));
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor pres, Tensor::create(DType::kFloat32, {2, d.B, d.N, d.T(), d.H}));
    const int64_t half = qkv.k.numel();
    std::copy(qkv.k.data<float>(), qkv.k.data<float>() + half, pres.data<float>());
    std::copy(qkv.v.data<float>(), qkv.v.data<float>() + half, pres.data<float>() + half);
    KILN_RETURN_IF_ERROR(emit(ctx, 1, a.out_dtype, pres.shape(), pres.data<float>()));
  }
  return Status::ok();
}

// Attention(input, weights, bias?, mask_index?, past?, attention_bias?, past_sequence_length?)
// -> output, present.
Status contrib_attention_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs input and weights");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const Tensor* mask = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  const Tensor* past = ctx.has_input(4) ? &ctx.input(4) : nullptr;
  const Tensor* ab = ctx.has_input(5) ? &ctx.input(5) : nullptr;
  const int64_t heads = ctx.attr_int("num_heads", 0);
  if (heads <= 0) return ctx.invalid("num_heads must be positive");
  if (ctx.attr_int("do_rotary", 0) != 0) return ctx.unsupported_here("do_rotary");
  if (ctx.attr_int("past_present_share_buffer", 0) != 0)
    return ctx.unsupported_here("past_present_share_buffer");
  if (x.rank() != 3) return ctx.invalid("input must be 3-D [batch, seq, hidden], got " + shp(x));
  if (w.rank() != 2 || w.dim(0) != x.dim(2))
    return ctx.invalid("weights of shape " + shp(w) + " must be 2-D with " +
                       std::to_string(x.dim(2)) + " rows (the input's hidden size)");
  if (w.dtype() != x.dtype()) return ctx.invalid("weights must have the input's dtype");
  std::vector<int64_t> sizes = ctx.attr_ints("qkv_hidden_sizes", {});
  if (sizes.empty()) {
    if (w.dim(1) % 3 != 0)
      return ctx.invalid("weights' column count " + std::to_string(w.dim(1)) +
                         " is not divisible by 3");
    sizes = {w.dim(1) / 3, w.dim(1) / 3, w.dim(1) / 3};
  }
  if (sizes.size() != 3 || sizes[0] != sizes[1] || sizes[0] <= 0 || sizes[2] <= 0 ||
      sizes[0] + sizes[1] + sizes[2] != w.dim(1))
    return ctx.invalid(
        "qkv_hidden_sizes must hold 3 positive sizes, Q's equal to K's, summing to "
        "the weights' column count " +
        std::to_string(w.dim(1)));
  KILN_RETURN_IF_ERROR(check_heads(ctx, sizes[0], heads, "Q/K hidden size"));
  KILN_RETURN_IF_ERROR(check_heads(ctx, sizes[2], heads, "V hidden size"));
  const int64_t cols = w.dim(1);
  if (bias && (bias->rank() != 1 || bias->dim(0) != cols))
    return ctx.invalid("bias of shape " + shp(*bias) + " must be 1-D of size " +
                       std::to_string(cols));
  // QKV = input x weights + bias: [B * S, cols].
  const int64_t rows = x.dim(0) * x.dim(1), kin = x.dim(2);
  KILN_ASSIGN_OR_RETURN(Tensor xf, as_float(ctx, x, "input"));
  KILN_ASSIGN_OR_RETURN(Tensor wf, as_float(ctx, w, "weights"));
  Tensor bf;
  if (bias) {
    KILN_ASSIGN_OR_RETURN(bf, as_float(ctx, *bias, "bias"));
  }
  // Every element is written by the GEMM below.
  KILN_ASSIGN_OR_RETURN(Tensor proj, create_uninitialized(DType::kFloat32, {rows, cols}));
  {
    const float* xd = xf.data<float>();
    const float* wd = wf.data<float>();
    float* pd = proj.data<float>();
    const float* bd = bias ? bf.data<float>() : nullptr;
    if (attention_fast() && rows > 0 && kin > 0) {
      // Constant weights (the usual case) are packed once and reused by every run.
      if (auto packed = constant_packed_b(ctx, 1, kin, cols, cols, 1))
        fast::sgemm_packed(rows, 1.0f, xd, kin, 1, *packed, 0.0f, pd, cols, &ctx.pool());
      else
        fast::sgemm(rows, cols, kin, 1.0f, xd, kin, 1, wd, cols, 1, 0.0f, pd, cols, &ctx.pool());
      if (bd)
        ctx.parallel_for(rows, std::max<int64_t>(1, 4096 / cols), [&](int64_t lo, int64_t hi) {
          for (int64_t r = lo; r < hi; ++r)
            for (int64_t c = 0; c < cols; ++c) pd[r * cols + c] += bd[c];
        });
    } else {
      ctx.parallel_for(rows, gemm_row_grain(cols, kin), [&](int64_t lo, int64_t hi) {
        gemm_ref_rows<float>(lo, hi, cols, kin, xd, kin, 1, wd, cols, 1, pd, cols);
        if (bd)
          for (int64_t r = lo; r < hi; ++r)
            for (int64_t c = 0; c < cols; ++c) pd[r * cols + c] += bd[c];
      });
    }
  }
  AttentionProjected a;
  a.batch = x.dim(0);
  a.seq = x.dim(1);
  a.heads = heads;
  a.qk_hidden = sizes[0];
  a.v_hidden = sizes[2];
  a.mask = mask;
  a.past = past;
  a.attention_bias = ab;
  a.out_dtype = x.dtype();
  return attention_from_projection(ctx, a, proj);
}

// MultiHeadAttention(query, key?, value?, bias?, key_padding_mask?, attention_bias?, past_key?,
// past_value?) -> output, present_key, present_value, qk.
Status contrib_multi_head_attention_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input query");
  if (ctx.has_input(8) || ctx.has_input(9))
    return ctx.unsupported_here("past_sequence_length / cache_indirection (decoder masked MHA)");
  const Tensor& query = ctx.input(0);
  const Tensor* key = ctx.has_input(1) ? &ctx.input(1) : nullptr;
  const Tensor* value = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const Tensor* bias = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  const Tensor* mask = ctx.has_input(4) ? &ctx.input(4) : nullptr;
  const Tensor* ab = ctx.has_input(5) ? &ctx.input(5) : nullptr;
  const Tensor* past_k = ctx.has_input(6) ? &ctx.input(6) : nullptr;
  const Tensor* past_v = ctx.has_input(7) ? &ctx.input(7) : nullptr;
  const int64_t heads = ctx.attr_int("num_heads", 0);
  if (heads <= 0) return ctx.invalid("num_heads must be positive");
  const DType dt = query.dtype();
  for (const Tensor* t : {key, value, bias, past_k, past_v})
    if (t && t->dtype() != dt)
      return ctx.invalid("query, key, value, bias and past must share a dtype");
  if ((past_k == nullptr) != (past_v == nullptr))
    return ctx.invalid("past_key and past_value must be given together");

  enum class Form { kSeparate, kBnshKv, kPackedKv, kPackedQkv } form;
  Dims d;
  d.N = heads;
  d.B = query.rank() >= 1 ? query.dim(0) : 0;
  if (query.rank() == 5) {
    if (key || value) return ctx.invalid("packed QKV query takes no key or value");
    if (query.dim(2) != heads || query.dim(3) != 3)
      return ctx.invalid("packed QKV query of shape " + shp(query) + " must be [batch, seq, " +
                         std::to_string(heads) + ", 3, head_size]");
    form = Form::kPackedQkv;
    d.S = d.L = query.dim(1);
    d.H = d.Hv = query.dim(4);
  } else if (query.rank() == 3) {
    KILN_RETURN_IF_ERROR(check_heads(ctx, query.dim(2), heads, "query hidden size"));
    d.S = query.dim(1);
    d.H = query.dim(2) / heads;
    if (!key) return ctx.invalid("key is required unless the query is packed QKV");
    if (key->rank() == 5) {
      if (value) return ctx.invalid("packed KV key takes no value");
      if (key->dim(0) != d.B || key->dim(2) != heads || key->dim(3) != 2 || key->dim(4) != d.H)
        return ctx.invalid("packed KV key of shape " + shp(*key) + " must be [" +
                           std::to_string(d.B) + ", kv_seq, " + std::to_string(heads) + ", 2, " +
                           std::to_string(d.H) + "]");
      form = Form::kPackedKv;
      d.L = key->dim(1);
      d.Hv = d.H;
    } else if (key->rank() == 3) {
      if (!value || value->rank() != 3) return ctx.invalid("a 3-D key needs a 3-D value");
      if (key->dim(0) != d.B || key->dim(2) != query.dim(2))
        return ctx.invalid("key of shape " + shp(*key) + " must be [" + std::to_string(d.B) +
                           ", kv_seq, " + std::to_string(query.dim(2)) + "]");
      if (value->dim(0) != d.B || value->dim(1) != key->dim(1))
        return ctx.invalid("value of shape " + shp(*value) + " must be [" + std::to_string(d.B) +
                           ", " + std::to_string(key->dim(1)) + ", v_hidden]");
      KILN_RETURN_IF_ERROR(check_heads(ctx, value->dim(2), heads, "value hidden size"));
      form = Form::kSeparate;
      d.L = key->dim(1);
      d.Hv = value->dim(2) / heads;
    } else if (key->rank() == 4) {
      if (!value || value->rank() != 4 || key->dim(0) != d.B || key->dim(1) != heads ||
          key->dim(3) != d.H || value->dim(0) != d.B || value->dim(1) != heads ||
          value->dim(2) != key->dim(2))
        return ctx.invalid("key / value of shapes " + shp(*key) + " / " +
                           (value ? shp(*value) : std::string("(none)")) + " must be [" +
                           std::to_string(d.B) + ", " + std::to_string(heads) + ", kv_seq, " +
                           std::to_string(d.H) + "] and [.., .., kv_seq, v_head_size]");
      if (past_k) return ctx.invalid("past_key / past_value cannot be used with a 4-D key");
      form = Form::kBnshKv;
      d.L = key->dim(2);
      d.Hv = value->dim(3);
    } else {
      return ctx.invalid("key of shape " + shp(*key) + " must be 3-D, 4-D or 5-D (packed KV)");
    }
  } else {
    return ctx.invalid("query of shape " + shp(query) + " must be 3-D or 5-D (packed QKV)");
  }
  if (d.H <= 0 || d.Hv <= 0) return ctx.invalid("head sizes must be positive");
  const int64_t D = d.N * d.H, Dv = d.N * d.Hv;
  if (bias && (bias->rank() != 1 || bias->dim(0) != 2 * D + Dv))
    return ctx.invalid("bias of shape " + shp(*bias) + " must be 1-D of size " +
                       std::to_string(2 * D + Dv));
  if (past_k) {
    if (past_k->rank() != 4 || past_k->dim(0) != d.B || past_k->dim(1) != heads ||
        past_k->dim(3) != d.H || past_v->rank() != 4 || past_v->dim(0) != d.B ||
        past_v->dim(1) != heads || past_v->dim(2) != past_k->dim(2) || past_v->dim(3) != d.Hv)
      return ctx.invalid("past_key / past_value of shapes " + shp(*past_k) + " / " + shp(*past_v) +
                         " must be [batch, heads, past_seq, head_size]");
    d.P = past_k->dim(2);
  }
  KILN_ASSIGN_OR_RETURN(int64_t n_scores, checked_numel({d.B, d.N, d.S, d.T()}));
  (void)n_scores;
  const bool causal = ctx.attr_int("unidirectional", 0) != 0 && d.S > 1;
  const float filter = ctx.attr_float("mask_filter_value", -10000.0f);
  KILN_ASSIGN_OR_RETURN(Tensor mk, build_mask(ctx, mask, d, causal, filter, false));
  KILN_ASSIGN_OR_RETURN(Tensor abf, read_attention_bias(ctx, ab, d));

  KILN_ASSIGN_OR_RETURN(Qkv qkv, alloc_qkv(d));
  Tensor bf;
  if (bias) {
    KILN_ASSIGN_OR_RETURN(bf, as_float(ctx, *bias, "bias"));
  }
  const float* bq = bias ? bf.data<float>() : nullptr;
  const float* bk = bias ? bq + D : nullptr;
  const float* bv = bias ? bq + 2 * D : nullptr;
  KILN_ASSIGN_OR_RETURN(Tensor qf, as_float(ctx, query, "query"));
  const float* q = qf.data<float>();
  float* kd = qkv.k.data<float>();
  float* vd = qkv.v.data<float>();
  if (form == Form::kPackedQkv) {
    // [B, S, N, 3, H]
    const int64_t rs = d.N * 3 * d.H, bs = d.S * rs;
    gather_heads(ctx, d, d.S, d.H, q, bs, rs, 3 * d.H, bq, -1, qkv.q.data<float>());
    gather_heads(ctx, d, d.L, d.H, q + d.H, bs, rs, 3 * d.H, bk, d.P, kd);
    gather_heads(ctx, d, d.L, d.Hv, q + 2 * d.H, bs, rs, 3 * d.H, bv, d.P, vd);
  } else {
    gather_heads(ctx, d, d.S, d.H, q, d.S * D, D, d.H, bq, -1, qkv.q.data<float>());
    KILN_ASSIGN_OR_RETURN(Tensor kf, as_float(ctx, *key, "key"));
    const float* k = kf.data<float>();
    if (form == Form::kPackedKv) {
      // [B, L, N, 2, H]
      const int64_t rs = d.N * 2 * d.H, bs = d.L * rs;
      gather_heads(ctx, d, d.L, d.H, k, bs, rs, 2 * d.H, bk, d.P, kd);
      gather_heads(ctx, d, d.L, d.Hv, k + d.H, bs, rs, 2 * d.H, bv, d.P, vd);
    } else {
      KILN_ASSIGN_OR_RETURN(Tensor vf, as_float(ctx, *value, "value"));
      const float* v = vf.data<float>();
      if (form == Form::kSeparate) {
        gather_heads(ctx, d, d.L, d.H, k, d.L * D, D, d.H, bk, d.P, kd);
        gather_heads(ctx, d, d.L, d.Hv, v, d.L * Dv, Dv, d.Hv, bv, d.P, vd);
      } else {  // BNSH key / value, used as they are (no bias)
        std::copy(k, k + key->numel(), kd);
        std::copy(v, v + value->numel(), vd);
      }
    }
  }
  if (past_k) {
    KILN_ASSIGN_OR_RETURN(Tensor pkf, as_float(ctx, *past_k, "past_key"));
    KILN_ASSIGN_OR_RETURN(Tensor pvf, as_float(ctx, *past_v, "past_value"));
    copy_past(d, pkf.data<float>(), d.H, kd);
    copy_past(d, pvf.data<float>(), d.Hv, vd);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, attention_output(ctx, dt, {d.B, d.S, Dv}));
  Tensor qk;
  if (ctx.wants_output(3)) {
    KILN_ASSIGN_OR_RETURN(qk, Tensor::create(DType::kFloat32, {d.B, d.N, d.S, d.T()}));
  }
  KILN_RETURN_IF_ERROR(attend(ctx, d, view_of(qkv, d), mk, abf, scale_of(ctx, d.H),
                              out.data<float>(), qk.defined() ? qk.data<float>() : nullptr));
  if (dt != DType::kFloat32) KILN_RETURN_IF_ERROR(emit(ctx, 0, dt, out.shape(), out.data<float>()));
  if (ctx.wants_output(1)) KILN_RETURN_IF_ERROR(emit(ctx, 1, dt, qkv.k.shape(), kd));
  if (ctx.wants_output(2)) KILN_RETURN_IF_ERROR(emit(ctx, 2, dt, qkv.v.shape(), vd));
  if (ctx.wants_output(3)) KILN_RETURN_IF_ERROR(emit(ctx, 3, dt, qk.shape(), qk.data<float>()));
  return Status::ok();
}

}  // namespace kiln::cpu
