// Folds the bias Add before a fused GELU into it (level 2, after gelu_fusion):
//   Gelu(Add(x, bias))     -> com.microsoft BiasGelu(x, bias)
//   FastGelu(Add(x, bias)) -> com.microsoft FastGelu(x, bias)
// where bias is a 1-D constant as long as x's last dim (known, or the width of the constant
// weight of the MatMul / Gemm producing x when shape inference gave no shape), the Add is read only
// by the GELU and x is not itself a constant.
#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

class BiasGeluPattern : public RewritePattern {
 public:
  std::string name() const override { return "bias_gelu_fusion"; }
  std::vector<std::string> target_ops() const override {
    return {"com.microsoft:Gelu", "com.microsoft:FastGelu"};
  }
  Expected<bool> apply(ir::Graph& g, ir::Node* gelu, PassContext& ctx) override {
    const bool fast = gelu->op_type() == "FastGelu";
    if (gelu->inputs().size() != 1 || !gelu->input(0)) return false;  // FastGelu has a bias
    ir::Value* in = gelu->input(0);
    ir::Node* add = in->producer();
    if (!is_op(add, "Add") || !used_once(in)) return false;
    for (int bi = 1; bi >= 0; --bi) {
      ir::Value* bias = add->input(bi);
      ir::Value* x = add->input(1 - bi);
      if (!x || constant_of(x)) continue;
      int64_t n = const_1d_size(bias);
      if (n <= 0 || rank_of(in) != rank_of(x)) continue;
      if (last_dim(x) != n && !(last_dim(x) < 0 && produced_width(x) == n)) continue;
      if (dtype_of(bias) != dtype_of(x)) continue;
      const std::string op = fast ? "FastGelu" : "BiasGelu";
      KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, gelu, op, kMsDomain, {x, bias}, {}));
      (void)f;
      if (!fast) {
        take_back(ctx.stats, "Gelu");
        ctx.stats.add("BiasGelu");
      }
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_bias_gelu_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<BiasGeluPattern>());
  return std::make_unique<PatternPass>("bias_gelu_fusion", std::move(p));
}

}  // namespace kiln::passes
