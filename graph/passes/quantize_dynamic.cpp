// Dynamic INT8 quantization (quantize.h): quantization parameters as ONNX Runtime computes them,
// weight quantization, the choice of the MatMul / Gemm nodes to quantize and their rewrite into
// DynamicQuantizeLinear + MatMulInteger + Cast + Mul (QOperator) or DequantizeLinear-fed weights
// (QDQ), and com.microsoft Attention into DynamicQuantizeLinear + QAttention (QOperator only, as
// ONNX Runtime's AttentionQuant). quantize_static (quantize_static.cpp) shares the rewrite
// through quantize_graph().
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph/passes/fusion_util.h"
#include "graph/passes/quantize.h"
#include "graph/passes/util.h"

namespace kiln::passes {

int64_t QuantizeReport::total_quantized() const {
  int64_t n = 0;
  for (const auto& [op, c] : quantized) n += c;
  return n;
}

const std::set<std::string>& supported_quant_op_types() {
  static const std::set<std::string> kOps = {"MatMul", "Gemm", "Conv", "Gather", "Attention"};
  return kOps;
}

void quant_range(DType type, bool symmetric, bool reduce_range, int32_t* qmin, int32_t* qmax) {
  const bool s8 = type == DType::kInt8;
  if (reduce_range) {
    *qmin = s8 ? -64 : 0;
    *qmax = s8 ? 64 : 127;
  } else if (symmetric && s8) {
    *qmin = -127;
    *qmax = 127;
  } else {
    *qmin = s8 ? -128 : 0;
    *qmax = s8 ? 127 : 255;
  }
}

QuantParams compute_quant_params(float rmin, float rmax, int32_t qmin, int32_t qmax,
                                 bool symmetric) {
  rmin = std::min(rmin, 0.0f);
  rmax = std::max(rmax, 0.0f);
  if (symmetric) {
    const float absmax = std::max(std::fabs(rmin), std::fabs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  const double scale =
      (static_cast<double>(rmax) - static_cast<double>(rmin)) / static_cast<double>(qmax - qmin);
  QuantParams p;
  if (!(scale >= static_cast<double>(FLT_MIN))) return p;  // also NaN: scale 1, zero point 0
  if (symmetric)
    p.zero_point = static_cast<int32_t>(std::nearbyint((qmin + qmax) / 2.0));
  else
    p.zero_point =
        static_cast<int32_t>(std::clamp(std::nearbyint(qmin - static_cast<double>(rmin) / scale),
                                        static_cast<double>(qmin), static_cast<double>(qmax)));
  p.scale = static_cast<float>(scale);
  return p;
}

int32_t quantize_value(float v, const QuantParams& p, DType type) {
  const float lo = type == DType::kInt8 ? -128.0f : 0.0f;
  const float hi = type == DType::kInt8 ? 127.0f : 255.0f;
  float q = std::nearbyint(v / p.scale) + static_cast<float>(p.zero_point);
  if (std::isnan(q)) q = 0;
  return static_cast<int32_t>(std::clamp(q, lo, hi));
}

namespace detail {

// Shared with quantize_static.cpp: the rewrite of every quantizable node. `ranges` null: dynamic.
Status quantize_graph(ir::Graph& g, const QuantizeOptions& o,
                      const std::map<std::string, TensorRange>* ranges, QuantizeReport* report);
// Why `n` is not quantized ("" when it is a candidate); `x` and `w` receive its activation and
// constant weight values.
std::string candidate(const ir::Node* n, const QuantizeOptions& o, ir::Value** x);

}  // namespace detail

namespace {

using detail::candidate;

struct QuantWeight {
  ir::Value* q = nullptr;      // int8 / uint8 [K, N] (or B's layout for QDQ)
  ir::Value* scale = nullptr;  // float scalar or [channels]
  ir::Value* zp = nullptr;     // same shape, weight type
  std::vector<float> scales;   // the scale values
};

struct QuantAct {
  ir::Value* q = nullptr;
  ir::Value* scale = nullptr;
  ir::Value* zp = nullptr;
};

ir::ValueInfo info_of(DType t, const Shape& s) {
  ir::ValueInfo vi;
  vi.dtype = t;
  vi.has_shape = true;
  for (int64_t d : s) vi.dims.push_back(ir::Dim{d, ""});
  return vi;
}

ir::ValueInfo info_like(DType t, const ir::Value* v) {
  ir::ValueInfo vi = v->info();
  vi.dtype = t;
  return vi;
}

ir::Value* add_const(ir::Graph& g, const std::string& base, Tensor t) {
  auto v = g.add_initializer(g.unique_name(base), std::move(t));
  return v.has_value() ? *v : nullptr;
}

ir::Attribute int_attr(int64_t i) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = i;
  return a;
}

bool is_float_matrix(const Tensor* t) {
  return t && t->dtype() == DType::kFloat32 && t->rank() == 2 && t->numel() > 0;
}

bool all_finite(const Tensor& t) {
  const float* d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(d[i])) return false;
  return true;
}

// The weight of `n` (MatMul B, Gemm B), [rows, cols] as stored.
const Tensor* weight_of(const ir::Node* n) {
  return constant_of(n->input(1));
}

// Quantizes `w` ([R, C] float32). Per channel: one parameter per column (axis 1) or per row
// (axis 0). `transpose`: the result is w^T.
Tensor quantize_matrix(const Tensor& w, const QuantizeOptions& o, int channel_axis, bool transpose,
                       std::vector<QuantParams>* params) {
  const int64_t R = w.dim(0), C = w.dim(1);
  const float* d = w.data<float>();
  const bool sym = o.symmetric.value_or(o.weight_type == DType::kInt8);
  int32_t qmin = 0, qmax = 0;
  quant_range(o.weight_type, sym, o.reduce_range, &qmin, &qmax);
  const int64_t channels = channel_axis < 0 ? 1 : (channel_axis == 0 ? R : C);
  std::vector<float> lo(channels, 0.0f), hi(channels, 0.0f);
  std::vector<bool> seen(channels, false);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t ch = channel_axis < 0 ? 0 : (channel_axis == 0 ? r : c);
      const float v = d[r * C + c];
      if (!seen[ch]) {
        lo[ch] = hi[ch] = v;
        seen[ch] = true;
      } else {
        lo[ch] = std::min(lo[ch], v);
        hi[ch] = std::max(hi[ch], v);
      }
    }
  params->clear();
  for (int64_t ch = 0; ch < channels; ++ch)
    params->push_back(compute_quant_params(lo[ch], hi[ch], qmin, qmax, sym));
  const Shape out_shape = transpose ? Shape{C, R} : Shape{R, C};
  Tensor q = Tensor::create(o.weight_type, out_shape).value();
  uint8_t* qd = static_cast<uint8_t*>(q.raw_data());
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t ch = channel_axis < 0 ? 0 : (channel_axis == 0 ? r : c);
      const int32_t v = quantize_value(d[r * C + c], (*params)[ch], o.weight_type);
      const int64_t at = transpose ? c * R + r : r * C + c;
      qd[at] = o.weight_type == DType::kInt8 ? static_cast<uint8_t>(static_cast<int8_t>(v))
                                             : static_cast<uint8_t>(v);
    }
  return q;
}

