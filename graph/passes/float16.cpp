// Float16 conversion (see float16.h), after onnxconverter-common's float16 converter: nodes run
// in float16 unless their op (or name) is on the keep list; float32 initializers read only by
// converted nodes become float16 in place (a float16 copy when float32 readers remain), values
// cross between the two worlds through one shared Cast per value and direction, and graph inputs
// and outputs keep their names and float32 types. Values outside float16's range are clamped
// (finite |x| > 65504 to +-65504, 0 < |x| < 2^-24 to +-2^-24) and counted.
#include "graph/passes/float16.h"

#include <cmath>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

constexpr int64_t kOnnxFloat = 1;
constexpr int64_t kOnnxFloat16 = 10;

// Ops that stay float32 unless the caller gives its own list: random generators and window
// functions (their dtype attribute and sampling), index/sequence generators whose float16 form
// loses integers (Range, CumSum, TopK), the quantization family (scales stay float32),
// traditional-ML ops, and ops with subgraphs.
const std::set<std::string>& default_keep() {
  static const std::set<std::string> s = {"RandomNormal",
                                          "RandomUniform",
                                          "RandomNormalLike",
                                          "RandomUniformLike",
                                          "Multinomial",
                                          "Bernoulli",
                                          "Range",
                                          "CumSum",
                                          "TopK",
                                          "NonMaxSuppression",
                                          "RoiAlign",
                                          "QuantizeLinear",
                                          "DequantizeLinear",
                                          "DynamicQuantizeLinear",
                                          "MatMulInteger",
                                          "ConvInteger",
                                          "QLinearConv",
                                          "QLinearMatMul",
                                          "DynamicQuantizeMatMul",
                                          "MatMulIntegerToFloat",
                                          "QAttention",
                                          "QGemm",
                                          "QLinearAdd",
                                          "QLinearMul",
                                          "HannWindow",
                                          "HammingWindow",
                                          "BlackmanWindow",
                                          "MelWeightMatrix",
                                          "STFT",
                                          "DFT",
                                          "TfIdfVectorizer",
                                          "If",
                                          "Loop",
                                          "Scan",
                                          "SequenceMap",
                                          "ArrayFeatureExtractor",
                                          "Binarizer",
                                          "CastMap",
                                          "CategoryMapper",
                                          "DictVectorizer",
                                          "FeatureVectorizer",
                                          "Imputer",
                                          "LabelEncoder",
                                          "LinearClassifier",
                                          "LinearRegressor",
                                          "Normalizer",
                                          "OneHotEncoder",
                                          "SVMClassifier",
                                          "SVMRegressor",
                                          "Scaler",
                                          "TreeEnsembleClassifier",
                                          "TreeEnsembleRegressor",
                                          "ZipMap"};
  return s;
}

// Inputs that stay float32 on a converted node (Resize's roi and scales, Upsample's scales).
const std::set<size_t>* float32_inputs(const ir::Node* n) {
  static const std::set<size_t> resize = {1, 2}, upsample = {1};
  if (n->domain().empty() && n->op_type() == "Resize") return &resize;
  if (n->domain().empty() && n->op_type() == "Upsample") return &upsample;
  return nullptr;
}

bool has_subgraph(const ir::Node* n) {
  for (const auto& [k, a] : n->attributes())
    if (a.type == ir::AttrType::kGraph) return true;
  return false;
}

bool is_f32(const ir::Value* v) {
  return v && v->info().dtype == DType::kFloat32;
}
bool is_f16(const ir::Value* v) {
  return v && v->info().dtype == DType::kFloat16;
}

// float32 tensor -> float16 tensor, clamping out-of-range values; adds the clamp count.
Tensor to_half(const Tensor& t, int64_t* clamped) {
  Tensor h = Tensor::create(DType::kFloat16, t.shape()).value();
  const float* s = t.data<float>();
  Half* d = h.data<Half>();
  constexpr float kMax = 65504.0f, kMin = 5.9604644775390625e-08f;  // 2^-24
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = s[i];
    const float a = std::fabs(v);
    if (std::isfinite(v) && a > kMax) {
      v = std::copysign(kMax, v);
      ++*clamped;
    } else if (a > 0 && a < kMin) {
      v = std::copysign(kMin, v);
      ++*clamped;
    }
    d[i] = Half(v);
  }
  return h;
}

class Converter {
 public:
  Converter(ir::Graph& g, const Float16Options& o) : g_(g) {
    if (o.keep_float32_ops.empty()) {
      keep_ops_ = default_keep();
    } else {
      keep_ops_.insert(o.keep_float32_ops.begin(), o.keep_float32_ops.end());
    }
    keep_nodes_.insert(o.keep_float32_nodes.begin(), o.keep_float32_nodes.end());
  }

