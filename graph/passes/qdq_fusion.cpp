// QDQ -> integer kernel fusion (level 2), as ONNX Runtime's QDQ transformer does for
// quantize_static / `kiln quantize --format qdq` output:
//   QuantizeLinear(MatMul(DequantizeLinear(a_q, a_s, a_zp), DequantizeLinear(w_q, w_s, w_zp)),
//                  y_s, y_zp)
//     -> QLinearMatMul(a_q, a_s, a_zp, w_q, w_s, w_zp, y_s, y_zp)
//   QuantizeLinear(Gemm(DQ(a), DQ(w)) without C, alpha 1, transA 0)
//     -> QLinearMatMul (with transB: w_q transposed once, a new constant; per-row w becomes
//        per-column).
//   QuantizeLinear(Gemm(DQ(a), DQ(w), C), y_s, y_zp), C [N] or [1, N], constant w
//     -> com.microsoft QGemm(a_q, a_s, a_zp, w_q, w_s, w_zp, C_q, y_s, y_zp) with alpha, transA,
//        transB, as ONNX Runtime fuses it; C_q as the Conv bias below with the values scaled by
//        beta / alpha (QGemm multiplies the sum with C_q by alpha): passed through when it is
//        DQ(int32) at x_s * w_s and alpha = beta = 1, else requantized.
//   QuantizeLinear(Conv(DQ(x), DQ(w), bias), y_s, y_zp)
//     -> QLinearConv(x_q, x_s, x_zp, w_q, w_s, w_zp, y_s, y_zp, bias_q)
//      bias: DequantizeLinear(b_q int32, b_s, 0) with b_s == float(x_s * w_s) elementwise (what
//      ORT's quantize_static writes) passes b_q through as ORT's fusion does; otherwise (another
//      scale, or a float constant bias) b_q = round_half_even(b / float(x_s * w_s[m])) in double,
//      clipped to int32, as ORT's quantize_bias_static.
// The integer kernel computes saturate(rint(C * a_s * w_s / y_s) + y_zp) from the exact int32
// products C, where the QDQ graph rounds float products: results agree except where the float
// value lies within rounding error of a .5 boundary (off by one there, as in ONNX Runtime).
// Conditions: 8-bit a_q / w_q / y_zp, zero points present and of their data's dtype, float32
// scales; a's scale and zero point, y's scale and zero point single values; w's per tensor or,
// for a 2-D w, per column (DequantizeLinear axis 1 or -1, [N] scale and zero point; Conv: per
// output channel, axis 0, [M]); no block_size; the op's output read only by the QuantizeLinear
// (the DequantizeLinear outputs may have other readers: those nodes then stay). Every backend has
// a QLinearMatMul kernel (the devices run the per-tensor / per-column forms); QLinearConv runs on
// the CPU (devices fall back), so the fusion does not depend on the target.
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "graph/passes/fusion_util.h"
#include "graph/passes/pass.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}

// Known to hold exactly one element (rank 0, or every dim 1).
bool single_value(const ir::Value* v) {
  if (!v) return false;
  if (const Tensor* t = constant_of(v)) return t->numel() == 1;
  if (!v->info().has_shape) return false;
  for (const ir::Dim& d : v->info().dims)
    if (d.value != 1) return false;
  return true;
}

bool shape_is_1d(const ir::Value* v, int64_t n) {
  if (const Tensor* t = constant_of(v)) return t->rank() == 1 && t->dim(0) == n;
  return v->info().has_shape && v->info().dims.size() == 1 && v->info().dims[0].value == n;
}

// A DequantizeLinear's parts when it fits: data, scale, zero point (all present).
struct Dq {
  ir::Value *x = nullptr, *scale = nullptr, *zp = nullptr;
};

