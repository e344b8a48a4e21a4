// GELU from its primitive spellings (level 2):
//   erf form   0.5 * x * (1 + Erf(x / sqrt(2)))            -> com.microsoft Gelu
//   tanh form  0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))  -> com.microsoft FastGelu
// in every operand order and association of the multiplications the exporters write
// (Mul(Mul(x, a), 0.5), Mul(Mul(x, 0.5), a), Mul(x, Mul(a, 0.5))), x / sqrt(2) also as
// x * (1 / sqrt(2)), x^3 as Pow(x, 3) or x * x * x.
#include <cmath>

#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kSqrt2OverPi = 0.7978845608028654;

// After `a` = (1 + f(x)): the node computing 0.5 * x * a, and the intermediates it owns.
// Returns nullptr when none of the spellings matches.
ir::Node* match_half_x_times(ir::Value* a, ir::Value* x, std::vector<const ir::Value*>* mids) {
  ir::Node* m1 = single_user(a);
  if (!is_op(m1, "Mul")) return nullptr;
  ir::Value* other = other_input(m1, a);
  if (other == x) {  // Mul(x, a) then * 0.5
    ir::Node* m2 = single_user(m1->output(0));
    if (!is_op(m2, "Mul") || scalar_input(m2, 0.5) < 0) return nullptr;
    mids->push_back(m1->output(0));
    return m2;
  }
  ir::Node* h = other ? other->producer() : nullptr;
  if (is_op(h, "Mul") && used_once(other)) {  // Mul(Mul(x, 0.5), a)
    int hi = scalar_input(h, 0.5);
    if (hi >= 0 && h->input(1 - hi) == x) {
      mids->push_back(other);
      return m1;
    }
  }
  int si = scalar_input(m1, 0.5);  // Mul(x, Mul(a, 0.5))
  if (si >= 0 && m1->input(1 - si) == a) {
    ir::Node* m2 = single_user(m1->output(0));
    if (!is_op(m2, "Mul") || other_input(m2, m1->output(0)) != x) return nullptr;
    mids->push_back(m1->output(0));
    return m2;
  }
  return nullptr;
}

// `v` = 1 + t for t = `t_out`: the Add node's output.
ir::Value* one_plus(ir::Value* t_out) {
  ir::Node* add = single_user(t_out);
  if (!is_op(add, "Add")) return nullptr;
  int oi = scalar_input(add, 1.0);
  if (oi < 0 || add->input(1 - oi) != t_out) return nullptr;
  return add->output(0);
}

bool float_value(const ir::Value* v) {
  return v && is_float_type(dtype_of(v));
}

class GeluErfPattern : public RewritePattern {
 public:
  std::string name() const override { return "gelu_fusion"; }
  std::vector<std::string> target_ops() const override { return {"Erf"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* erf, PassContext& ctx) override {
    ir::Node* div = erf->input(0) ? erf->input(0)->producer() : nullptr;
    if (!div || !used_once(erf->input(0))) return false;
    ir::Value* x = nullptr;
    if (is_op(div, "Div") && scalar_input(div, kSqrt2) == 1) {
      x = div->input(0);
    } else if (is_op(div, "Mul")) {
      int i = scalar_input(div, 1.0 / kSqrt2);
      if (i >= 0) x = div->input(1 - i);
    }
    if (!float_value(x)) return false;
    ir::Value* a = one_plus(erf->output(0));
    if (!a) return false;
    std::vector<const ir::Value*> mids{erf->output(0)};
    ir::Node* root = match_half_x_times(a, x, &mids);
    if (!root || !all_used_once(mids)) return false;
    KILN_ASSIGN_OR_RETURN(ir::Node * n, replace_with(g, root, "Gelu", kMsDomain, {x}, {}));
    (void)n;
    ctx.stats.add("Gelu");
    return true;
  }
};

// x^3 spelled Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x): true when `v` is that.
bool is_cube_of(const ir::Value* v, const ir::Value* x, std::vector<const ir::Value*>* mids) {
  ir::Node* p = v ? v->producer() : nullptr;
  if (is_op(p, "Pow")) {
    auto e = scalar_of(p->input(1));
    if (e && *e == 3.0 && p->input(0) == x) {
      mids->push_back(v);
      return true;
    }
    return false;
  }
  if (!is_op(p, "Mul")) return false;
  ir::Value* sq = other_input(p, x);
  if (!sq) return false;
  ir::Node* s = sq->producer();
  if (!is_op(s, "Mul") || s->input(0) != x || s->input(1) != x) return false;
  mids->push_back(v);
  mids->push_back(sq);
  return true;
}

class FastGeluPattern : public RewritePattern {
 public:
  std::string name() const override { return "fast_gelu_fusion"; }
  std::vector<std::string> target_ops() const override { return {"Tanh"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* tanh, PassContext& ctx) override {
    std::vector<const ir::Value*> mids{tanh->input(0), tanh->output(0)};
    ir::Node* scale = tanh->input(0) ? tanh->input(0)->producer() : nullptr;
    if (!is_op(scale, "Mul")) return false;
    int si = scalar_input(scale, kSqrt2OverPi);
    if (si < 0) return false;
    ir::Value* inner = scale->input(1 - si);
    ir::Node* add = inner ? inner->producer() : nullptr;
    if (!is_op(add, "Add") || add->inputs().size() != 2) return false;
    mids.push_back(inner);
    // inner = x + 0.044715 * x^3, either operand order.
    for (int xi = 0; xi < 2; ++xi) {
      ir::Value* x = add->input(xi);
      ir::Value* c = add->input(1 - xi);
      ir::Node* cm = c ? c->producer() : nullptr;
      if (!is_op(cm, "Mul")) continue;
      int ki = scalar_input(cm, 0.044715);
      if (ki < 0) continue;
      std::vector<const ir::Value*> m = mids;
      m.push_back(c);
      if (!is_cube_of(cm->input(1 - ki), x, &m)) continue;
      if (!float_value(x)) continue;
      ir::Value* a = one_plus(tanh->output(0));
      if (!a) continue;
      ir::Node* root = match_half_x_times(a, x, &m);
      if (!root || !all_used_once(m)) continue;
      KILN_ASSIGN_OR_RETURN(ir::Node * n, replace_with(g, root, "FastGelu", kMsDomain, {x}, {}));
      (void)n;
      ctx.stats.add("FastGelu");
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_gelu_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<GeluErfPattern>());
  p.push_back(std::make_unique<FastGeluPattern>());
  return std::make_unique<PatternPass>("gelu_fusion", std::move(p));
}

}  // namespace kiln::passes