// Scale and zero point tensors (scalars for per-tensor, 1-D otherwise).
void param_tensors(const std::vector<QuantParams>& ps, DType zp_type, bool per_channel,
                   Tensor* scale, Tensor* zp) {
  const Shape s = per_channel ? Shape{static_cast<int64_t>(ps.size())} : Shape{};
  *scale = Tensor::create(DType::kFloat32, s).value();
  *zp = Tensor::create(zp_type, s).value();
  for (size_t i = 0; i < ps.size(); ++i) {
    scale->data<float>()[i] = ps[i].scale;
    zp->set_from_double(static_cast<int64_t>(i), ps[i].zero_point);
  }
}

class Rewriter {
 public:
  Rewriter(ir::Graph& g, const QuantizeOptions& o, const std::map<std::string, TensorRange>* ranges,
           QuantizeReport* r)
      : g_(g), o_(o), ranges_(ranges), r_(r) {}

  Status run() {
    if (o_.weight_type != DType::kInt8 && o_.weight_type != DType::kUInt8)
      return invalid_argument("weight type must be int8 or uint8");
    for (const std::string& op : o_.op_types)
      if (!supported_quant_op_types().count(op))
        return invalid_argument("cannot quantize op type '" + op +
                                "' (supported: MatMul, Gemm, Conv, Gather, Attention)");
    const int opset = g_.opset("");
    const bool qdq = ranges_ != nullptr || o_.format == QuantFormat::kQDQ;
    if (!qdq && opset < 11)
      return invalid_argument("the model's ai.onnx opset is " + std::to_string(opset) +
                              "; QOperator quantization needs DynamicQuantizeLinear (opset 11)");
    if (qdq && opset < (o_.per_channel ? 13 : 10))
      return invalid_argument(
          "the model's ai.onnx opset is " + std::to_string(opset) + "; QDQ quantization needs " +
          (o_.per_channel ? "opset 13 (per-axis DequantizeLinear)" : "opset 10"));
    for (ir::Node* n : g_.nodes()) {
      ir::Value* x = nullptr;
      std::string why = candidate(n, o_, &x);
      if (!why.empty()) {
        if (why != "-") r_->skipped.push_back(n->describe() + ": " + why);
        continue;
      }
      if (n->op_type() == "Gather") {
        KILN_RETURN_IF_ERROR(rewrite_gather(n, qdq));
        continue;
      }
      if (n->op_type() == "Attention") {
        // ONNX Runtime's QDQ and QLinear registries have no Attention: quantize_dynamic makes
        // QAttention in QOperator format only, and quantize_static leaves Attention in float.
        if (qdq || ranges_) {
          r_->skipped.push_back(n->describe() + ": Attention has no QDQ form (QAttention is " +
                                "dynamic QOperator only)");
          continue;
        }
        KILN_RETURN_IF_ERROR(rewrite_attention(n, x));
        continue;
      }
      if (ranges_ && !ranges_->count(x->name())) {
        r_->skipped.push_back(n->describe() + ": no calibrated range for '" + x->name() + "'");
        continue;
      }
      Status st = qdq                      ? rewrite_qdq(n, x)
                  : n->op_type() == "Conv" ? rewrite_conv(n, x)
                                           : rewrite_qoperator(n, x);
      if (!st.is_ok()) return st;
    }
    remove_dead_nodes(g_);
    release_unused_initializers(g_);
    return g_.topo_sort();
  }