std::optional<Dq> dq_parts(const ir::Node* n) {
  if (!n || n->inputs().size() != 3 || !n->input(0) || !n->input(1) || !n->input(2))
    return std::nullopt;
  if (int_attr_of(n, "block_size").value_or(0) != 0) return std::nullopt;
  Dq d{n->input(0), n->input(1), n->input(2)};
  // x has the zero point's type (ONNX); a QuantizeLinear output without shape inference (a
  // model newer than libonnx's schemas) has no recorded type.
  DType xt = dtype_of(d.x);
  if (xt == DType::kUndefined) xt = dtype_of(d.zp);
  if (!is_8bit(xt) || dtype_of(d.zp) != xt || dtype_of(d.scale) != DType::kFloat32)
    return std::nullopt;
  if (n->attr("output_dtype") && int_attr_of(n, "output_dtype").value_or(1) != 1)
    return std::nullopt;
  return d;
}

// The QuantizeLinear `q` fits as the output of a fused op: y_s / y_zp single values, 8-bit.
bool output_q_fits(const ir::Node* q) {
  if (q->inputs().size() != 3 || q->outputs().size() != 1 || !q->input(1) || !q->input(2))
    return false;
  if (int_attr_of(q, "block_size").value_or(0) != 0) return false;
  const ir::Value* ys = q->input(1);
  const ir::Value* yz = q->input(2);
  if (!single_value(ys) || !single_value(yz) || dtype_of(ys) != DType::kFloat32 ||
      !is_8bit(dtype_of(yz)))
    return false;
  if (const auto od = int_attr_of(q, "output_dtype");
      od && *od != 0 && *od != static_cast<int64_t>(dtype_of(yz)))
    return false;
  return true;
}

// The float values of a constant scale (per tensor: one value).
std::optional<std::vector<float>> scale_values(const ir::Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->dtype() != DType::kFloat32) return std::nullopt;
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

template <typename F>
std::optional<ir::Value*> requantized(ir::Graph& g, ir::Value* b, const std::vector<double>& f,
                                      F bias_scale) {
  const int64_t m = static_cast<int64_t>(f.size());
  Tensor t = Tensor::create(DType::kInt32, {m}).value();
  for (int64_t i = 0; i < m; ++i) {
    double v = std::nearbyint(f[i] / static_cast<double>(bias_scale(i)));
    if (!std::isfinite(v)) return std::nullopt;
    t.data<int32_t>()[i] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
  }
  return add_constant(g, b->name() + "_int32", std::move(t));
}

// The bias as int32 with scale x_s * w_s[m] and zero point 0 (see the top of the file), m
// values. `mul` (QGemm: beta / alpha, Conv: 1) multiplies the bias values; an int32 bias passes
// through unchanged only when mul is 1.
std::optional<ir::Value*> bias_int32(ir::Graph& g, ir::Value* b, float xs,
                                     const std::vector<float>& ws, int64_t m, double mul = 1.0) {
  auto bias_scale = [&](int64_t i) { return xs * ws[ws.size() == 1 ? 0 : i]; };
  if (ir::Node* bn = producer_if(b, "DequantizeLinear")) {
    // DequantizeLinear(b_q int32, b_s[, 0]).
    if (bn->inputs().size() < 2 || int_attr_of(bn, "block_size").value_or(0) != 0)
      return std::nullopt;
    const Tensor* bq = constant_of(bn->input(0));
    const auto bs = scale_values(bn->input(1));
    if (!bq || !bs || bq->dtype() != DType::kInt32 || bq->numel() != m) return std::nullopt;
    if (bs->size() != 1 && static_cast<int64_t>(bs->size()) != m) return std::nullopt;
    if (bs->size() != 1 && int_attr_of(bn, "axis").value_or(1) != 0 && bq->rank() != 1)
      return std::nullopt;
    if (ir::Value* bz = bn->input(2)) {
      const Tensor* zt = constant_of(bz);
      if (!zt) return std::nullopt;
      for (int64_t i = 0; i < zt->numel(); ++i)
        if (zt->get_as_double(i) != 0) return std::nullopt;
    }
    bool same = true;
    for (int64_t i = 0; i < m; ++i) same = same && (*bs)[bs->size() == 1 ? 0 : i] == bias_scale(i);
    if (same && bq->rank() == 1 && mul == 1.0) return bn->input(0);
    std::vector<double> f(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i)
      f[i] = static_cast<double>(bq->data<int32_t>()[i]) *
             static_cast<double>((*bs)[bs->size() == 1 ? 0 : i]) * mul;
    return requantized(g, b, f, bias_scale);
  }
  const Tensor* bt = constant_of(b);
  if (!bt || bt->dtype() != DType::kFloat32 || bt->numel() != m) return std::nullopt;
  std::vector<double> f(bt->data<float>(), bt->data<float>() + m);
  for (double& v : f) v *= mul;
  return requantized(g, b, f, bias_scale);
}

