// Matching and rewriting helpers shared by graph passes (see util.h).
#include "graph/passes/util.h"

#include <map>
#include <set>

#include "runtime/core/half.h"
#include "runtime/core/thread_pool.h"
#include "runtime/cpu/kernel.h"

namespace kiln::passes {

bool is_op(const ir::Node* n, const std::string& op_type, const std::string& domain) {
  return n && n->op_type() == op_type && n->domain() == ir::normalize_domain(domain);
}

ir::Node* producer_if(const ir::Value* v, const std::string& op_type) {
  if (!v || !v->producer()) return nullptr;
  return is_op(v->producer(), op_type) ? v->producer() : nullptr;
}

bool used_once(const ir::Value* v) {
  return v && !v->is_graph_output() && v->users().size() == 1;
}

ir::Node* single_user(const ir::Value* v) {
  return used_once(v) ? v->users()[0] : nullptr;
}

const Tensor* constant_of(const ir::Value* v) {
  if (!v) return nullptr;
  if (v->is_initializer()) return &v->initializer();
  ir::Node* p = v->producer();
  if (p && is_op(p, "Constant")) {
    const ir::Attribute* a = p->attr("value");
    if (a && a->type == ir::AttrType::kTensor && a->t.defined()) return &a->t;
  }
  return nullptr;
}

std::optional<double> scalar_of(const ir::Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->numel() != 1) return std::nullopt;
  switch (t->dtype()) {
    case DType::kFloat32:
      return static_cast<double>(t->data<float>()[0]);
    case DType::kFloat64:
      return t->data<double>()[0];
    case DType::kFloat16:
      return static_cast<double>(half_bits_to_float(t->data<uint16_t>()[0]));
    case DType::kInt64:
      return static_cast<double>(t->data<int64_t>()[0]);
    case DType::kInt32:
      return static_cast<double>(t->data<int32_t>()[0]);
    default:
      return std::nullopt;
  }
}

std::optional<std::vector<int64_t>> ints_of(const ir::Value* v) {
  const Tensor* t = constant_of(v);
  if (!t) return std::nullopt;
  std::vector<int64_t> out;
  if (t->dtype() == DType::kInt64) {
    out.assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  } else if (t->dtype() == DType::kInt32) {
    for (int64_t i = 0; i < t->numel(); ++i) out.push_back(t->data<int32_t>()[i]);
  } else {
    return std::nullopt;
  }
  return out;
}

ir::Value* other_input(const ir::Node* n, const ir::Value* other) {
  if (!n || n->inputs().size() != 2) return nullptr;
  if (n->input(0) == other) return n->input(1);
  if (n->input(1) == other) return n->input(0);
  return nullptr;
}

ir::Value* new_value(ir::Graph& g, const std::string& base, const ir::ValueInfo& info) {
  auto v = g.add_value(g.unique_name(base), info);
  return v.has_value() ? *v : nullptr;  // unique_name makes failure impossible
}

int remove_dead_nodes(ir::Graph& g) {
  int removed = 0;
  bool again = true;
  while (again) {
    again = false;
    std::vector<ir::Node*> nodes = g.nodes();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      ir::Node* n = *it;
      bool used = false;
      for (ir::Value* o : n->outputs())
        if (o && (o->is_graph_output() || !o->users().empty())) used = true;
      if (!used) {
        g.remove_node(n);
        ++removed;
        again = true;
      }
    }
  }
  return removed;
}

}  // namespace kiln::passes

namespace kiln::passes {

Expected<ir::Node*> replace_node_output(ir::Graph& g, ir::Node* n, size_t index, ir::Value* v) {
  if (!n || index >= n->outputs().size())
    return internal_error("replace_node_output: bad output index");
  if (!v || v->producer() || v->is_graph_input() || v->is_initializer())
    return internal_error("replace_node_output: value '" + (v ? v->name() : std::string("?")) +
                          "' cannot become an output of " + n->describe());
  std::vector<ir::Value*> inputs = n->inputs();
  std::vector<ir::Value*> outputs = n->outputs();
  outputs[index] = v;
  std::map<std::string, ir::Attribute> attrs = n->attributes();
  std::string name = n->name(), op = n->op_type(), domain = n->domain();
  g.remove_node(n);
  KILN_ASSIGN_OR_RETURN(ir::Node * m, g.add_node(op, domain, inputs, outputs, name));
  for (auto& [k, a] : attrs) m->set_attr(k, std::move(a));
  return m;
}

Expected<bool> bypass_node(ir::Graph& g, ir::Node* n, ir::Value* in, ir::Value* out) {
  if (!n || !in || !out || in == out) return false;
  if (!out->is_graph_output()) {
    g.replace_all_uses(out, in);
    g.remove_node(n);
    return true;
  }
  ir::Node* p = in->producer();
  if (!p || p == n || in->is_graph_input() || in->is_initializer() || in->is_graph_output())
    return false;
  size_t index = 0;
  while (index < p->outputs().size() && p->outputs()[index] != in) ++index;
  if (index == p->outputs().size())
    return internal_error("value '" + in->name() + "' is not an output of its producer");
  g.remove_node(n);             // `out` loses its producer
  g.replace_all_uses(in, out);  // `in` is no graph output: only node inputs move
  KILN_ASSIGN_OR_RETURN(ir::Node * m, replace_node_output(g, p, index, out));
  (void)m;
  return true;
}

int release_unused_initializers(ir::Graph& g) {
  int n = 0;
  for (ir::Value* v : g.initializers()) {
    if (v->users().empty() && !v->is_graph_output()) {
      g.set_initializer(v, Tensor());
      ++n;
    }
  }
  return n;
}

}  // namespace kiln::passes

namespace kiln::passes {

Expected<std::vector<Tensor>> run_node_on_cpu(const ir::Node& n,
                                              const std::vector<const Tensor*>& inputs,
                                              ThreadPool* pool) {
  cpu::KernelFn fn = cpu::cpu_registry().find(n.domain(), n.op_type(), n.opset());
  if (!fn)
    return unsupported(n.describe() + " has no CPU kernel at opset " + std::to_string(n.opset()));
  cpu::OpContext ctx(n, inputs, pool);
  Status st;
  try {
    st = fn(ctx);
  } catch (const std::bad_alloc&) {
    st = out_of_memory(n.describe() + ": out of memory");
  } catch (const std::exception& e) {
    st = internal_error(n.describe() + ": " + e.what());
  }
  if (st.is_ok() && !ctx.attr_error().is_ok()) st = ctx.attr_error();
  if (!st.is_ok()) return st;
  return std::move(ctx.outputs());
}

}  // namespace kiln::passes