 private:
  // Weight of `n` quantized (cached per weight value and layout).
  // Conv weights [M, C/g, k...] are quantized as the matrix [M, C/g * k...] (channels: axis 0).
  const QuantWeight& weight(ir::Node* n, bool transpose, int channel_axis, bool per_channel) {
    ir::Value* wv = n->input(1);
    auto key = std::make_pair(wv, transpose * 8 + channel_axis * 2 + per_channel);
    auto it = weights_.find(key);
    if (it != weights_.end()) return it->second;
    const Tensor& w = *weight_of(n);
    const Tensor w2 = w.rank() == 2 ? w : w.reshaped({w.dim(0), w.numel() / w.dim(0)});
    std::vector<QuantParams> ps;
    Tensor q = quantize_matrix(w2, o_, per_channel ? channel_axis : -1, transpose, &ps);
    if (w.rank() != 2) q = q.reshaped(w.shape());
    Tensor s, z;
    param_tensors(ps, o_.weight_type, per_channel, &s, &z);
    QuantWeight qw;
    for (const QuantParams& p : ps) qw.scales.push_back(p.scale);
    r_->weights_quantized++;
    r_->float_weight_bytes += static_cast<int64_t>(w.nbytes());
    r_->quant_weight_bytes += static_cast<int64_t>(q.nbytes() + s.nbytes() + z.nbytes());
    qw.q = add_const(g_, wv->name() + "_quantized", std::move(q));
    qw.scale = add_const(g_, wv->name() + "_scale", std::move(s));
    qw.zp = add_const(g_, wv->name() + "_zero_point", std::move(z));
    return weights_.emplace(key, qw).first->second;
  }

