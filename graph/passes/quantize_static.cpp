// Static INT8 quantization (quantize.h): calibration of activation ranges by running the float
// model on the CPU reference executor over input sets, the QDQ rewrite with those ranges (the
// rewrite itself is quantize_dynamic.cpp's, given the ranges), and the QOperator rewrite, after
// ONNX Runtime's quantize_static(quant_format=QOperator):
//   x (float) -> QuantizeLinear(x_s, x_zp) (uint8, shared by every quantized reader of x)
//   MatMul(x, W)      -> QLinearMatMul(x_q, x_s, x_zp, W_q, W_s, W_zp, y_s, y_zp)
//   Gemm(x, W) (no C) -> QLinearMatMul (W^T stored when transB; alpha folded into W_s)
//   Gemm(x, W, C)     -> com.microsoft QGemm(x_q, x_s, x_zp, W_q, W_s, W_zp, C_q, y_s, y_zp)
//                        (C constant; C_q int32 = round(C * beta / (x_s * W_s[n])), as ORT)
//   Conv(x, W, B)     -> QLinearConv(x_q, x_s, x_zp, W_q, W_s, W_zp, y_s, y_zp, B_q)
//                        B_q int32 = round(B / float(x_s * W_s[m])) (zero point 0), as ORT
//   y_q -> DequantizeLinear -> y for float readers and graph outputs only: a quantized reader of
//   y takes y_q directly (chains stay in uint8, no DQ -> Q between them).
// y_s / y_zp come from y's calibrated range (uint8, asymmetric). Weights: per tensor, or with
// per_channel per output channel (QLinearConv: axis 0; QLinearMatMul: per column of a 2-D B,
// which ONNX Runtime's QLinearMatMul kernel accepts). Gather tables are quantized as in the
// dynamic QOperator format (ORT's GatherQuant).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "graph/passes/fusion_util.h"
#include "graph/passes/quantize.h"
#include "graph/passes/util.h"
#include "runtime/cpu/executor.h"

