// LayerNormalization and SimplifiedLayerNormalization (RMSNorm) from their primitive spellings.
//
//   LN:   m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2) | Mul(d, d));
//         n = d / Sqrt(v + eps)  (or d * Reciprocal(Sqrt(..)), or d * (1 / Sqrt(..)));
//         y = n * gamma + beta
//   RMS:  v = ReduceMean(Pow(x, 2)); n = x / Sqrt(v + eps) (same spellings); y = n * gamma
//
// Reductions over the last axis only (attribute axes before opset 18, input from 18), keepdims;
// an optional Cast around the square (mixed-precision exports) and after the Sqrt; one Sub
// feeding both the square and the division, or two identical Subs. gamma and beta constant and
// 1-D. Emits ONNX LayerNormalization (axis -1, stash_type 1) in the default domain at every opset
// (below 17 this is ONNX Runtime's contrib schema, as its optimizer writes it) and
// SimplifiedLayerNormalization in the default domain, as ONNX Runtime registers it.
#include <cmath>

#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

bool last_axis_reduce(const ir::Node* rm) {
  if (!is_op(rm, "ReduceMean") || !keeps_dims(rm)) return false;
  auto axes = reduce_axes(rm);
  return axes && is_last_axis(*axes, rank_of(rm->input(0)));
}

// The square of `d` feeding `rm2`: Pow(d', 2) or Mul(d', d') with d' = d or Cast(d).
// Returns the nodes of the square (and the Cast) when matched.
bool square_of(const ir::Value* sq_out, const ir::Value* d, std::vector<const ir::Value*>* mids) {
  ir::Node* sq = sq_out ? sq_out->producer() : nullptr;
  if (!sq || sq->inputs().size() != 2) return false;
  const ir::Value* base = nullptr;
  if (is_op(sq, "Pow")) {
    auto e = scalar_of(sq->input(1));
    if (!e || *e != 2.0) return false;
    base = sq->input(0);
  } else if (is_op(sq, "Mul")) {
    if (sq->input(0) != sq->input(1)) return false;
    base = sq->input(0);
  } else {
    return false;
  }
  if (!base) return false;
  mids->push_back(sq_out);
  if (base == d) return true;
  ir::Node* c = base->producer();
  if (is_op(c, "Cast") && c->input(0) == d && used_once(base)) {
    mids->push_back(base);
    return true;
  }
  return false;
}

struct Tail {
  float eps = 0;
  ir::Node* norm = nullptr;  // the node whose output is the normalized x
  std::vector<const ir::Value*> mids;
};

// From the variance reduction `rm2` down to the normalization of `d`: Add(eps) -> Sqrt ->
// [Cast] -> Div(d, s) | Reciprocal -> Mul(d, r) | Div(1, s) -> Mul(d, r).
std::optional<Tail> match_tail(ir::Node* rm2, const ir::Value* d) {
  Tail t;
  ir::Node* add = single_user(rm2->output(0));
  if (!is_op(add, "Add")) return std::nullopt;
  int ei = (add->input(0) == rm2->output(0)) ? 1 : 0;
  auto eps = scalar_of(add->input(ei));
  if (!eps || *eps < 0 || *eps > 1e-1) return std::nullopt;
  t.eps = static_cast<float>(*eps);
  ir::Node* sq = single_user(add->output(0));
  if (!is_op(sq, "Sqrt")) return std::nullopt;
  t.mids = {rm2->output(0), add->output(0), sq->output(0)};
  ir::Value* s = sq->output(0);
  ir::Node* next = single_user(s);
  if (is_op(next, "Cast")) {
    s = next->output(0);
    t.mids.push_back(s);
    next = single_user(s);
  }
  if (is_op(next, "Div") && next->input(1) == s && next->input(0) == d) {
    t.norm = next;
    return t;
  }
  ir::Value* r = nullptr;
  if (is_op(next, "Reciprocal")) {
    r = next->output(0);
  } else if (is_op(next, "Div") && next->input(1) == s) {
    auto one = scalar_of(next->input(0));
    if (!one || *one != 1.0) return std::nullopt;
    r = next->output(0);
  } else {
    return std::nullopt;
  }
  t.mids.push_back(r);
  ir::Node* mul = single_user(r);
  if (!is_op(mul, "Mul") || other_input(mul, r) != d) return std::nullopt;
  t.norm = mul;
  return t;
}

// Mul(n, gamma) and Add(., beta) after the normalization, when present and constant 1-D.
struct Affine {
  ir::Value* gamma = nullptr;
  ir::Value* beta = nullptr;
  ir::Node* root = nullptr;
};

Affine match_affine(ir::Node* norm, int64_t hidden, bool with_beta) {
  Affine a;
  a.root = norm;
  ir::Node* mul = single_user(norm->output(0));
  if (is_op(mul, "Mul")) {
    ir::Value* gm = other_input(mul, norm->output(0));
    int64_t n = const_1d_size(gm);
    if (n > 0 && (hidden < 0 || n == hidden)) {
      a.gamma = gm;
      a.root = mul;
    }
  }
  if (!with_beta || !a.gamma) return a;
  ir::Node* add = single_user(a.root->output(0));
  if (is_op(add, "Add")) {
    ir::Value* b = other_input(add, a.root->output(0));
    if (const_1d_size(b) == const_1d_size(a.gamma)) {
      a.beta = b;
      a.root = add;
    }
  }
  return a;
}