  Expected<ir::Node*> node(const std::string& op, const std::vector<ir::Value*>& in,
                           const std::vector<ir::Value*>& out, const std::string& name) {
    return g_.add_node(op, "", in, out, g_.unique_name(name));
  }

  // x -> DynamicQuantizeLinear, shared by every user of x.
  Expected<QuantAct> dynamic_act(ir::Value* x) {
    auto it = acts_.find(x);
    if (it != acts_.end()) return it->second;
    QuantAct a;
    a.q = new_value(g_, x->name() + "_quantized", info_like(DType::kUInt8, x));
    a.scale = new_value(g_, x->name() + "_scale", info_of(DType::kFloat32, {}));
    a.zp = new_value(g_, x->name() + "_zero_point", info_of(DType::kUInt8, {}));
    KILN_RETURN_IF_ERROR(
        node("DynamicQuantizeLinear", {x}, {a.q, a.scale, a.zp}, x->name() + "_QuantizeLinear")
            .status());
    r_->activations_quantized++;
    return acts_.emplace(x, a).first->second;
  }

  Status rewrite_qoperator(ir::Node* n, ir::Value* x) {
    const bool gemm = n->op_type() == "Gemm";
    const bool trans_b = gemm && n->attr("transB") && n->attr("transB")->i != 0;
    const float alpha = gemm && n->attr("alpha") ? n->attr("alpha")->f : 1.0f;
    const float beta = gemm && n->attr("beta") ? n->attr("beta")->f : 1.0f;
    ir::Value* c = gemm ? n->input(2) : nullptr;
    ir::Value* y = n->output(0);
    const std::string base = n->name().empty() ? y->name() : n->name();
    // The bias, scaled by beta when that is not 1 (candidate() checked it is constant then).
    if (c && beta != 1.0f) {
      Tensor cb = constant_of(c)->clone();
      for (int64_t i = 0; i < cb.numel(); ++i) cb.data<float>()[i] *= beta;
      c = add_const(g_, c->name() + "_beta", std::move(cb));
    }
    const QuantWeight& w = weight(n, trans_b, trans_b ? 0 : 1, o_.per_channel);
    KILN_ASSIGN_OR_RETURN(QuantAct a, dynamic_act(x));
    ir::Value* w_scale = w.scale;
    if (alpha != 1.0f) {
      Tensor s = Tensor::create(DType::kFloat32, w.scales.size() == 1 && !o_.per_channel
                                                     ? Shape{}
                                                     : Shape{int64_t(w.scales.size())})
                     .value();
      for (size_t i = 0; i < w.scales.size(); ++i) s.data<float>()[i] = w.scales[i] * alpha;
      w_scale = add_const(g_, base + "_scale_alpha", std::move(s));
    }
    ir::Value* mm = new_value(g_, base + "_output_quantized", info_like(DType::kInt32, y));
    ir::Value* mmf =
        new_value(g_, base + "_output_quantized_cast_output", info_like(DType::kFloat32, y));
    ir::Value* scales = new_value(
        g_, base + "_scales_mul",
        info_of(DType::kFloat32, o_.per_channel ? Shape{int64_t(w.scales.size())} : Shape{}));
    ir::Value* out = c ? new_value(g_, base + "_matmul_output", info_like(DType::kFloat32, y)) : y;
    g_.remove_node(n);
    KILN_RETURN_IF_ERROR(
        node("MatMulInteger", {a.q, w.q, a.zp, w.zp}, {mm}, base + "_quant").status());
    KILN_ASSIGN_OR_RETURN(ir::Node * cast, node("Cast", {mm}, {mmf}, base + "_quant_cast"));
    cast->set_attr("to", int_attr(static_cast<int64_t>(DType::kFloat32)));
    KILN_RETURN_IF_ERROR(
        node("Mul", {a.scale, w_scale}, {scales}, base + "_quant_scales_mul").status());
    KILN_RETURN_IF_ERROR(
        node("Mul", {mmf, scales}, {out}, base + "_quant_output_scale_mul").status());
    if (c) KILN_RETURN_IF_ERROR(node("Add", {out, c}, {y}, base + "_quant_bias_add").status());
    r_->quantized[gemm ? "Gemm" : "MatMul"]++;
    return Status::ok();
  }

