// Identity elimination (level 1): readers of an Identity's output read its input. A graph output
// keeps its name: the input's producer is made to produce it instead (see bypass_node).
#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

class IdentityPattern : public RewritePattern {
 public:
  std::string name() const override { return "identity_elimination"; }
  std::vector<std::string> target_ops() const override { return {"Identity"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* n, PassContext& ctx) override {
    if (n->inputs().size() != 1 || n->outputs().size() != 1) return false;
    ir::Value* in = n->input(0);
    ir::Value* out = n->output(0);
    if (!in || !out) return false;
    KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, in, out));
    if (done) ctx.stats.add("identity_removed");
    return done;
  }
};

}  // namespace

std::unique_ptr<Pass> make_identity_elimination() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<IdentityPattern>());
  return std::make_unique<PatternPass>("identity_elimination", std::move(p));
}

}  // namespace kiln::passes
