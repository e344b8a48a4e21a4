// DynamicQuantizeLinear + MatMulIntegerToFloat -> com.microsoft DynamicQuantizeMatMul (level 2,
// as ONNX Runtime's DynamicQuantizeMatMulFusion; listed at level 99 too), after
// matmul_integer_to_float_fusion:
//   MatMulIntegerToFloat(DQL(x).y, B, DQL(x).y_scale, b_scale, DQL(x).y_zero_point, b_zp?, bias?)
//     -> DynamicQuantizeMatMul(x, B, b_scale, b_zp?, bias?)
// DynamicQuantizeMatMul quantizes A to uint8 with DynamicQuantizeLinear's parameters, so the
// result is the same. Fused only when every output of the DynamicQuantizeLinear is read by this
// one node: where several MatMuls share one quantized activation (Q, K and V projections) the
// fusion would quantize it once per MatMul, no win, and those are left as they are. Every backend
// has a DynamicQuantizeMatMul kernel.
#include "graph/passes/all_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

// `v` is read by `n` alone (once) and is not a graph output.
bool only_read_by(const ir::Value* v, const ir::Node* n) {
  return v && used_once(v) && v->users()[0] == n;
}

class DynamicQuantizeMatMulPattern : public RewritePattern {
 public:
  std::string name() const override { return "dynamic_quantize_matmul_fusion"; }
  std::vector<std::string> target_ops() const override {
    return {"com.microsoft:MatMulIntegerToFloat"};
  }
  Expected<bool> apply(ir::Graph& g, ir::Node* mm, PassContext& ctx) override {
    if (mm->inputs().size() < 5 || mm->inputs().size() > 7 || mm->outputs().size() != 1)
      return false;
    ir::Node* dql = producer_if(mm->input(0), "DynamicQuantizeLinear");
    if (!dql || dql->inputs().size() != 1 || dql->outputs().size() != 3) return false;
    if (mm->input(2) != dql->output(1) || mm->input(4) != dql->output(2)) return false;
    for (size_t i = 0; i < 3; ++i)
      if (!only_read_by(dql->output(i), mm)) return false;
    ir::Value* x = dql->input(0);
    if (!x || dtype_of(x) != DType::kFloat32) return false;
    std::vector<ir::Value*> ins{x, mm->input(1), mm->input(3), mm->input(5), mm->input(6)};
    while (!ins.empty() && !ins.back()) ins.pop_back();
    KILN_ASSIGN_OR_RETURN(ir::Node * f,
                          replace_with(g, mm, "DynamicQuantizeMatMul", kMsDomain, ins, {}));
    (void)f;
    take_back(ctx.stats, "MatMulIntegerToFloat");
    ctx.stats.add("DynamicQuantizeMatMul");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_dynamic_quantize_matmul_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<DynamicQuantizeMatMulPattern>());
  return std::make_unique<PatternPass>("dynamic_quantize_matmul_fusion", std::move(p));
}

}  // namespace kiln::passes