  Status run(PassStats* stats) {
    std::vector<ir::Node*> nodes = g_.nodes();
    for (ir::Node* n : nodes) {
      if (keeps(n)) kept_.insert(n->id());
    }
    KILN_RETURN_IF_ERROR(convert_initializers());
    for (ir::Node* n : nodes) {
      if (kept_.count(n->id())) {
        KILN_RETURN_IF_ERROR(fix_kept(n));
      } else {
        KILN_RETURN_IF_ERROR(fix_converted(n));
      }
    }
    // Casts to float16 of values that already are float16 (a converted Cast to float) go away.
    for (ir::Node* n : g_.nodes()) {
      if (!is_op(n, "Cast") || !is_f16(n->input(0)) || !is_f16(n->output(0))) continue;
      KILN_ASSIGN_OR_RETURN(bool gone, bypass_node(g_, n, n->input(0), n->output(0)));
      if (gone) ++casts_removed_;
    }
    release_unused_initializers(g_);
    KILN_RETURN_IF_ERROR(g_.topo_sort());
    KILN_RETURN_IF_ERROR(g_.verify());
    if (clamped_ > 0)
      spdlog::warn("float16: {} initializer values outside the float16 range were clamped",
                   clamped_);
    if (stats) {
      stats->add("Float16Node", converted_nodes_);
      if (kept_float_nodes_) stats->add("Float16KeptFloat32", kept_float_nodes_);
      stats->add("Float16Initializer", converted_inits_);
      stats->add("Float16Cast", casts_added_);
      if (casts_removed_) stats->add("Float16CastRemoved", casts_removed_);
      if (clamped_) stats->add("Float16Clamped", clamped_);
    }
    return Status::ok();
  }

 private:
  bool keeps(const ir::Node* n) const {
    if (keep_nodes_.count(n->name())) return true;
    if (keep_ops_.count(n->op_type())) return true;
    if (has_subgraph(n)) return true;
    const std::string d = n->domain();
    if (!d.empty() && d != "com.microsoft") return true;  // unknown domains: leave as they are
    if (is_op(n, "Constant")) {
      // value_float(s) cannot be rewritten in place (no attribute removal): keep those.
      const ir::Attribute* v = n->attr("value");
      return !v || v->type != ir::AttrType::kTensor;
    }
    return false;
  }

  bool keeps_input(const ir::Node* n, size_t i) const {
    const std::set<size_t>* f = float32_inputs(n);
    return f && f->count(i);
  }

  // Initializers read by converted nodes become float16: in place when nothing else reads them
  // as float32, else a float16 copy for the converted readers.
  Status convert_initializers() {
    for (ir::Value* v : g_.initializers()) {
      if (!is_f32(v) || v->is_graph_input()) continue;
      std::vector<std::pair<ir::Node*, size_t>> half_uses;
      bool float_use = v->is_graph_output();
      for (ir::Node* u : v->users()) {
        for (size_t i = 0; i < u->inputs().size(); ++i) {
          if (u->inputs()[i] != v) continue;
          if (kept_.count(u->id()) || keeps_input(u, i))
            float_use = true;
          else
            half_uses.emplace_back(u, i);
        }
      }
      if (half_uses.empty()) continue;
      Tensor h = to_half(v->initializer(), &clamped_);
      ++converted_inits_;
      if (!float_use) {
        g_.set_initializer(v, h);
        v->mutable_info().dtype = DType::kFloat16;
        made_half_.insert(v);
        continue;
      }
      KILN_ASSIGN_OR_RETURN(ir::Value * hv,
                            g_.add_initializer(g_.unique_name(v->name() + "_fp16"), h));
      half_of_[v] = hv;
      float_of_[hv] = v;
      made_half_.insert(hv);
      for (auto [u, i] : half_uses) g_.set_node_input(u, i, hv);
    }
    return Status::ok();
  }

  // The float16 (to16) or float32 form of `v`, through a shared Cast.
  Expected<ir::Value*> cast_of(ir::Value* v, bool to16) {
    auto& cache = to16 ? half_of_ : float_of_;
    auto it = cache.find(v);
    if (it != cache.end()) return it->second;
    ir::ValueInfo info = v->info();
    info.dtype = to16 ? DType::kFloat16 : DType::kFloat32;
    ir::Value* c = new_value(g_, v->name() + (to16 ? "_fp16" : "_fp32"), info);
    KILN_ASSIGN_OR_RETURN(ir::Node * n,
                          g_.add_node("Cast", "", {v}, {c}, g_.unique_name(c->name() + "_cast")));
    ir::Attribute to;
    to.type = ir::AttrType::kInt;
    to.i = to16 ? kOnnxFloat16 : kOnnxFloat;
    n->set_attr("to", to);
    ++casts_added_;
    if (to16) made_half_.insert(c);
    cache[v] = c;
    (to16 ? float_of_ : half_of_)[c] = v;
    return c;
  }

