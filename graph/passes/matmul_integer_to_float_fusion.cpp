// MatMulInteger + Cast + Mul [+ Add] -> com.microsoft MatMulIntegerToFloat (level 2, as ONNX
// Runtime's MatMulIntegerToFloatFusion; listed at level 99 too), the QOperator spelling
// quantize_dynamic writes:
//   Mul(Cast<float>(MatMulInteger(A, B, a_zp?, b_zp?)), Mul(a_scale, b_scale)) [+ bias]
//     -> MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zp?, b_zp?, bias?)
// a_scale and a_zp must be single values (MatMulIntegerToFloat has no per-row A parameters),
// b_scale a single value or one per column, B a 2-D tensor, the scales float32, every intermediate
// read only inside the match, and the bias a float32 1-D constant as long as B has columns. Every
// backend has a MatMulIntegerToFloat kernel, so the fusion does not depend on the target.
#include "graph/passes/all_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

// Known to hold exactly one element (rank 0, or every dim 1).
bool single_value(const ir::Value* v) {
  if (!v) return false;
  if (const Tensor* t = constant_of(v)) return t->numel() == 1;
  if (!v->info().has_shape) return false;
  for (const ir::Dim& d : v->info().dims)
    if (d.value != 1) return false;
  return true;
}

// The number of columns of a 2-D B (its last dim, from the constant or the value info); -1 when
// B is not known to be 2-D with a known last dim.
int64_t columns_of(const ir::Value* b) {
  if (const Tensor* t = constant_of(b)) return t->rank() == 2 ? t->dim(1) : -1;
  if (rank_of(b) != 2) return -1;
  return last_dim(b);
}

// b_scale fits B's columns: one value, or a 1-D tensor of n values.
bool per_column_ok(const ir::Value* s, int64_t n) {
  if (single_value(s)) return true;
  if (!s->info().has_shape || s->info().dims.size() != 1) return false;
  return s->info().dims[0].value == n;
}

class MatMulIntegerToFloatPattern : public RewritePattern {
 public:
  std::string name() const override { return "matmul_integer_to_float_fusion"; }
  std::vector<std::string> target_ops() const override { return {"Mul"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* mul, PassContext& ctx) override {
    if (mul->inputs().size() != 2 || mul->outputs().size() != 1) return false;
    for (int ci = 0; ci < 2; ++ci) {
      ir::Value* cast_out = mul->input(ci);
      ir::Value* scales = mul->input(1 - ci);
      ir::Node* cast = producer_if(cast_out, "Cast");
      if (!cast || !used_once(cast_out) || int_attr_of(cast, "to").value_or(0) != 1) continue;
      ir::Node* mmi = producer_if(cast->input(0), "MatMulInteger");
      if (!mmi || !used_once(cast->input(0)) || mmi->inputs().size() < 2) continue;
      ir::Node* sm = producer_if(scales, "Mul");
      if (!sm || sm->inputs().size() != 2) continue;
      ir::Value* a = mmi->input(0);
      ir::Value* b = mmi->input(1);
      ir::Value* a_zp = mmi->input(2);
      ir::Value* b_zp = mmi->input(3);
      if (!a || !b || (a_zp && !single_value(a_zp))) continue;
      const int64_t n = columns_of(b);
      if (n <= 0) continue;
      // Which of the scale Mul's inputs is A's scale: a single value; B's may be per column.
      ir::Value* a_scale = nullptr;
      ir::Value* b_scale = nullptr;
      for (int s = 0; s < 2 && !a_scale; ++s) {
        ir::Value* as = sm->input(s);
        ir::Value* bs = sm->input(1 - s);
        if (single_value(as) && per_column_ok(bs, n)) {
          a_scale = as;
          b_scale = bs;
        }
      }
      if (!a_scale || dtype_of(a_scale) != DType::kFloat32 || dtype_of(b_scale) != DType::kFloat32)
        continue;
      // A bias Add after the Mul joins the fusion.
      ir::Node* root = mul;
      ir::Value* bias = nullptr;
      if (ir::Node* add = single_user(mul->output(0));
          is_op(add, "Add") && add->inputs().size() == 2) {
        ir::Value* c = other_input(add, mul->output(0));
        if (c && add->input(0) != add->input(1) && const_1d_size(c) == n &&
            constant_of(c)->dtype() == DType::kFloat32) {
          root = add;
          bias = c;
        }
      }
      std::vector<ir::Value*> ins{a, b, a_scale, b_scale, a_zp, b_zp};
      if (bias) ins.push_back(bias);
      while (!ins.empty() && !ins.back()) ins.pop_back();
      KILN_ASSIGN_OR_RETURN(ir::Node * f,
                            replace_with(g, root, "MatMulIntegerToFloat", kMsDomain, ins, {}));
      (void)f;
      ctx.stats.add("MatMulIntegerToFloat");
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_matmul_integer_to_float_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<MatMulIntegerToFloatPattern>());
  return std::make_unique<PatternPass>("matmul_integer_to_float_fusion", std::move(p));
}

}  // namespace kiln::passes
