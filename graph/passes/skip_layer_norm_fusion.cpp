// Residual Add + normalization (level 2, after layer_norm_fusion):
//   LayerNormalization(Add(a, b))            -> com.microsoft SkipLayerNormalization(a, b, gamma,
//   beta) SimplifiedLayerNormalization(Add(a, b))  -> com.microsoft
//   SkipSimplifiedLayerNormalization
// a and b must have the same shape as far as it is known (rank 3, equal hidden size, no
// broadcast of a size-1 dim), and neither may come straight from an embedding Gather (that is
// EmbedLayerNormalization's, and ONNX Runtime leaves it too). A bias Add(m, bias) feeding a or b
// (bias 1-D constant, read only there) becomes the bias input. When the sum is read elsewhere
// (pre-LN residual streams) it becomes output 3, input_skip_bias_sum.
#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

bool dims_compatible(const ir::Value* a, const ir::Value* b) {
  if (rank_of(a) != 3 || rank_of(b) != 3) return false;
  for (int i = 0; i < 3; ++i) {
    const ir::Dim& x = a->info().dims[i];
    const ir::Dim& y = b->info().dims[i];
    if (x.known() && y.known()) {
      if (x.value != y.value) return false;
    } else if (x.known() || y.known()) {
      if ((x.known() && x.value == 1) || (y.known() && y.value == 1)) return false;
      if (i == 2) return false;
    } else if (!x.param.empty() && !y.param.empty() && x.param != y.param) {
      return false;
    }
  }
  return last_dim(a) > 0;
}

bool from_embedding(const ir::Value* v) {
  ir::Node* p = v ? v->producer() : nullptr;
  return is_op(p, "Gather") && constant_of(p->input(0)) != nullptr;
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
    if (from_embedding(a) || from_embedding(b)) return false;
    if (!dims_compatible(a, b)) return false;
    const int64_t hidden = last_dim(a);
    ir::Value* gamma = ln->input(1);
    ir::Value* beta = simplified ? nullptr : ln->input(2);
    if (const_1d_size(gamma) != hidden) return false;
    if (beta && const_1d_size(beta) != hidden) return false;
    // A bias Add feeding one side.
    ir::Value* bias = nullptr;
    for (int side = 0; side < 2 && !bias; ++side) {
      ir::Value* s = side == 0 ? a : b;
      ir::Node* ba = s->producer();
      if (!is_op(ba, "Add") || !used_once(s)) continue;
      for (int bi = 1; bi >= 0; --bi) {
        ir::Value* cand = ba->input(bi);
        ir::Value* m = ba->input(1 - bi);
        if (const_1d_size(cand) == hidden && m && !constant_of(m) && rank_of(m) == 3 &&
            last_dim(m) == hidden && cand->info().dtype == m->info().dtype) {
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
    if (ctx.stats.get(plain) > 0) ctx.stats.add(plain, -1);
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
