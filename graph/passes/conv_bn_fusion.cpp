// Conv + BatchNormalization folding (level 99, ONNX Runtime's ConvBNFusion):
//   BatchNormalization(Conv(X, W, B), scale, bias, mean, var)
//     -> Conv(X, W * s[m], (B - mean) * s + bias),  s = scale / sqrt(var + epsilon)
// when W, B (if any) and the four BN inputs are float32 constants of the expected shapes ([M] for
// the BN inputs and B), the Conv output is read only by the BN, and the BN is in inference mode
// (one output used, training_mode 0, spatial 1 before opset 9). New initializers are written
// (W may be shared by other Convs); the old ones are released when nothing reads them.
#include <cmath>

#include "graph/passes/all_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

// A float32 constant of shape [m], or nullptr.
const Tensor* vec_m(const ir::Value* v, int64_t m) {
  const Tensor* t = v ? constant_of(v) : nullptr;
  if (!t || t->dtype() != DType::kFloat32 || t->rank() != 1 || t->dim(0) != m) return nullptr;
  return t;
}

class ConvBnPattern : public RewritePattern {
 public:
  std::string name() const override { return "conv_bn_fusion"; }
  std::vector<std::string> target_ops() const override { return {"BatchNormalization"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* bn, PassContext& ctx) override {
    if (bn->inputs().size() != 5 || !bn->output(0)) return false;
    for (size_t i = 1; i < bn->outputs().size(); ++i)
      if (bn->output(i) && (!bn->output(i)->users().empty() || bn->output(i)->is_graph_output()))
        return false;
    if (int_attr_of(bn, "training_mode").value_or(0) != 0) return false;
    if (bn->opset() < 9 && int_attr_of(bn, "spatial").value_or(1) != 1) return false;
    ir::Value* y = bn->input(0);
    ir::Node* conv = producer_if(y, "Conv");
    if (!conv || !used_once(y) || conv->outputs().size() != 1) return false;
    if (conv->inputs().size() < 2 || conv->inputs().size() > 3) return false;
    const Tensor* w = conv->input(1) ? constant_of(conv->input(1)) : nullptr;
    if (!w || w->dtype() != DType::kFloat32 || w->rank() < 3 || w->dim(0) <= 0) return false;
    const int64_t m = w->dim(0);
    const Tensor* b = nullptr;
    if (conv->inputs().size() == 3 && conv->input(2)) {
      b = vec_m(conv->input(2), m);
      if (!b) return false;
    }
    const Tensor* scale = vec_m(bn->input(1), m);
    const Tensor* shift = vec_m(bn->input(2), m);
    const Tensor* mean = vec_m(bn->input(3), m);
    const Tensor* var = vec_m(bn->input(4), m);
    if (!scale || !shift || !mean || !var) return false;
    const double eps = float_attr_of(bn, "epsilon").value_or(1e-5f);

    Tensor nw = w->clone();
    Tensor nb = Tensor::create(DType::kFloat32, {m}).value();
    const int64_t per = w->numel() / m;
    for (int64_t o = 0; o < m; ++o) {
      const double v = var->data<float>()[o] + eps;
      if (!(v > 0) || !std::isfinite(v)) return false;  // leave odd statistics to the kernel
      const double s = scale->data<float>()[o] / std::sqrt(v);
      float* wr = nw.data<float>() + o * per;
      for (int64_t i = 0; i < per; ++i) wr[i] = static_cast<float>(wr[i] * s);
      const double b0 = b ? b->data<float>()[o] : 0.0;
      nb.data<float>()[o] =
          static_cast<float>((b0 - mean->data<float>()[o]) * s + shift->data<float>()[o]);
    }
    ir::Value* x = conv->input(0);
    const std::string base = conv->name().empty() ? "conv" : conv->name();
    ir::Value* wv = add_constant(g, base + "_bn_W", std::move(nw));
    ir::Value* bv = add_constant(g, base + "_bn_B", std::move(nb));
    std::vector<std::pair<std::string, ir::Attribute>> attrs(conv->attributes().begin(),
                                                             conv->attributes().end());
    // The fused Conv keeps the BN's output value (graph outputs keep their names) and the Conv's
    // name; the old Conv becomes dead and PatternPass removes it.
    ir::Value* out = bn->output(0);
    const std::string conv_name = conv->name();
    g.remove_node(bn);
    g.remove_node(conv);
    KILN_ASSIGN_OR_RETURN(ir::Node * f, g.add_node("Conv", "", {x, wv, bv}, {out}, conv_name));
    for (const auto& [k, a] : attrs) f->set_attr(k, a);
    ctx.stats.add("ConvBatchNormalization");
    return true;
  }
};

class ConvBnPass : public Pass {
 public:
  std::string name() const override { return "conv_bn_fusion"; }
  Expected<bool> run(ir::Graph& g, PassContext& ctx) override {
    std::vector<std::unique_ptr<RewritePattern>> p;
    p.push_back(std::make_unique<ConvBnPattern>());
    PatternPass inner("conv_bn_fusion", std::move(p));
    KILN_ASSIGN_OR_RETURN(bool changed, inner.run(g, ctx));
    if (changed) release_unused_initializers(g);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_conv_bn_fusion() {
  return std::make_unique<ConvBnPass>();
}

}  // namespace kiln::passes