  // ONNX Runtime's AttentionQuant: input -> DynamicQuantizeLinear (shared), the constant weight
  // [hidden, 3 * hidden] quantized like a MatMul's B (per column with --per-channel; ONNX Runtime
  // passes reduce_range=True, op_level_per_channel=True, so its global reduce_range and
  // per_channel settings apply), then
  //   QAttention(x_q, w_q, bias, x_scale, w_scale, mask_index, x_zp, w_zp, past)
  // with the Attention node's attributes and outputs.
  Status rewrite_attention(ir::Node* n, ir::Value* x) {
    const QuantWeight& w = weight(n, false, 1, o_.per_channel);
    KILN_ASSIGN_OR_RETURN(QuantAct a, dynamic_act(x));
    std::vector<ir::Value*> outs;
    for (size_t i = 0; i < n->outputs().size(); ++i) outs.push_back(n->output(i));
    ir::Value* bias = n->input(2);
    ir::Value* mask = n->inputs().size() > 3 ? n->input(3) : nullptr;
    ir::Value* past = n->inputs().size() > 4 ? n->input(4) : nullptr;
    const auto attrs = n->attributes();
    const std::string base = n->name().empty() ? outs[0]->name() : n->name();
    g_.remove_node(n);
    KILN_ASSIGN_OR_RETURN(
        ir::Node * qa, g_.add_node("QAttention", "com.microsoft",
                                   {a.q, w.q, bias, a.scale, w.scale, mask, a.zp, w.zp, past}, outs,
                                   g_.unique_name(base + "_quant")));
    for (const auto& [k, v] : attrs) qa->set_attr(k, v);
    r_->quantized["Attention"]++;
    return Status::ok();
  }