  Status fix_kept(ir::Node* n) {
    bool any_float = false;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      ir::Value* v = n->inputs()[i];
      if (is_f32(v)) any_float = true;
      if (!made_half_.count(v)) continue;
      KILN_ASSIGN_OR_RETURN(ir::Value * c, cast_of(v, false));
      g_.set_node_input(n, i, c);
      any_float = true;
    }
    for (ir::Value* o : n->outputs()) any_float = any_float || is_f32(o);
    if (any_float) ++kept_float_nodes_;
    return Status::ok();
  }

  Status rewrite_attributes(ir::Node* n) {
    if (!n->domain().empty()) return Status::ok();
    const std::string& op = n->op_type();
    if (op == "Cast" || op == "EyeLike") {
      const char* name = op == "Cast" ? "to" : "dtype";
      const ir::Attribute* a = n->attr(name);
      if (a && a->type == ir::AttrType::kInt && a->i == kOnnxFloat) {
        ir::Attribute b = *a;
        b.i = kOnnxFloat16;
        n->set_attr(name, b);
      }
    } else if (op == "Constant" || op == "ConstantOfShape") {
      const ir::Attribute* a = n->attr("value");
      if (a && a->type == ir::AttrType::kTensor && a->t.dtype() == DType::kFloat32) {
        ir::Attribute b = *a;
        b.t = to_half(a->t, &clamped_);
        n->set_attr("value", b);
      } else if (!a && op == "ConstantOfShape") {
        ir::Attribute b;
        b.type = ir::AttrType::kTensor;
        b.t = Tensor::from_vector<Half>({1}, {Half(0.0f)});
        n->set_attr("value", b);
      }
    }
    return Status::ok();
  }

  Status fix_converted(ir::Node* n) {
    ++converted_nodes_;
    KILN_RETURN_IF_ERROR(rewrite_attributes(n));
    // Outputs: float32 becomes float16; a graph output keeps its name and type behind a Cast.
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      ir::Value* o = n->outputs()[i];
      if (!is_f32(o)) continue;
      if (!o->is_graph_output()) {
        o->mutable_info().dtype = DType::kFloat16;
        made_half_.insert(o);
        continue;
      }
      ir::ValueInfo info = o->info();
      info.dtype = DType::kFloat16;
      ir::Value* h = new_value(g_, o->name() + "_fp16", info);
      // Converted readers of `o` read `h`; kept readers keep reading `o` (the Cast's output).
      std::vector<std::pair<ir::Node*, size_t>> moves;
      for (ir::Node* u : o->users())
        for (size_t k = 0; k < u->inputs().size(); ++k)
          if (u->inputs()[k] == o && !kept_.count(u->id()) && !keeps_input(u, k))
            moves.emplace_back(u, k);
      KILN_ASSIGN_OR_RETURN(n, replace_node_output(g_, n, i, h));
      for (auto [u, k] : moves) g_.set_node_input(u, k, h);
      KILN_ASSIGN_OR_RETURN(ir::Node * c,
                            g_.add_node("Cast", "", {h}, {o}, g_.unique_name(o->name() + "_cast")));
      ir::Attribute to;
      to.type = ir::AttrType::kInt;
      to.i = kOnnxFloat;
      c->set_attr("to", to);
      kept_.insert(c->id());  // never visited: it is not in the node snapshot
      ++casts_added_;
      half_of_[o] = h;
      float_of_[h] = o;
      made_half_.insert(h);
    }
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      ir::Value* v = n->inputs()[i];
      const bool want32 = keeps_input(n, i);
      if (want32 ? !made_half_.count(v) : !is_f32(v)) continue;
      KILN_ASSIGN_OR_RETURN(ir::Value * c, cast_of(v, !want32));
      g_.set_node_input(n, i, c);
    }
    return Status::ok();
  }

  ir::Graph& g_;
  std::set<std::string> keep_ops_, keep_nodes_;
  std::set<int> kept_;  // node ids that keep float32
  std::map<ir::Value*, ir::Value*> half_of_, float_of_;
  std::set<const ir::Value*> made_half_;  // values this pass turned into float16
  int64_t clamped_ = 0, converted_inits_ = 0, casts_added_ = 0, casts_removed_ = 0;
  int64_t converted_nodes_ = 0, kept_float_nodes_ = 0;
};

}  // namespace

Status convert_to_float16(ir::Graph& g, const Float16Options& options, PassStats* stats) {
  Converter c(g, options);
  return c.run(stats);
}

}  // namespace kiln::passes