class QdqMatMulPattern : public RewritePattern {
 public:
  std::string name() const override { return "qdq_fusion"; }
  std::vector<std::string> target_ops() const override { return {"QuantizeLinear"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* q, PassContext& ctx) override {
    if (q->inputs().size() != 3 || q->outputs().size() != 1 || !q->input(1) || !q->input(2))
      return false;
    if (int_attr_of(q, "block_size").value_or(0) != 0) return false;
    ir::Value* ys = q->input(1);
    ir::Value* yz = q->input(2);
    if (!single_value(ys) || !single_value(yz) || dtype_of(ys) != DType::kFloat32 ||
        !is_8bit(dtype_of(yz)))
      return false;
    if (const auto od = int_attr_of(q, "output_dtype");
        od && *od != 0 && *od != static_cast<int64_t>(dtype_of(yz)))
      return false;
    ir::Node* mm = producer_if(q->input(0), "MatMul");
    if (!mm || !used_once(q->input(0)) || mm->inputs().size() != 2) return false;
    auto a = dq_parts(producer_if(mm->input(0), "DequantizeLinear"));
    ir::Node* wn = producer_if(mm->input(1), "DequantizeLinear");
    auto w = dq_parts(wn);
    if (!a || !w) return false;
    if (!single_value(a->scale) || !single_value(a->zp)) return false;
    if (!single_value(w->scale) || !single_value(w->zp)) {
      // Per column of a 2-D weight.
      const Tensor* wt = constant_of(w->x);
      const int64_t rank = wt ? wt->rank() : rank_of(w->x);
      const int64_t n = wt ? (rank == 2 ? wt->dim(1) : -1) : last_dim(w->x);
      const int64_t axis = int_attr_of(wn, "axis").value_or(1);
      if (rank != 2 || n <= 0 || (axis != 1 && axis != -1)) return false;
      if (!shape_is_1d(w->scale, n) || !shape_is_1d(w->zp, n)) return false;
    }
    KILN_ASSIGN_OR_RETURN(ir::Node * f,
                          replace_with(g, q, "QLinearMatMul", "",
                                       {a->x, a->scale, a->zp, w->x, w->scale, w->zp, ys, yz}, {}));
    (void)f;
    ctx.stats.add("QLinearMatMul");
    return true;
  }
};

// DQ(a), DQ(w) -> Gemm (no C, alpha 1, transA 0) -> Q => QLinearMatMul.
class QdqGemmPattern : public RewritePattern {
 public:
  std::string name() const override { return "qdq_fusion"; }
  std::vector<std::string> target_ops() const override { return {"QuantizeLinear"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* q, PassContext& ctx) override {
    if (!output_q_fits(q)) return false;
    ir::Node* gm = producer_if(q->input(0), "Gemm");
    if (!gm || !used_once(q->input(0)) || gm->inputs().size() < 2) return false;
    if (gm->input(2) && float_attr_of(gm, "beta").value_or(1.0f) != 0.0f)
      return to_qgemm(g, q, gm, ctx);
    if (int_attr_of(gm, "transA").value_or(0) != 0) return false;
    if (float_attr_of(gm, "alpha").value_or(1.0f) != 1.0f) return false;
    const bool trans_b = int_attr_of(gm, "transB").value_or(0) != 0;
    auto a = dq_parts(producer_if(gm->input(0), "DequantizeLinear"));
    ir::Node* wn = producer_if(gm->input(1), "DequantizeLinear");
    auto w = dq_parts(wn);
    if (!a || !w || !single_value(a->scale) || !single_value(a->zp)) return false;
    const Tensor* wt = constant_of(w->x);
    const int64_t rank = wt ? wt->rank() : rank_of(w->x);
    if (rank != 2) return false;
    ir::Value* wq = w->x;
    if (!single_value(w->scale) || !single_value(w->zp)) {
      // Per output column: axis 1 of B, or axis 0 of B^T.
      const int64_t axis = int_attr_of(wn, "axis").value_or(1);
      const int64_t want = trans_b ? 0 : 1;
      if (axis != want && !(axis == -1 && want == 1)) return false;
      const int64_t n = wt ? wt->dim(static_cast<int>(want)) : (trans_b ? -1 : last_dim(w->x));
      if (n <= 0 || !shape_is_1d(w->scale, n) || !shape_is_1d(w->zp, n)) return false;
    }
    if (trans_b) {
      if (!wt) return false;  // only a constant weight is transposed
      const int64_t r = wt->dim(0), c = wt->dim(1);
      Tensor tq = Tensor::create(wt->dtype(), {c, r}).value();
      const auto* src = static_cast<const uint8_t*>(wt->raw_data());
      auto* dst = static_cast<uint8_t*>(tq.raw_data());
      for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j) dst[j * r + i] = src[i * c + j];
      wq = add_constant(g, w->x->name() + "_transposed", std::move(tq));
    }
    KILN_ASSIGN_OR_RETURN(
        ir::Node * f,
        replace_with(g, q, "QLinearMatMul", "",
                     {a->x, a->scale, a->zp, wq, w->scale, w->zp, q->input(1), q->input(2)}, {}));
    (void)f;
    ctx.stats.add("QLinearMatMul");
    return true;
  }