  // ONNX Runtime's ConvInteger pattern; the weight is per tensor (ONNX Runtime's ConvInteger
  // takes only a scalar w_zero_point), the bias is added as a constant of shape [1, M, 1...].
  Status rewrite_conv(ir::Node* n, ir::Value* x) {
    ir::Value* y = n->output(0);
    ir::Value* b = n->input(2);
    const std::string base = n->name().empty() ? y->name() : n->name();
    const Tensor& wt = *weight_of(n);
    const QuantWeight& w = weight(n, false, 0, false);
    KILN_ASSIGN_OR_RETURN(QuantAct a, dynamic_act(x));
    ir::Value* bias = nullptr;
    if (b) {
      Shape bs(static_cast<size_t>(wt.rank()), 1);
      bs[1] = wt.dim(0);
      bias = add_const(g_, b->name() + "_reshaped", constant_of(b)->reshaped(bs));
    }
    ir::Value* ci = new_value(g_, base + "_output_quantized", info_like(DType::kInt32, y));
    ir::Value* cf =
        new_value(g_, base + "_output_quantized_cast_output", info_like(DType::kFloat32, y));
    ir::Value* scales = new_value(g_, base + "_scales_mul", info_of(DType::kFloat32, {}));
    ir::Value* out =
        bias ? new_value(g_, base + "_scaled_output", info_like(DType::kFloat32, y)) : y;
    const auto attrs = n->attributes();
    g_.remove_node(n);
    KILN_ASSIGN_OR_RETURN(ir::Node * conv,
                          node("ConvInteger", {a.q, w.q, a.zp, w.zp}, {ci}, base + "_quant"));
    for (const auto& [k, v] : attrs) conv->set_attr(k, v);
    KILN_ASSIGN_OR_RETURN(ir::Node * cast, node("Cast", {ci}, {cf}, base + "_quant_cast"));
    cast->set_attr("to", int_attr(static_cast<int64_t>(DType::kFloat32)));
    KILN_RETURN_IF_ERROR(
        node("Mul", {a.scale, w.scale}, {scales}, base + "_quant_scales_mul").status());
    KILN_RETURN_IF_ERROR(
        node("Mul", {cf, scales}, {out}, base + "_quant_output_scale_mul").status());
    if (bias) KILN_RETURN_IF_ERROR(node("Add", {out, bias}, {y}, base + "_bias_add").status());
    r_->quantized["Conv"]++;
    return Status::ok();
  }

  // Gather over a constant float table (embeddings), as ONNX Runtime's GatherQuant: the table
  // to uint8 (asymmetric, per tensor); QOperator gathers the codes and dequantizes the rows
  // gathered, QDQ dequantizes the table in front of the Gather.
  Status rewrite_gather(ir::Node* n, bool qdq) {
    ir::Value* dv = n->input(0);
    auto it = gather_tables_.find(dv);
    if (it == gather_tables_.end()) {
      const Tensor& d = *constant_of(dv);
      const float* dd = d.data<float>();
      float lo = 0, hi = 0;
      for (int64_t i = 0; i < d.numel(); ++i) {
        lo = std::min(lo, dd[i]);
        hi = std::max(hi, dd[i]);
      }
      const QuantParams p = compute_quant_params(lo, hi, 0, 255, false);
      Tensor q = Tensor::create(DType::kUInt8, d.shape()).value();
      for (int64_t i = 0; i < d.numel(); ++i)
        q.data<uint8_t>()[i] = static_cast<uint8_t>(quantize_value(dd[i], p, DType::kUInt8));
      r_->weights_quantized++;
      r_->float_weight_bytes += static_cast<int64_t>(d.nbytes());
      r_->quant_weight_bytes += static_cast<int64_t>(q.nbytes()) + 5;
      QuantWeight w;
      w.q = add_const(g_, dv->name() + "_quantized", std::move(q));
      w.scale = add_const(g_, dv->name() + "_scale", Tensor::scalar<float>(p.scale));
      w.zp = add_const(g_, dv->name() + "_zero_point",
                       Tensor::scalar<uint8_t>(static_cast<uint8_t>(p.zero_point)));
      it = gather_tables_.emplace(dv, w).first;
    }
    const QuantWeight& w = it->second;
    ir::Value* y = n->output(0);
    if (qdq) {
      auto dq_it = dq_weights_.find(dv);
      if (dq_it == dq_weights_.end()) {
        ir::Value* ddq =
            new_value(g_, dv->name() + "_DequantizeLinear_Output", info_like(DType::kFloat32, dv));
        KILN_RETURN_IF_ERROR(
            node("DequantizeLinear", {w.q, w.scale, w.zp}, {ddq}, dv->name() + "_DequantizeLinear")
                .status());
        dq_it = dq_weights_.emplace(dv, ddq).first;
      }
      g_.set_node_input(n, 0, dq_it->second);
    } else {
      const std::string base = n->name().empty() ? y->name() : n->name();
      ir::Value* gq = new_value(g_, y->name() + "_quantized", info_like(DType::kUInt8, y));
      const auto attrs = n->attributes();
      ir::Value* idx = n->input(1);
      g_.remove_node(n);
      KILN_ASSIGN_OR_RETURN(ir::Node * gn, node("Gather", {w.q, idx}, {gq}, base + "_quant"));
      for (const auto& [k, v] : attrs) gn->set_attr(k, v);
      KILN_RETURN_IF_ERROR(
          node("DequantizeLinear", {gq, w.scale, w.zp}, {y}, base + "_DequantizeLinear").status());
    }
    r_->quantized["Gather"]++;
    return Status::ok();
  }

