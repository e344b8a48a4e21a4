// MatMul + Add -> Gemm (level 1), on ONNX Runtime's MatMulAddFusion condition for the 2-D case:
// both MatMul inputs are known to be 2-D, the MatMul output is read only by the Add, and the
// Add's other input is a constant bias that Gemm's C can take: shape [N] or [1, N] (N the last
// dim, or 1). Float types only. 3-D MatMuls are left alone.
#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

bool rank2(const ir::Value* v) {
  return v && v->info().has_shape && v->info().dims.size() == 2;
}

bool float_type(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kFloat64 ||
         t == DType::kBFloat16;
}

class MatMulAddPattern : public RewritePattern {
 public:
  std::string name() const override { return "matmul_add_fusion"; }
  std::vector<std::string> target_ops() const override { return {"Add"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* add, PassContext& ctx) override {
    if (add->opset() < 7 || add->inputs().size() != 2 || add->outputs().size() != 1) return false;
    ir::Node* mm = nullptr;
    ir::Value* bias = nullptr;
    for (size_t i = 0; i < 2 && !mm; ++i) {
      ir::Node* p = producer_if(add->input(i), "MatMul");
      if (p && used_once(add->input(i)) && constant_of(add->input(1 - i))) {
        mm = p;
        bias = add->input(1 - i);
      }
    }
    if (!mm || mm->inputs().size() != 2 || !mm->input(0) || !mm->input(1)) return false;
    ir::Value* a = mm->input(0);
    ir::Value* b = mm->input(1);
    if (!rank2(a) || !rank2(b)) return false;
    const DType dt = a->info().dtype;
    if (!float_type(dt) || b->info().dtype != dt) return false;
    const Tensor* c = constant_of(bias);
    if (!c || c->dtype() != dt || c->rank() < 1 || c->rank() > 2) return false;
    if (c->rank() == 2 && c->dim(0) != 1) return false;
    const ir::Dim& n_dim = b->info().dims[1];
    const int64_t cn = c->dim(-1);
    if (cn != 1 && !(n_dim.known() && n_dim.value == cn)) return false;

    ir::Value* out = add->output(0);
    const std::string name = mm->name();
    g.remove_node(add);  // `out` loses its producer; the MatMul output is now unused
    g.remove_node(mm);
    KILN_ASSIGN_OR_RETURN(ir::Node * gemm, g.add_node("Gemm", "", {a, b, bias}, {out}, name));
    (void)gemm;
    ctx.stats.add("Gemm");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_matmul_add_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<MatMulAddPattern>());
  return std::make_unique<PatternPass>("matmul_add_fusion", std::move(p));
}

}  // namespace kiln::passes
