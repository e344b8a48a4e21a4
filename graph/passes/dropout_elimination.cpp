// Dropout elimination (level 1): in inference Dropout passes its input through. Removed when its
// mask output is unused and it is not in training mode (opset < 7: is_test=1; opset 12+:
// training_mode absent or a constant false).
#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

class DropoutPattern : public RewritePattern {
 public:
  std::string name() const override { return "dropout_elimination"; }
  std::vector<std::string> target_ops() const override { return {"Dropout"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* n, PassContext& ctx) override {
    ir::Value* in = n->input(0);
    ir::Value* out = n->output(0);
    if (!in || !out) return false;
    for (size_t i = 1; i < n->outputs().size(); ++i) {
      ir::Value* m = n->output(i);
      if (m && (m->is_graph_output() || !m->users().empty())) return false;
    }
    if (n->opset() < 7) {
      // Before opset 7, Dropout scales in training mode unless is_test is set.
      const ir::Attribute* t = n->attr("is_test");
      if (!t || t->type != ir::AttrType::kInt || t->i == 0) return false;
    }
    if (n->opset() >= 12 && n->input(2)) {
      const Tensor* t = constant_of(n->input(2));
      if (!t || t->numel() != 1 || t->dtype() != DType::kBool || t->data<bool>()[0]) return false;
    }
    KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, in, out));
    if (done) ctx.stats.add("dropout_removed");
    return done;
  }
};

}  // namespace

std::unique_ptr<Pass> make_dropout_elimination() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<DropoutPattern>());
  return std::make_unique<PatternPass>("dropout_elimination", std::move(p));
}

}  // namespace kiln::passes