  // w_q -> DequantizeLinear -> the node's B; with ranges also x -> Q -> DQ -> the node's A.
  Status rewrite_qdq(ir::Node* n, ir::Value* x) {
    const bool gemm = n->op_type() == "Gemm";
    const bool trans_b = gemm && n->attr("transB") && n->attr("transB")->i != 0;
    ir::Value* wv = n->input(1);
    auto it = dq_weights_.find(wv);
    if (it == dq_weights_.end()) {
      const int axis = trans_b || n->op_type() == "Conv" ? 0 : 1;
      const QuantWeight& w = weight(n, false, axis, o_.per_channel);
      ir::Value* wdq =
          new_value(g_, wv->name() + "_DequantizeLinear_Output", info_like(DType::kFloat32, wv));
      KILN_ASSIGN_OR_RETURN(ir::Node * dq, node("DequantizeLinear", {w.q, w.scale, w.zp}, {wdq},
                                                wv->name() + "_DequantizeLinear"));
      if (o_.per_channel) dq->set_attr("axis", int_attr(axis));
      it = dq_weights_.emplace(wv, wdq).first;
    }
    g_.set_node_input(n, 1, it->second);
    if (ranges_) {
      auto at = dq_acts_.find(x);
      if (at == dq_acts_.end()) {
        const TensorRange& rg = ranges_->at(x->name());
        const QuantParams p = compute_quant_params(rg.min, rg.max, 0, 255, false);
        ir::Value* s = add_const(g_, x->name() + "_scale", Tensor::scalar<float>(p.scale));
        ir::Value* z = add_const(g_, x->name() + "_zero_point",
                                 Tensor::scalar<uint8_t>(static_cast<uint8_t>(p.zero_point)));
        ir::Value* xq =
            new_value(g_, x->name() + "_QuantizeLinear_Output", info_like(DType::kUInt8, x));
        ir::Value* xdq =
            new_value(g_, x->name() + "_DequantizeLinear_Output", info_like(DType::kFloat32, x));
        KILN_RETURN_IF_ERROR(
            node("QuantizeLinear", {x, s, z}, {xq}, x->name() + "_QuantizeLinear").status());
        KILN_RETURN_IF_ERROR(
            node("DequantizeLinear", {xq, s, z}, {xdq}, x->name() + "_DequantizeLinear").status());
        r_->activations_quantized++;
        at = dq_acts_.emplace(x, xdq).first;
      }
      g_.set_node_input(n, 0, at->second);
    }
    r_->quantized[n->op_type()]++;
    return Status::ok();
  }

  ir::Graph& g_;
  const QuantizeOptions& o_;
  const std::map<std::string, TensorRange>* ranges_;
  QuantizeReport* r_;
  std::map<std::pair<ir::Value*, int>, QuantWeight> weights_;
  std::map<ir::Value*, QuantAct> acts_;
  std::map<ir::Value*, QuantWeight> gather_tables_;
  std::map<ir::Value*, ir::Value*> dq_weights_, dq_acts_;
};

}  // namespace