ir::Value* ones_like_hidden(ir::Graph& g, DType dt, int64_t hidden, bool zero) {
  if (dt != DType::kFloat32 || hidden <= 0) return nullptr;
  return add_constant(
      g, zero ? "ln_zero_bias" : "ln_unit_scale",
      Tensor::from_vector<float>({hidden}, std::vector<float>(hidden, zero ? 0.f : 1.f)));
}

bool dtypes_match(const ir::Value* x, const ir::Value* gamma, const ir::Value* beta) {
  DType dt = dtype_of(x);
  if (!is_float_type(dt)) return false;
  if (gamma && dtype_of(gamma) != dt) return false;
  if (beta && dtype_of(beta) != dt) return false;
  return true;
}

class LayerNormPattern : public RewritePattern {
 public:
  std::string name() const override { return "layer_norm_fusion"; }
  std::vector<std::string> target_ops() const override { return {"ReduceMean"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* rm, PassContext& ctx) override {
    if (!last_axis_reduce(rm)) return false;
    ir::Value* x = rm->input(0);
    ir::Value* mean = rm->output(0);
    if (!x || !mean || mean->is_graph_output() || mean->users().empty() || mean->users().size() > 2)
      return false;
    std::vector<ir::Node*> subs;
    for (ir::Node* u : mean->users()) {
      if (!is_op(u, "Sub") || u->input(0) != x || u->input(1) != mean) return false;
      if (u->output(0)->is_graph_output()) return false;
      subs.push_back(u);
    }
    // One Sub output is squared, one (maybe the same) is divided.
    for (ir::Node* sq_sub : subs) {
      ir::Value* d_sq = sq_sub->output(0);
      for (ir::Node* u : d_sq->users()) {
        ir::Node* sq = u;
        if (is_op(u, "Cast")) sq = single_user(u->output(0));
        if (!sq) continue;
        std::vector<const ir::Value*> mids;
        if (!square_of(sq->output(0), d_sq, &mids)) continue;
        ir::Node* rm2 = single_user(sq->output(0));
        if (!last_axis_reduce(rm2)) continue;
        for (ir::Node* div_sub : subs) {
          ir::Value* d = div_sub->output(0);
          auto tail = match_tail(rm2, d);
          if (!tail) continue;
          // Every use of the Sub outputs is inside the match.
          bool inside = true;
          for (ir::Node* s : subs)
            for (ir::Node* w : s->output(0)->users())
              if (w != u && w != tail->norm) inside = false;
          if (!inside) continue;
          if (!all_used_once(mids)) continue;
          const int64_t hidden = last_dim(x);
          Affine af = match_affine(tail->norm, hidden, true);
          if (!dtypes_match(x, af.gamma, af.beta)) continue;
          ir::Value* gamma = af.gamma ? af.gamma : ones_like_hidden(g, dtype_of(x), hidden, false);
          if (!gamma) continue;
          std::vector<ir::Value*> ins{x, gamma};
          if (af.beta) ins.push_back(af.beta);
          KILN_ASSIGN_OR_RETURN(ir::Node * ln,
                                replace_with(g, af.root, "LayerNormalization", "", ins,
                                             {{"axis", make_int_attr(-1)},
                                              {"epsilon", make_float_attr(tail->eps)},
                                              {"stash_type", make_int_attr(1)}}));
          (void)ln;
          ctx.stats.add("LayerNormalization");
          return true;
        }
      }
    }
    return false;
  }
};

class SimplifiedLayerNormPattern : public RewritePattern {
 public:
  std::string name() const override { return "simplified_layer_norm_fusion"; }
  std::vector<std::string> target_ops() const override { return {"ReduceMean"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* rm2, PassContext& ctx) override {
    if (!last_axis_reduce(rm2)) return false;
    ir::Value* sq_out = rm2->input(0);
    ir::Node* sq = sq_out ? sq_out->producer() : nullptr;
    if (!sq || !sq->input(0)) return false;
    ir::Value* base = sq->input(0);
    ir::Value* x = base;
    if (is_op(base->producer(), "Cast")) x = base->producer()->input(0);
    if (!x) return false;
    // A centred input belongs to LayerNormalization.
    ir::Node* sub = x->producer();
    if (is_op(sub, "Sub") &&
        is_op(sub->input(1) ? sub->input(1)->producer() : nullptr, "ReduceMean"))
      return false;
    for (ir::Value* d : {base, x}) {
      std::vector<const ir::Value*> mids;
      if (!square_of(sq_out, d, &mids)) continue;
      if (!used_once(sq_out)) continue;
      auto tail = match_tail(rm2, d);
      if (!tail || !all_used_once(tail->mids)) continue;
      Affine af = match_affine(tail->norm, last_dim(d), false);
      if (!af.gamma || !dtypes_match(d, af.gamma, nullptr)) continue;
      KILN_ASSIGN_OR_RETURN(
          ir::Node * ln, replace_with(g, af.root, "SimplifiedLayerNormalization", "", {d, af.gamma},
                                      {{"axis", make_int_attr(-1)},
                                       {"epsilon", make_float_attr(tail->eps)},
                                       {"stash_type", make_int_attr(1)}}));
      (void)ln;
      ctx.stats.add("SimplifiedLayerNormalization");
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_layer_norm_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<LayerNormPattern>());
  p.push_back(std::make_unique<SimplifiedLayerNormPattern>());
  return std::make_unique<PatternPass>("layer_norm_fusion", std::move(p));
}

}  // namespace kiln::passes
