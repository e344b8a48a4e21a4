// Conv + activation -> com.microsoft FusedConv (level 99, ONNX Runtime's ConvActivationFusion):
//   Relu / Tanh / Sigmoid                   activation_params absent
//   LeakyRelu(alpha)                        activation_params [alpha]
//   HardSigmoid(alpha, beta)                activation_params [alpha, beta]
//   Clip(min, max) (attributes or constants) activation_params [min, max]
// for a float32 Conv with constant W whose output only the activation reads. FusedConv is fused
// only where it will run: the target must be "cpu" and the CPU registry must hold a FusedConv
// kernel (the OpenCL and Vulkan backends have none; their graphs keep Conv + activation, which
// both run on the device).
#include <limits>

#include "graph/passes/all_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"
#include "runtime/cpu/kernel.h"

namespace kiln::passes {

namespace {

ir::Attribute string_attr(const std::string& s) {
  ir::Attribute a;
  a.type = ir::AttrType::kString;
  a.s = s;
  return a;
}

ir::Attribute floats_attr(std::vector<float> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloats;
  a.floats = std::move(v);
  return a;
}

// The activation of `act` as FusedConv spells it (name, params); nullopt when it has none.
std::optional<std::pair<std::string, std::vector<float>>> activation_of(const ir::Node* act) {
  const std::string& op = act->op_type();
  if (!act->domain().empty() || act->outputs().size() != 1) return std::nullopt;
  if (op == "Relu" || op == "Tanh" || op == "Sigmoid") {
    if (act->inputs().size() != 1) return std::nullopt;
    return std::make_pair(op, std::vector<float>{});
  }
  if (op == "LeakyRelu")
    return std::make_pair(op, std::vector<float>{float_attr_of(act, "alpha").value_or(0.01f)});
  if (op == "HardSigmoid")
    return std::make_pair(op, std::vector<float>{float_attr_of(act, "alpha").value_or(0.2f),
                                                 float_attr_of(act, "beta").value_or(0.5f)});
  if (op == "Clip") {
    float lo = std::numeric_limits<float>::lowest();
    float hi = std::numeric_limits<float>::max();
    if (act->opset() < 11) {
      lo = float_attr_of(act, "min").value_or(lo);
      hi = float_attr_of(act, "max").value_or(hi);
    } else {
      for (size_t i = 1; i < act->inputs().size() && i < 3; ++i) {
        if (!act->input(i)) continue;
        std::optional<double> s = scalar_of(act->input(i));
        if (!s) return std::nullopt;  // bounds computed at run time
        (i == 1 ? lo : hi) = static_cast<float>(*s);
      }
      if (act->inputs().size() > 3) return std::nullopt;
    }
    return std::make_pair(op, std::vector<float>{lo, hi});
  }
  return std::nullopt;
}

class ConvActivationPattern : public RewritePattern {
 public:
  std::string name() const override { return "conv_activation_fusion"; }
  std::vector<std::string> target_ops() const override {
    return {"Relu", "Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid", "Clip"};
  }
  Expected<bool> apply(ir::Graph& g, ir::Node* act, PassContext& ctx) override {
    if (act->inputs().empty() || !act->input(0) || !act->output(0)) return false;
    auto a = activation_of(act);
    if (!a) return false;
    ir::Value* y = act->input(0);
    ir::Node* conv = producer_if(y, "Conv");
    if (!conv || !used_once(y) || conv->outputs().size() != 1) return false;
    if (conv->inputs().size() < 2 || conv->inputs().size() > 3) return false;
    const Tensor* w = conv->input(1) ? constant_of(conv->input(1)) : nullptr;
    if (!w || w->dtype() != DType::kFloat32 || dtype_of(conv->input(0)) != DType::kFloat32)
      return false;
    std::vector<ir::Value*> ins = conv->inputs();
    std::vector<std::pair<std::string, ir::Attribute>> attrs(conv->attributes().begin(),
                                                             conv->attributes().end());
    attrs.emplace_back("activation", string_attr(a->first));
    if (!a->second.empty()) attrs.emplace_back("activation_params", floats_attr(a->second));
    KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, act, "FusedConv", kMsDomain, ins, attrs));
    (void)f;
    ctx.stats.add("FusedConv");
    return true;
  }
};

class ConvActivationPass : public Pass {
 public:
  explicit ConvActivationPass(bool assume_kernel) : assume_kernel_(assume_kernel) {}
  std::string name() const override { return "conv_activation_fusion"; }
  Expected<bool> run(ir::Graph& g, PassContext& ctx) override {
    if (ctx.target != "cpu") return false;
    if (!assume_kernel_ && !cpu::cpu_registry().has_op(kMsDomain, "FusedConv")) return false;
    std::vector<std::unique_ptr<RewritePattern>> p;
    p.push_back(std::make_unique<ConvActivationPattern>());
    PatternPass inner("conv_activation_fusion", std::move(p));
    return inner.run(g, ctx);
  }

 private:
  bool assume_kernel_;
};

}  // namespace

std::unique_ptr<Pass> make_conv_activation_fusion(bool assume_kernel) {
  return std::make_unique<ConvActivationPass>(assume_kernel);
}

}  // namespace kiln::passes