namespace detail {

// Why com.microsoft Attention `n` cannot become QAttention ("" when it can).
static std::string attention_candidate(const ir::Node* n) {
  // ONNX Runtime's AttentionQuant leaves nodes with qkv_hidden_sizes in float (QAttention has
  // no unequal Q / K / V sizes); QAttention has no attention_bias / past_sequence_length inputs
  // and no other attributes than these.
  static const std::set<std::string> kAttrs = {"num_heads",         "unidirectional",
                                               "do_rotary",         "past_present_share_buffer",
                                               "mask_filter_value", "scale"};
  for (const auto& [k, v] : n->attributes())
    if (!kAttrs.count(k)) return "attribute '" + k + "' has no QAttention equivalent";
  for (size_t i = 5; i < n->inputs().size(); ++i)
    if (n->input(i)) return "input " + std::to_string(i) + " has no QAttention equivalent";
  if (!n->input(2)) return "no bias (QAttention requires one)";
  const Tensor* w = constant_of(n->input(1));
  if (!is_float_matrix(w)) return "the weights are not a constant float32 matrix";
  if (w->dim(1) % 3 != 0) return "the weights' column count is not 3 * hidden";
  return "";
}

std::string candidate(const ir::Node* n, const QuantizeOptions& o, ir::Value** x) {
  if (!o.op_types.count(n->op_type())) return "-";
  if (n->domain() != (n->op_type() == "Attention" ? "com.microsoft" : "")) return "-";
  if (o.nodes_to_exclude.count(n->name())) return "-";
  const bool gemm = n->op_type() == "Gemm";
  *x = n->input(0);
  if (!*x || !n->input(1) || !n->output(0)) return "missing input";
  if (n->op_type() == "Gather") {
    const Tensor* d = constant_of(*x);
    if (!d || d->dtype() != DType::kFloat32 || d->rank() < 1 || d->numel() == 0)
      return "-";  // not an embedding table: not worth a message
    if ((*x)->is_graph_input()) return "the table is a graph input";
    *x = nullptr;  // no activation to quantize
    if (!all_finite(*d)) return "the table has non-finite values";
    return "";
  }
  if (n->input(1)->is_graph_input()) return "the weight is a graph input";
  if (const Tensor* wt = weight_of(n); wt && wt->dtype() == DType::kFloat32 && !all_finite(*wt))
    return "the weight has non-finite values";
  // dtype_of: the producer's type where shape inference gave none (after com.microsoft ops).
  if (dtype_of(*x) != DType::kFloat32) return "A is not float32";
  if (constant_of(*x)) return "A is a constant";
  if (n->op_type() == "Attention") return attention_candidate(n);
  if (n->op_type() == "Conv") {
    const Tensor* w = weight_of(n);
    if (!w || w->dtype() != DType::kFloat32 || w->rank() < 3 || w->dim(0) <= 0 || w->numel() == 0)
      return "W is not a constant float32 tensor of rank >= 3";
    ir::Value* b = n->input(2);
    if (b) {
      const Tensor* bt = constant_of(b);
      if (!bt || bt->dtype() != DType::kFloat32 || bt->numel() != w->dim(0))
        return "B (bias) is not a constant float32 vector of M values";
    }
    return "";
  }
  if (!is_float_matrix(weight_of(n))) return "B is not a constant float32 matrix";
  if (gemm) {
    if (n->attr("transA") && n->attr("transA")->i != 0) return "transA is set";
    const float beta = n->attr("beta") ? n->attr("beta")->f : 1.0f;
    ir::Value* c = n->input(2);
    if (c && beta != 1.0f) {
      const Tensor* ct = constant_of(c);
      if (!ct || ct->dtype() != DType::kFloat32) return "C is not constant and beta is not 1";
    }
  }
  return "";
}

Status quantize_graph(ir::Graph& g, const QuantizeOptions& o,
                      const std::map<std::string, TensorRange>* ranges, QuantizeReport* report) {
  QuantizeReport local;
  Rewriter rw(g, o, ranges, report ? report : &local);
  return rw.run();
}

}  // namespace detail

Status quantize_dynamic(ir::Graph& g, const QuantizeOptions& options, QuantizeReport* report) {
  return detail::quantize_graph(g, options, nullptr, report);
}

}  // namespace kiln::passes