 private:
  // DQ(a), DQ(w), C -> Gemm -> Q => com.microsoft QGemm(a_q, a_s, a_zp, w_q, w_s, w_zp, C_q,
  // y_s, y_zp) with alpha, transA and transB (see the top of the file).
  static Expected<bool> to_qgemm(ir::Graph& g, ir::Node* q, ir::Node* gm, PassContext& ctx) {
    const bool trans_b = int_attr_of(gm, "transB").value_or(0) != 0;
    const float alpha = float_attr_of(gm, "alpha").value_or(1.0f);
    const float beta = float_attr_of(gm, "beta").value_or(1.0f);
    if (!std::isfinite(alpha) || alpha == 0.0f || !std::isfinite(beta)) return false;
    auto a = dq_parts(producer_if(gm->input(0), "DequantizeLinear"));
    ir::Node* wn = producer_if(gm->input(1), "DequantizeLinear");
    auto w = dq_parts(wn);
    if (!a || !w || !single_value(a->scale) || !single_value(a->zp)) return false;
    // QGemm's y has A's type (ONNX Runtime's kernels: u8 -> u8, s8 -> s8).
    if (dtype_of(q->input(2)) != dtype_of(a->zp)) return false;
    const Tensor* wt = constant_of(w->x);
    if (!wt || wt->rank() != 2) return false;
    const int64_t n = wt->dim(trans_b ? 0 : 1);
    if (!single_value(w->scale) || !single_value(w->zp)) {
      // Per output column: axis 1 of B, or axis 0 of B^T.
      const int64_t axis = int_attr_of(wn, "axis").value_or(1);
      const int64_t want = trans_b ? 0 : 1;
      if (axis != want && !(axis == -1 && want == 1)) return false;
      if (n <= 0 || !shape_is_1d(w->scale, n) || !shape_is_1d(w->zp, n)) return false;
    }
    // C: [N] or [1, N] (constant, or DequantizeLinear of a constant int32), one value per
    // output column.
    ir::Value* c = gm->input(2);
    const ir::Node* cdq = producer_if(c, "DequantizeLinear");
    const Tensor* ct = constant_of(cdq ? cdq->input(0) : c);
    if (!ct || ct->numel() != n || ct->rank() < 1 || ct->rank() > 2 || ct->dim(-1) != n)
      return false;
    const auto xs = scale_values(a->scale);
    const auto ws = scale_values(w->scale);
    if (!xs || !ws) return false;
    auto cq =
        bias_int32(g, c, (*xs)[0], *ws, n, static_cast<double>(beta) / static_cast<double>(alpha));
    if (!cq) return false;
    std::vector<std::pair<std::string, ir::Attribute>> av;
    for (const auto& [k, v] : gm->attributes())
      if (k == "alpha" || k == "transA" || k == "transB") av.emplace_back(k, v);
    ensure_ms_domain(g);
    KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, q, "QGemm", kMsDomain,
                                                     {a->x, a->scale, a->zp, w->x, w->scale, w->zp,
                                                      *cq, q->input(1), q->input(2)},
                                                     av));
    (void)f;
    ctx.stats.add("QGemm");
    return true;
  }
};

