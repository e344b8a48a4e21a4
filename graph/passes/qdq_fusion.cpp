// QDQ -> integer kernel fusion (level 2), as ONNX Runtime's QDQ transformer does for
// quantize_static / `kiln quantize --format qdq` output:
//   QuantizeLinear(MatMul(DequantizeLinear(a_q, a_s, a_zp), DequantizeLinear(w_q, w_s, w_zp)),
//                  y_s, y_zp)
//     -> QLinearMatMul(a_q, a_s, a_zp, w_q, w_s, w_zp, y_s, y_zp)
// The integer kernel computes saturate(rint(C * a_s * w_s / y_s) + y_zp) from the exact int32
// products C, where the QDQ graph rounds float products: results agree except where the float
// value lies within rounding error of a .5 boundary (off by one there, as in ONNX Runtime).
// Conditions: 8-bit a_q / w_q / y_zp, zero points present and of their data's dtype, float32
// scales; a's scale and zero point, y's scale and zero point single values; w's per tensor or,
// for a 2-D w, per column (DequantizeLinear axis 1 or -1, [N] scale and zero point); no
// block_size; the MatMul output read only by the QuantizeLinear (the DequantizeLinear outputs may
// have other readers: those nodes then stay). Every backend has a QLinearMatMul kernel (the
// devices run the per-tensor / per-column forms), so the fusion does not depend on the target.
#include "graph/passes/fusion_util.h"
#include "graph/passes/pass.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}

// Known to hold exactly one element (rank 0, or every dim 1).
bool single_value(const ir::Value* v) {
  if (!v) return false;
  if (const Tensor* t = constant_of(v)) return t->numel() == 1;
  if (!v->info().has_shape) return false;
  for (const ir::Dim& d : v->info().dims)
    if (d.value != 1) return false;
  return true;
}

bool shape_is_1d(const ir::Value* v, int64_t n) {
  if (const Tensor* t = constant_of(v)) return t->rank() == 1 && t->dim(0) == n;
  return v->info().has_shape && v->info().dims.size() == 1 && v->info().dims[0].value == n;
}

// A DequantizeLinear's parts when it fits: data, scale, zero point (all present).
struct Dq {
  ir::Value *x = nullptr, *scale = nullptr, *zp = nullptr;
};

std::optional<Dq> dq_parts(const ir::Node* n) {
  if (!n || n->inputs().size() != 3 || !n->input(0) || !n->input(1) || !n->input(2))
    return std::nullopt;
  if (int_attr_of(n, "block_size").value_or(0) != 0) return std::nullopt;
  Dq d{n->input(0), n->input(1), n->input(2)};
  const DType xt = dtype_of(d.x);
  if (!is_8bit(xt) || dtype_of(d.zp) != xt || dtype_of(d.scale) != DType::kFloat32)
    return std::nullopt;
  if (n->attr("output_dtype") && int_attr_of(n, "output_dtype").value_or(1) != 1)
    return std::nullopt;
  return d;
}

class QdqMatMulPattern : public RewritePattern {
 public:
  std::string name() const override { return "qdq_fusion"; }
  std::vector<std::string> target_ops() const override { return {"QuantizeLinear"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* q, PassContext& ctx) override {
    if (q->inputs().size() != 3 || q->outputs().size() != 1 || !q->input(1) || !q->input(2))
      return false;
    if (int_attr_of(q, "block_size").value_or(0) != 0) return false;
    ir::Value* ys = q->input(1);
    ir::Value* yz = q->input(2);
    if (!single_value(ys) || !single_value(yz) || dtype_of(ys) != DType::kFloat32 ||
        !is_8bit(dtype_of(yz)))
      return false;
    if (const auto od = int_attr_of(q, "output_dtype");
        od && *od != 0 && *od != static_cast<int64_t>(dtype_of(yz)))
      return false;
    ir::Node* mm = producer_if(q->input(0), "MatMul");
    if (!mm || !used_once(q->input(0)) || mm->inputs().size() != 2) return false;
    auto a = dq_parts(producer_if(mm->input(0), "DequantizeLinear"));
    ir::Node* wn = producer_if(mm->input(1), "DequantizeLinear");
    auto w = dq_parts(wn);
    if (!a || !w) return false;
    if (!single_value(a->scale) || !single_value(a->zp)) return false;
    if (!single_value(w->scale) || !single_value(w->zp)) {
      // Per column of a 2-D weight.
      const Tensor* wt = constant_of(w->x);
      const int64_t rank = wt ? wt->rank() : rank_of(w->x);
      const int64_t n = wt ? (rank == 2 ? wt->dim(1) : -1) : last_dim(w->x);
      const int64_t axis = int_attr_of(wn, "axis").value_or(1);
      if (rank != 2 || n <= 0 || (axis != 1 && axis != -1)) return false;
      if (!shape_is_1d(w->scale, n) || !shape_is_1d(w->zp, n)) return false;
    }
    KILN_ASSIGN_OR_RETURN(ir::Node * f,
                          replace_with(g, q, "QLinearMatMul", "",
                                       {a->x, a->scale, a->zp, w->x, w->scale, w->zp, ys, yz}, {}));
    (void)f;
    ctx.stats.add("QLinearMatMul");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_qdq_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<QdqMatMulPattern>());
  return std::make_unique<PatternPass>("qdq_fusion", std::move(p));
}

}  // namespace kiln::passes
