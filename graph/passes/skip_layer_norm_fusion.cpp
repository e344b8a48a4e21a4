// Residual Add + normalization (level 2, after layer_norm_fusion):
//   LayerNormalization(Add(a, b))            -> com.microsoft SkipLayerNormalization(a, b, gamma,
//   beta) SimplifiedLayerNormalization(Add(a, b))  -> com.microsoft
//   SkipSimplifiedLayerNormalization
// a and b must have the same shape as far as it is known (equal hidden size, no broadcast of a
// size-1 dim), and neither may come straight from an embedding Gather (that is
// EmbedLayerNormalization's, and ONNX Runtime leaves it too). A bias Add(m, bias) feeding a or b
// (bias 1-D constant, read only there) becomes the bias input. When the sum is read elsewhere
// (pre-LN residual streams) it becomes output 3, input_skip_bias_sum.
#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

// a and b may be added without broadcasting, as far as their shapes are known (shape inference
// may have failed: then only the hidden size from gamma is checked where known). Dim params are
// not compared: shape inference names unknown dims unk__N, different names for equal sizes.
bool dims_compatible(const ir::Value* a, const ir::Value* b, int64_t hidden) {
  for (const ir::Value* v : {a, b})
    if (last_dim(v) >= 0 && last_dim(v) != hidden) return false;
  const int ra = rank_of(a), rb = rank_of(b);
  if (ra >= 0 && rb >= 0 && ra != rb) return false;
  for (const ir::Value* v : {a, b})
    if (rank_of(v) >= 0 && (rank_of(v) < 2 || rank_of(v) > 3)) return false;
  if (ra < 0 || rb < 0) return true;
  for (int i = 0; i < ra; ++i) {
    const ir::Dim& x = a->info().dims[i];
    const ir::Dim& y = b->info().dims[i];
    if (x.known() && y.known() && x.value != y.value) return false;
    if ((x.known() && x.value == 1) != (y.known() && y.value == 1)) return false;
  }
  return true;
}

// A lookup in a constant table by computed indices (position embeddings): ONNX Runtime leaves
// such Adds to EmbedLayerNormalization, and so do we. Lookups by a graph input (T5's word
// embedding added to the first residual) are fine.
bool from_position_embedding(const ir::Value* v) {
  ir::Node* p = v ? v->producer() : nullptr;
  return is_op(p, "Gather") && constant_of(p->input(0)) != nullptr && p->input(1) &&
         !p->input(1)->is_graph_input();
}

class SkipLayerNormPattern : public RewritePattern {
 public:
  std::string name() const override { return "skip_layer_norm_fusion"; }
  std::vector<std::string> target_ops() const override {
    return {"LayerNormalization", "SimplifiedLayerNormalization"};
  }
  Expected<bool> apply(ir::Graph& g, ir::Node* ln, PassContext& ctx) override {
    const bool simplified = ln->op_type() == "SimplifiedLayerNormalization";
    const size_t n_params = simplified ? 1 : 2;
    if (ln->inputs().size() < 2 || ln->inputs().size() > 1 + n_params) return false;
    for (size_t i = 1; i < ln->outputs().size(); ++i)
      if (ln->output(i) && (!ln->output(i)->users().empty() || ln->output(i)->is_graph_output()))
        return false;
    auto axis = int_attr_of(ln, "axis");
    ir::Value* sum = ln->input(0);
    if (axis && *axis != -1 && *axis != rank_of(sum) - 1) return false;
    ir::Node* add = sum ? sum->producer() : nullptr;
    if (!is_op(add, "Add") || add->inputs().size() != 2) return false;
    ir::Value* a = add->input(0);
    ir::Value* b = add->input(1);
    if (!a || !b || constant_of(a) || constant_of(b)) return false;
    if (from_position_embedding(a) || from_position_embedding(b)) return false;
    ir::Value* gamma = ln->input(1);
    ir::Value* beta = simplified ? nullptr : ln->input(2);
    const int64_t hidden = const_1d_size(gamma);
    if (hidden <= 0 || (beta && const_1d_size(beta) != hidden)) return false;
    if (!dims_compatible(a, b, hidden)) return false;
    // A bias Add feeding one side.
    ir::Value* bias = nullptr;
    for (int side = 0; side < 2 && !bias; ++side) {
      ir::Value* s = side == 0 ? a : b;
      ir::Node* ba = s->producer();
      if (!is_op(ba, "Add") || !used_once(s)) continue;
      for (int bi = 1; bi >= 0; --bi) {
        ir::Value* cand = ba->input(bi);
        ir::Value* m = ba->input(1 - bi);
        if (const_1d_size(cand) == hidden && m && !constant_of(m) &&
            (last_dim(m) == hidden || (last_dim(m) < 0 && produced_width(m) == hidden)) &&
            dtype_of(cand) == dtype_of(m)) {
          bias = cand;
          if (side == 0) {
            a = m;
          } else {
            b = m;
          }
          break;
        }
      }
    }
    const bool sum_used = sum->users().size() > 1 || sum->is_graph_output();
    float eps = float_attr_of(ln, "epsilon").value_or(1e-5f);
    std::vector<ir::Value*> ins{a, b, gamma};
    if (!simplified) ins.push_back(beta);
    if (bias) ins.push_back(bias);
    while (!ins.empty() && ins.back() == nullptr) ins.pop_back();
    std::vector<ir::Value*> extra;
    if (sum_used) {
      g.remove_node(add);
      extra = {nullptr, nullptr, sum};
    }
    const std::string op =
        simplified ? "SkipSimplifiedLayerNormalization" : "SkipLayerNormalization";
    KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, ln, op, kMsDomain, ins,
                                                     {{"epsilon", make_float_attr(eps)}}, extra));
    (void)f;
    const std::string plain = ln_name(simplified);
    take_back(ctx.stats, plain);
    ctx.stats.add(op);
    return true;
  }

 private:
  static std::string ln_name(bool simplified) {
    return simplified ? "SimplifiedLayerNormalization" : "LayerNormalization";
  }
};

}  // namespace

std::unique_ptr<Pass> make_skip_layer_norm_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<SkipLayerNormPattern>());
  return std::make_unique<PatternPass>("skip_layer_norm_fusion", std::move(p));
}

}  // namespace kiln::passes