// DQ(x), DQ(w) -> Conv(bias) -> Q => QLinearConv.
class QdqConvPattern : public RewritePattern {
 public:
  std::string name() const override { return "qdq_fusion"; }
  std::vector<std::string> target_ops() const override { return {"QuantizeLinear"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* q, PassContext& ctx) override {
    if (!output_q_fits(q)) return false;
    ir::Node* cv = producer_if(q->input(0), "Conv");
    if (!cv || !used_once(q->input(0)) || cv->inputs().size() < 2) return false;
    auto a = dq_parts(producer_if(cv->input(0), "DequantizeLinear"));
    ir::Node* wn = producer_if(cv->input(1), "DequantizeLinear");
    auto w = dq_parts(wn);
    if (!a || !w || !single_value(a->scale) || !single_value(a->zp)) return false;
    // QLinearConv's y has x's type (ONNX Runtime's kernels: u8 -> u8, s8 -> s8).
    if (dtype_of(q->input(2)) != dtype_of(a->zp)) return false;
    const Tensor* wt = constant_of(w->x);
    if (!wt || wt->rank() < 3) return false;
    const int64_t m = wt->dim(0);
    if (!single_value(w->scale) || !single_value(w->zp)) {
      if (int_attr_of(wn, "axis").value_or(1) != 0) return false;
      if (!shape_is_1d(w->scale, m) || !shape_is_1d(w->zp, m)) return false;
    }
    std::vector<ir::Value*> in = {a->x,     a->scale, a->zp,       w->x,
                                  w->scale, w->zp,    q->input(1), q->input(2)};
    if (ir::Value* b = cv->input(2)) {
      const auto xs = scale_values(a->scale);
      const auto ws = scale_values(w->scale);
      if (!xs || !ws) return false;
      auto bq = bias_int32(g, b, (*xs)[0], *ws, m);
      if (!bq) return false;
      in.push_back(*bq);
    }
    const auto attrs = cv->attributes();
    std::vector<std::pair<std::string, ir::Attribute>> av(attrs.begin(), attrs.end());
    KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, q, "QLinearConv", "", in, av));
    (void)f;
    ctx.stats.add("QLinearConv");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_qdq_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<QdqMatMulPattern>());
  p.push_back(std::make_unique<QdqGemmPattern>());
  p.push_back(std::make_unique<QdqConvPattern>());
  return std::make_unique<PatternPass>("qdq_fusion", std::move(p));
}

}  // namespace kiln::passes