namespace kiln::passes {

namespace detail {
Status quantize_graph(ir::Graph& g, const QuantizeOptions& o,
                      const std::map<std::string, TensorRange>* ranges, QuantizeReport* report);
std::string candidate(const ir::Node* n, const QuantizeOptions& o, ir::Value** x);
}  // namespace detail

namespace {

// Values of one activation over all runs: min / max, and the values themselves for percentiles.
struct Stats {
  bool seen = false;
  float min = 0, max = 0;
  std::vector<float> values;
};

// The most values kept per tensor for percentiles; beyond that every k-th value is kept.
constexpr int64_t kMaxKept = int64_t{1} << 22;

void observe(const Tensor& t, bool keep_values, Stats* s) {
  if (t.dtype() != DType::kFloat32) return;
  const float* d = t.data<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float v = d[i];
    if (!std::isfinite(v)) continue;
    if (!s->seen) {
      s->min = s->max = v;
      s->seen = true;
    }
    s->min = std::min(s->min, v);
    s->max = std::max(s->max, v);
  }
  if (!keep_values) return;
  const int64_t step = std::max<int64_t>(1, n / kMaxKept);
  for (int64_t i = 0; i < n; i += step)
    if (std::isfinite(d[i])) s->values.push_back(d[i]);
}

// The p-th percentile (0..100) of v (nearest rank on the sorted values; v is reordered).
float percentile_of(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t k = static_cast<size_t>(std::llround(pos));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

ir::ValueInfo info_like(DType t, const ir::Value* v) {
  ir::ValueInfo vi = v->info();
  vi.dtype = t;
  return vi;
}

// A quantized tensor: data, scale and zero point values (and the scales, for the bias).
struct QTensor {
  ir::Value* q = nullptr;
  ir::Value* scale = nullptr;
  ir::Value* zp = nullptr;
  std::vector<float> scales;
};

// The QOperator rewrite of quantize_static (see the top of this file).
class StaticQOperator {
 public:
  StaticQOperator(ir::Graph& g, const QuantizeOptions& o,
                  const std::map<std::string, TensorRange>& ranges, QuantizeReport* r)
      : g_(g), o_(o), ranges_(ranges), r_(r) {}

  Status run() {
    for (ir::Node* n : g_.nodes()) {
      ir::Value* x = nullptr;
      const std::string why = detail::candidate(n, o_, &x);
      if (!why.empty()) {
        if (why != "-") r_->skipped.push_back(n->describe() + ": " + why);
        continue;
      }
      ir::Value* y = n->output(0);
      if (!acts_.count(x) && !ranges_.count(x->name())) {
        r_->skipped.push_back(n->describe() + ": no calibrated range for '" + x->name() + "'");
        continue;
      }
      if (!ranges_.count(y->name())) {
        r_->skipped.push_back(n->describe() + ": no calibrated range for its output '" + y->name() +
                              "'");
        continue;
      }
      if (n->op_type() == "Gemm") {
        const float beta = n->attr("beta") ? n->attr("beta")->f : 1.0f;
        if (rank_known(x) != 2) {
          r_->skipped.push_back(n->describe() + ": A is not known to be 2-D");
          continue;
        }
        if (n->input(2) && beta != 0.0f && !all_zero(constant_of(n->input(2)))) {
          const std::string why = qgemm_bias_problem(n);
          if (!why.empty()) {
            r_->skipped.push_back(n->describe() + ": " + why + "; left in float");
            continue;
          }
          KILN_RETURN_IF_ERROR(rewrite_qgemm(n, x));
          continue;
        }
      }
      KILN_RETURN_IF_ERROR(n->op_type() == "Conv" ? rewrite_conv(n, x) : rewrite_matmul(n, x));
    }
    remove_dead_nodes(g_);
    release_unused_initializers(g_);
    return g_.topo_sort();
  }

 private:
  static bool all_zero(const Tensor* t) {
    if (!t || t->dtype() != DType::kFloat32) return false;
    for (int64_t i = 0; i < t->numel(); ++i)
      if (t->data<float>()[i] != 0.0f) return false;
    return true;
  }

  static int rank_known(const ir::Value* v) {
    return v->info().has_shape ? static_cast<int>(v->info().dims.size()) : -1;
  }

  ir::Value* add_const(const std::string& base, Tensor t) {
    auto v = g_.add_initializer(g_.unique_name(base), std::move(t));
    return v.has_value() ? *v : nullptr;
  }

  Expected<ir::Node*> node(const std::string& op, const std::vector<ir::Value*>& in,
                           const std::vector<ir::Value*>& out, const std::string& name) {
    return g_.add_node(op, "", in, out, g_.unique_name(name));
  }

  QuantParams act_params(const std::string& name) const {
    const TensorRange& rg = ranges_.at(name);
    return compute_quant_params(rg.min, rg.max, 0, 255, false);
  }

  // Scale and zero point initializers of an activation.
  std::pair<ir::Value*, ir::Value*> act_param_values(const std::string& name,
                                                     const QuantParams& p) {
    return {add_const(name + "_scale", Tensor::scalar<float>(p.scale)),
            add_const(name + "_zero_point",
                      Tensor::scalar<uint8_t>(static_cast<uint8_t>(p.zero_point)))};
  }

  // x quantized: the uint8 output of an earlier quantized node, or QuantizeLinear(x) (shared).
  Expected<QTensor> activation(ir::Value* x) {
    auto it = acts_.find(x);
    if (it != acts_.end()) return it->second;
    const QuantParams p = act_params(x->name());
    QTensor a;
    std::tie(a.scale, a.zp) = act_param_values(x->name(), p);
    a.scales = {p.scale};
    a.q = new_value(g_, x->name() + "_quantized", info_like(DType::kUInt8, x));
    KILN_RETURN_IF_ERROR(
        node("QuantizeLinear", {x, a.scale, a.zp}, {a.q}, x->name() + "_QuantizeLinear").status());
    r_->activations_quantized++;
    return acts_.emplace(x, a).first->second;
  }

  // The weight `w` quantized: one parameter set, or one per index of `axis` (0 or rank-1);
  // `transpose` (2-D only) stores w^T. `scale_mul` multiplies the scales (Gemm's alpha).
  QTensor weight(ir::Value* wv, int axis, bool transpose, float scale_mul) {
    const auto key = std::make_tuple(wv, axis, transpose, scale_mul);
    if (auto it = weights_.find(key); it != weights_.end()) return it->second;
    const Tensor& w = *constant_of(wv);
    const int64_t channels = axis < 0 ? 1 : w.dim(axis);
    const int64_t inner = axis == 0 ? w.numel() / std::max<int64_t>(1, w.dim(0)) : 1;
    auto channel_of = [&](int64_t i) -> int64_t {
      if (axis < 0) return 0;
      return axis == 0 ? i / inner : i % channels;
    };
    const bool sym = o_.symmetric.value_or(o_.weight_type == DType::kInt8);
    int32_t qmin = 0, qmax = 0;
    quant_range(o_.weight_type, sym, o_.reduce_range, &qmin, &qmax);
    const float* d = w.data<float>();
    std::vector<float> lo(channels, 0), hi(channels, 0);
    std::vector<bool> seen(channels, false);
    for (int64_t i = 0; i < w.numel(); ++i) {
      const int64_t c = channel_of(i);
      lo[c] = seen[c] ? std::min(lo[c], d[i]) : d[i];
      hi[c] = seen[c] ? std::max(hi[c], d[i]) : d[i];
      seen[c] = true;
    }
    std::vector<QuantParams> ps;
    for (int64_t c = 0; c < channels; ++c)
      ps.push_back(compute_quant_params(lo[c], hi[c], qmin, qmax, sym));
    Shape shape = w.shape();
    if (transpose) std::swap(shape[0], shape[1]);
    Tensor q = Tensor::create(o_.weight_type, shape).value();
    uint8_t* qd = static_cast<uint8_t*>(q.raw_data());
    for (int64_t i = 0; i < w.numel(); ++i) {
      const int32_t v = quantize_value(d[i], ps[channel_of(i)], o_.weight_type);
      const int64_t at = transpose ? (i % w.dim(1)) * w.dim(0) + i / w.dim(1) : i;
      qd[at] = static_cast<uint8_t>(o_.weight_type == DType::kInt8 ? static_cast<int8_t>(v) : v);
    }
    const Shape ps_shape = axis < 0 ? Shape{} : Shape{channels};
    Tensor s = Tensor::create(DType::kFloat32, ps_shape).value();
    Tensor z = Tensor::create(o_.weight_type, ps_shape).value();
    QTensor out;
    for (int64_t c = 0; c < channels; ++c) {
      s.data<float>()[c] = ps[c].scale * scale_mul;
      z.set_from_double(c, ps[c].zero_point);
      out.scales.push_back(ps[c].scale * scale_mul);
    }
    r_->weights_quantized++;
    r_->float_weight_bytes += static_cast<int64_t>(w.nbytes());
    r_->quant_weight_bytes += static_cast<int64_t>(q.nbytes() + s.nbytes() + z.nbytes());
    out.q = add_const(wv->name() + "_quantized", std::move(q));
    out.scale = add_const(wv->name() + "_scale", std::move(s));
    out.zp = add_const(wv->name() + "_zero_point", std::move(z));
    return weights_.emplace(key, out).first->second;
  }

  // y's quantization: a uint8 value y_q read by the integer op; y itself becomes
  // DequantizeLinear(y_q) for float readers (removed when there are none).
  Expected<QTensor> output(ir::Value* y) {
    const QuantParams p = act_params(y->name());
    QTensor o;
    std::tie(o.scale, o.zp) = act_param_values(y->name(), p);
    o.scales = {p.scale};
    o.q = new_value(g_, y->name() + "_quantized", info_like(DType::kUInt8, y));
    return o;
  }

  Status finish(ir::Value* y, const QTensor& yq) {
    KILN_RETURN_IF_ERROR(
        node("DequantizeLinear", {yq.q, yq.scale, yq.zp}, {y}, y->name() + "_DequantizeLinear")
            .status());
    acts_.emplace(y, yq);
    return Status::ok();
  }

  Status rewrite_matmul(ir::Node* n, ir::Value* x) {
    const bool gemm = n->op_type() == "Gemm";
    const bool trans_b = gemm && n->attr("transB") && n->attr("transB")->i != 0;
    const float alpha = gemm && n->attr("alpha") ? n->attr("alpha")->f : 1.0f;
    ir::Value* y = n->output(0);
    const std::string base = n->name().empty() ? y->name() : n->name();
    KILN_ASSIGN_OR_RETURN(QTensor a, activation(x));
    // Per column of B (of B^T with transB: its rows).
    const int axis = o_.per_channel ? (trans_b ? 0 : 1) : -1;
    const QTensor w = weight(n->input(1), axis, trans_b, alpha);
    KILN_ASSIGN_OR_RETURN(QTensor yq, output(y));
    g_.remove_node(n);
    KILN_RETURN_IF_ERROR(node("QLinearMatMul",
                              {a.q, a.scale, a.zp, w.q, w.scale, w.zp, yq.scale, yq.zp}, {yq.q},
                              base + "_quant")
                             .status());
    KILN_RETURN_IF_ERROR(finish(y, yq));
    r_->quantized[gemm ? "Gemm" : "MatMul"]++;
    return Status::ok();
  }

  // Why Gemm `n`'s bias C keeps it from becoming QGemm ("" when it does not): C must be a
  // constant float32 scalar, [N] or [1, N] (one int32 value per output column, at that column's
  // scale).
  static std::string qgemm_bias_problem(const ir::Node* n) {
    const Tensor* c = constant_of(n->input(2));
    if (!c || c->dtype() != DType::kFloat32) return "C (bias) is not a constant float32 tensor";
    const Tensor* w = constant_of(n->input(1));
    const bool trans_b = n->attr("transB") && n->attr("transB")->i != 0;
    const int64_t N = w ? (trans_b ? w->dim(0) : w->dim(1)) : -1;
    const bool ok =
        c->numel() == 1 ? c->rank() <= 2 : (c->numel() == N && c->dim(-1) == N && c->rank() <= 2);
    if (!ok)
      return "C (bias) of shape " + shape_to_string(c->shape()) +
             " is not a scalar, [N] or [1, N] (QGemm quantizes it per output column)";
    for (int64_t i = 0; i < c->numel(); ++i)
      if (!std::isfinite(c->data<float>()[i])) return "C (bias) has non-finite values";
    return "";
  }

  // Gemm(x, W, C) with a constant bias -> com.microsoft QGemm(x_q, x_s, x_zp, W_q, W_s, W_zp,
  // C_q, y_s, y_zp) with alpha, transA and transB kept, as ONNX Runtime's QLinearGemm writes it:
  // W quantized as stored (per column of B: axis 1, or axis 0 with transB), C_q int32 =
  // round(C * beta / (x_s * W_s[n])) at zero point 0 (ORT's quantize_bias_static). QGemm adds C_q
  // to the int32 product before multiplying by alpha * x_s * W_s, so for alpha != 1 the bias
  // scale is divided by alpha here (ORT's quantizer omits that; the same values when alpha is 1).
  Status rewrite_qgemm(ir::Node* n, ir::Value* x) {
    const bool trans_b = n->attr("transB") && n->attr("transB")->i != 0;
    const float alpha = n->attr("alpha") ? n->attr("alpha")->f : 1.0f;
    const float beta = n->attr("beta") ? n->attr("beta")->f : 1.0f;
    ir::Value* y = n->output(0);
    const std::string base = n->name().empty() ? y->name() : n->name();
    KILN_ASSIGN_OR_RETURN(QTensor a, activation(x));
    const int axis = o_.per_channel ? (trans_b ? 0 : 1) : -1;
    const QTensor w = weight(n->input(1), axis, false, 1.0f);
    KILN_ASSIGN_OR_RETURN(QTensor yq, output(y));
    ir::Value* c = n->input(2);
    const Tensor& ct = *constant_of(c);
    const int64_t cols = static_cast<int64_t>(w.scales.size());
    const Shape cq_shape = ct.numel() == 1 && cols > 1 ? Shape{cols} : ct.shape();
    Tensor cq = Tensor::create(DType::kInt32, cq_shape).value();
    for (int64_t i = 0; i < cq.numel(); ++i) {
      float s = a.scales[0] * w.scales[cols == 1 ? 0 : i % cols];
      if (beta != 1.0f) s = s / beta;
      if (alpha != 1.0f) s = s * alpha;
      const float b = ct.data<float>()[ct.numel() == 1 ? 0 : i];
      double q = std::nearbyint(static_cast<double>(b) / s);
      if (std::isnan(q)) q = 0;
      cq.data<int32_t>()[i] = static_cast<int32_t>(std::clamp(q, -2147483648.0, 2147483647.0));
    }
    r_->float_weight_bytes += static_cast<int64_t>(ct.nbytes());
    r_->quant_weight_bytes += static_cast<int64_t>(cq.nbytes());
    ir::Value* cv = add_const(c->name() + "_quantized", std::move(cq));
    const auto attrs = n->attributes();
    g_.remove_node(n);
    ensure_ms_domain(g_);
    KILN_ASSIGN_OR_RETURN(ir::Node * q,
                          g_.add_node("QGemm", "com.microsoft",
                                      {a.q, a.scale, a.zp, w.q, w.scale, w.zp, cv, yq.scale, yq.zp},
                                      {yq.q}, g_.unique_name(base + "_quant")));
    for (const auto& [k, v] : attrs)
      if (k != "beta") q->set_attr(k, v);
    KILN_RETURN_IF_ERROR(finish(y, yq));
    r_->quantized["Gemm"]++;
    return Status::ok();
  }

  Status rewrite_conv(ir::Node* n, ir::Value* x) {
    ir::Value* y = n->output(0);
    const std::string base = n->name().empty() ? y->name() : n->name();
    if (o_.per_channel && o_.weight_type == DType::kUInt8 && !o_.symmetric.value_or(false))
      return invalid_argument(n->describe() +
                              ": per-channel asymmetric uint8 weights give each output channel "
                              "its own zero point, which ONNX Runtime's QLinearConv refuses (one "
                              "zero point for all channels); use int8 or --symmetric weights, "
                              "or drop --per-channel");
    KILN_ASSIGN_OR_RETURN(QTensor a, activation(x));
    const QTensor w = weight(n->input(1), o_.per_channel ? 0 : -1, false, 1.0f);
    KILN_ASSIGN_OR_RETURN(QTensor yq, output(y));
    std::vector<ir::Value*> in = {a.q, a.scale, a.zp, w.q, w.scale, w.zp, yq.scale, yq.zp};
    if (ir::Value* b = n->input(2)) {
      // ORT's quantize_bias_static: scale = x_s * w_s (float32), q = round(b / scale) in double.
      const Tensor& bt = *constant_of(b);
      Tensor bq = Tensor::create(DType::kInt32, bt.shape()).value();
      for (int64_t m = 0; m < bt.numel(); ++m) {
        const float s = a.scales[0] * w.scales[w.scales.size() == 1 ? 0 : m];
        double q = std::nearbyint(static_cast<double>(bt.data<float>()[m]) / s);
        if (std::isnan(q)) q = 0;
        bq.data<int32_t>()[m] = static_cast<int32_t>(std::clamp(q, -2147483648.0, 2147483647.0));
      }
      r_->float_weight_bytes += static_cast<int64_t>(bt.nbytes());
      r_->quant_weight_bytes += static_cast<int64_t>(bq.nbytes());
      in.push_back(add_const(b->name() + "_quantized", std::move(bq)));
    }
    const auto attrs = n->attributes();
    g_.remove_node(n);
    KILN_ASSIGN_OR_RETURN(ir::Node * conv, node("QLinearConv", in, {yq.q}, base + "_quant"));
    for (const auto& [k, v] : attrs) conv->set_attr(k, v);
    KILN_RETURN_IF_ERROR(finish(y, yq));
    r_->quantized["Conv"]++;
    return Status::ok();
  }

  ir::Graph& g_;
  const QuantizeOptions& o_;
  const std::map<std::string, TensorRange>& ranges_;
  QuantizeReport* r_;
  std::map<ir::Value*, QTensor> acts_;
  std::map<std::tuple<ir::Value*, int, bool, float>, QTensor> weights_;
};

}  // namespace

Expected<std::map<std::string, TensorRange>> calibrate(
    const ir::Graph& g, const QuantizeOptions& options,
    const std::vector<std::map<std::string, Tensor>>& input_sets, CalibrationMethod method,
    double percentile, int threads) {
  if (input_sets.empty()) return invalid_argument("calibration needs at least one input set");
  if (method == CalibrationMethod::kPercentile && !(percentile > 50 && percentile <= 100))
    return invalid_argument("the calibration percentile must be in (50, 100], got " +
                            std::to_string(percentile));
  // The activations to observe.
  std::set<std::string> wanted;
  for (ir::Node* n : g.nodes()) {
    ir::Value* x = nullptr;
    if (!detail::candidate(n, options, &x).empty() || !x) continue;
    wanted.insert(x->name());
    // QOperator also needs the range of the quantized node's output.
    if (options.format == QuantFormat::kQOperator && n->output(0))
      wanted.insert(n->output(0)->name());
  }
  std::map<std::string, Stats> stats;
  const bool keep = method == CalibrationMethod::kPercentile;
  cpu::Executor ex(g, threads);
  KILN_RETURN_IF_ERROR(ex.prepare());
  for (size_t i = 0; i < input_sets.size(); ++i) {
    for (const auto& [name, t] : input_sets[i])
      if (wanted.count(name)) observe(t, keep, &stats[name]);
    auto out = ex.run(input_sets[i], [&](const ir::Node& n, const std::vector<Tensor>& outs) {
      for (size_t k = 0; k < outs.size() && k < n.outputs().size(); ++k) {
        const ir::Value* v = n.outputs()[k];
        if (v && outs[k].defined() && wanted.count(v->name()))
          observe(outs[k], keep, &stats[v->name()]);
      }
    });
    if (!out) return out.status().with_context("calibration input set " + std::to_string(i));
  }
  std::map<std::string, TensorRange> ranges;
  for (auto& [name, s] : stats) {
    if (!s.seen) continue;
    TensorRange r{s.min, s.max};
    if (keep) {
      r.max = percentile_of(s.values, percentile);
      r.min = percentile_of(s.values, 100.0 - percentile);
    }
    ranges[name] = r;
  }
  return ranges;
}

Status quantize_static(ir::Graph& g, const QuantizeOptions& options,
                       const std::map<std::string, TensorRange>& ranges, QuantizeReport* report) {
  QuantizeOptions o = options;
  o.format = QuantFormat::kQDQ;
  return detail::quantize_graph(g, o, &ranges, report);
}

Status quantize_static_qoperator(ir::Graph& g, const QuantizeOptions& options,
                                 const std::map<std::string, TensorRange>& ranges,
                                 QuantizeReport* report) {
  QuantizeReport local;
  QuantizeReport* r = report ? report : &local;
  if (options.weight_type != DType::kInt8 && options.weight_type != DType::kUInt8)
    return invalid_argument("weight type must be int8 or uint8");
  for (const std::string& op : options.op_types)
    if (!supported_quant_op_types().count(op))
      return invalid_argument("cannot quantize op type '" + op +
                              "' (supported: MatMul, Gemm, Conv, Gather)");
  const int opset = g.opset("");
  if (opset < 10)
    return invalid_argument("the model's ai.onnx opset is " + std::to_string(opset) +
                            "; QOperator static quantization needs QLinearMatMul / QLinearConv "
                            "(opset 10)");
  // Gather tables: the dynamic QOperator rewrite (the same as ORT's static GatherQuant).
  if (options.op_types.count("Gather")) {
    QuantizeOptions go = options;
    go.format = QuantFormat::kQOperator;
    go.op_types = {"Gather"};
    KILN_RETURN_IF_ERROR(detail::quantize_graph(g, go, nullptr, r));
  }
  QuantizeOptions qo = options;
  qo.op_types.erase("Gather");
  // ONNX Runtime's QLinearOps registry has no Attention: its static QOperator output keeps it
  // in float (QAttention is quantize_dynamic's).
  if (qo.op_types.erase("Attention"))
    for (ir::Node* n : g.nodes())
      if (n->op_type() == "Attention" && n->domain() == "com.microsoft" &&
          !options.nodes_to_exclude.count(n->name()))
        r->skipped.push_back(n->describe() +
                             ": Attention stays float in static QOperator quantization (as in "
                             "ONNX Runtime; QAttention is dynamic)");
  if (qo.op_types.empty()) return Status::ok();
  StaticQOperator rw(g, qo, ranges, r);
  return rw.run();
}

}  // namespace kiln::passes
