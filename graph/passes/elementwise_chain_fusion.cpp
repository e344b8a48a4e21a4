// Chains and trees of float32 elementwise nodes -> one ai.kiln FusedElementwise node (level 99,
// session-only). See runtime/device/fused_program.h for the op and its program.
//
// Fused ops: Add Sub Mul Div Pow Max Min (two inputs; a constant one-element operand becomes an
// immediate when that loses no rank), Relu Sigmoid Tanh Exp Log Sqrt Neg Abs Erf Reciprocal,
// Clip (constant bounds), LeakyRelu, HardSigmoid, HardSwish. A tree grows from its last node
// (the root) through inputs whose producer is fusible and whose value has that one user and is
// not a graph output; it keeps at most kMaxInputs distinct inputs and kMaxInstrs instructions,
// and is fused when it holds at least two nodes. Every value inside must be float32 (from value
// info or the producer's typed inputs). Broadcasting inside the tree is harmless: elementwise
// functions commute with it, so evaluating every instruction at the output's shape gives the
// same values.
//
// The pass runs only where the graph stays inside a kiln Session (PassContext::session_only_ops:
// never for `kiln optimize`, whose file is meant for other runtimes) and for targets whose
// kernels run the op: the CPU (runtime/cpu/ops/fused_elementwise.cpp), OpenCL
// (runtime/opencl/ops_fused.cpp) and Vulkan (runtime/vulkan/ops_fused.cpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "graph/passes/all_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"
#include "runtime/device/fused_program.h"

namespace kiln::passes {

namespace {

namespace fz = device::fused;

// One fusible node: its op, parameters and which inputs are immediates.
struct NodeDesc {
  fz::Op op;
  float p0 = 0, p1 = 0;
  // Per operand (1 for unary, 2 for binary): the value read, or nullptr for an immediate (p0).
  std::vector<ir::Value*> operands;
};

bool is_f32(const ir::Value* v) {
  return v && dtype_of(v) == DType::kFloat32;
}

// A one-element constant operand that can become an immediate next to `other`: its rank must not
// widen the result (rank 0, or at most other's known rank), and its value must be a float32
// (any numeric type for Pow's exponent when the float holds it exactly).
std::optional<float> immediate_of(const ir::Value* c, const ir::Value* other, bool any_type) {
  const Tensor* t = constant_of(c);
  if (!t || t->numel() != 1) return std::nullopt;
  if (!any_type && t->dtype() != DType::kFloat32) return std::nullopt;
  const size_t rank = t->shape().size();
  if (rank > 0) {
    int r = rank_of(other);
    if (r < 0 || static_cast<size_t>(r) < rank) return std::nullopt;
  }
  std::optional<double> d = scalar_of(c);
  if (!d) return std::nullopt;
  const float f = static_cast<float>(*d);
  if (static_cast<double>(f) != *d && !std::isnan(*d)) return std::nullopt;
  return f;
}

std::optional<NodeDesc> describe(const ir::Node* n) {
  if (!n->domain().empty() || n->outputs().size() != 1 || !n->output(0)) return std::nullopt;
  const int code = fz::op_code(n->op_type());
  if (code < 0 || !is_f32(n->output(0))) return std::nullopt;
  NodeDesc d;
  d.op = static_cast<fz::Op>(code);
  const auto& in = n->inputs();
  if (fz::is_binary(d.op)) {
    if (in.size() != 2 || !in[0] || !in[1]) return std::nullopt;
    const bool pow = d.op == fz::Op::kPow;
    // An immediate on one side (the other side must be a float32 value).
    for (int side = 1; side >= 0; --side) {
      if (!is_f32(in[1 - side])) continue;
      if (auto imm = immediate_of(in[side], in[1 - side], pow && side == 1)) {
        d.p0 = *imm;
        d.operands = {side == 0 ? nullptr : in[0], side == 1 ? nullptr : in[1]};
        return d;
      }
    }
    if (!is_f32(in[0]) || !is_f32(in[1])) return std::nullopt;
    d.operands = {in[0], in[1]};
    return d;
  }
  if (in.empty() || !is_f32(in[0])) return std::nullopt;
  d.operands = {in[0]};
  switch (d.op) {
    case fz::Op::kLeakyRelu:
      d.p0 = float_attr_of(n, "alpha").value_or(0.01f);
      break;
    case fz::Op::kHardSigmoid:
      d.p0 = float_attr_of(n, "alpha").value_or(0.2f);
      d.p1 = float_attr_of(n, "beta").value_or(0.5f);
      break;
    case fz::Op::kClip: {
      d.p0 = std::numeric_limits<float>::lowest();
      d.p1 = std::numeric_limits<float>::max();
      if (n->opset() < 11) {
        d.p0 = float_attr_of(n, "min").value_or(d.p0);
        d.p1 = float_attr_of(n, "max").value_or(d.p1);
      } else {
        if (in.size() > 3) return std::nullopt;
        for (size_t i = 1; i < in.size(); ++i) {
          if (!in[i]) continue;
          const Tensor* t = constant_of(in[i]);
          if (!t || t->numel() != 1 || t->dtype() != DType::kFloat32) return std::nullopt;
          (i == 1 ? d.p0 : d.p1) = t->data<float>()[0];
        }
      }
      break;
    }
    case fz::Op::kHardSwish:
      if (n->opset() < 14) return std::nullopt;
      break;
    default:
      break;
  }
  if (in.size() != 1 && d.op != fz::Op::kClip) return std::nullopt;
  return d;
}

class ElementwiseChainPass : public Pass {
 public:
  explicit ElementwiseChainPass(bool assume_target) : assume_target_(assume_target) {}
  std::string name() const override { return "elementwise_chain_fusion"; }

  Expected<bool> run(ir::Graph& g, PassContext& ctx) override {
    if (!ctx.session_only_ops) return false;
    if (!assume_target_ && ctx.target != "cpu" && ctx.target != "opencl" && ctx.target != "vulkan")
      return false;
    std::vector<ir::Node*> nodes = g.nodes();  // topologically sorted
    std::map<const ir::Node*, NodeDesc> descs;
    for (ir::Node* n : nodes)
      if (auto d = describe(n)) descs.emplace(n, std::move(*d));
    std::set<const ir::Node*> absorbed;
    int fused = 0;
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      ir::Node* root = *it;
      if (absorbed.count(root) || !descs.count(root)) continue;
      Tree t = grow(root, descs, absorbed);
      if (t.members.size() < 2) continue;
      KILN_RETURN_IF_ERROR(fuse(g, root, t, descs));
      for (const ir::Node* m : t.members) absorbed.insert(m);
      ctx.stats.add("FusedElementwise");
      ctx.stats.add("elementwise_nodes_fused", static_cast<int64_t>(t.members.size()));
      ++fused;
    }
    if (fused == 0) return false;
    remove_dead_nodes(g);
    KILN_RETURN_IF_ERROR(g.topo_sort());
    return true;
  }

 private:
  struct Tree {
    std::set<const ir::Node*> members;
    std::vector<ir::Value*> inputs;  // distinct external inputs, in first-use order
  };

  // Greedy growth from the root: breadth-first over operands; an operand's producer joins when
  // it is fusible, this is its only reader, and the input and instruction budgets still hold.
  static Tree grow(ir::Node* root, const std::map<const ir::Node*, NodeDesc>& descs,
                   const std::set<const ir::Node*>& absorbed) {
    Tree t;
    t.members.insert(root);
    std::vector<ir::Node*> queue{root};
    for (size_t qi = 0; qi < queue.size(); ++qi) {
      for (ir::Value* v : descs.at(queue[qi]).operands) {
        if (!v) continue;
        ir::Node* p = v->producer();
        bool join = p && descs.count(p) && !absorbed.count(p) && !t.members.count(p) &&
                    used_once(v) && t.members.size() < static_cast<size_t>(fz::kMaxInstrs);
        if (join) {
          // The distinct inputs the tree would read with p in it: the operands of its members
          // (p included) that no member produces.
          std::set<const ir::Node*> with(t.members.begin(), t.members.end());
          with.insert(p);
          std::set<const ir::Value*> after;
          for (const ir::Node* m : with)
            for (ir::Value* mv : descs.at(m).operands)
              if (mv && !(mv->producer() && with.count(mv->producer()))) after.insert(mv);
          join = after.size() <= static_cast<size_t>(fz::kMaxInputs);
        }
        if (join) {
          t.members.insert(p);
          queue.push_back(p);
        }
      }
    }
    return t;
  }

  // Writes the tree's program (post-order from the root) and replaces the root.
  static Status fuse(ir::Graph& g, ir::Node* root, Tree& t,
                     const std::map<const ir::Node*, NodeDesc>& descs) {
    fz::Program prog;
    std::map<const ir::Value*, int> input_reg;
    // First pass: collect the external inputs in post-order so registers are stable.
    std::vector<const ir::Node*> order;
    std::vector<std::pair<const ir::Node*, size_t>> stack{{root, 0}};
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      const NodeDesc& d = descs.at(n);
      if (next < d.operands.size()) {
        ir::Value* v = d.operands[next++];
        if (!v) continue;
        ir::Node* p = v->producer();
        if (p && t.members.count(p)) {
          stack.push_back({p, 0});
        } else if (!input_reg.count(v)) {
          input_reg[v] = static_cast<int>(t.inputs.size());
          t.inputs.push_back(v);
        }
        continue;
      }
      order.push_back(n);
      stack.pop_back();
    }
    if (t.inputs.empty() || t.inputs.size() > static_cast<size_t>(fz::kMaxInputs))
      return internal_error("elementwise_chain_fusion: bad input count " +
                            std::to_string(t.inputs.size()) + " at " + root->describe());
    prog.num_inputs = static_cast<int>(t.inputs.size());
    std::map<const ir::Node*, int> node_reg;
    for (const ir::Node* n : order) {
      const NodeDesc& d = descs.at(n);
      fz::Instr in;
      in.op = d.op;
      in.p0 = d.p0;
      in.p1 = d.p1;
      int regs[2] = {fz::kNone, fz::kNone};
      for (size_t k = 0; k < d.operands.size(); ++k) {
        ir::Value* v = d.operands[k];
        if (!v) {
          regs[k] = fz::kConst;
        } else if (v->producer() && t.members.count(v->producer())) {
          regs[k] = node_reg.at(v->producer());
        } else {
          regs[k] = input_reg.at(v);
        }
      }
      in.a = regs[0];
      in.b = regs[1];
      node_reg[n] = prog.num_inputs + static_cast<int>(prog.instrs.size());
      prog.instrs.push_back(in);
    }
    if (g.opset(fz::kDomain) <= 0) g.opsets()[fz::kDomain] = 1;
    KILN_ASSIGN_OR_RETURN(
        ir::Node * f, replace_with(g, root, fz::kOpType, fz::kDomain, t.inputs, fz::encode(prog)));
    (void)f;
    return Status::ok();
  }

  bool assume_target_;
};

}  // namespace

std::unique_ptr<Pass> make_elementwise_chain_fusion(bool assume_target) {
  return std::make_unique<ElementwiseChainPass>(assume_target);
}

}  // namespace kiln::passes
