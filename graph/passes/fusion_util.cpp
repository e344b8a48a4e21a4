// Helpers shared by the level-2 fusion passes (see fusion_util.h).
#include "graph/passes/fusion_util.h"

#include <cmath>

#include "graph/passes/util.h"
#include "runtime/core/dtype.h"

namespace kiln::passes {

void ensure_ms_domain(ir::Graph& g) {
  if (g.opset(kMsDomain) <= 0) g.opsets()[kMsDomain] = 1;
}

ir::Node* input_op(const ir::Node* n, size_t i, const std::string& op) {
  if (!n) return nullptr;
  return producer_if(n->input(i), op);
}

int input_from(const ir::Node* n, const std::string& op, const ir::Node* exclude) {
  if (!n) return -1;
  for (size_t i = 0; i < 2 && i < n->inputs().size(); ++i) {
    ir::Node* p = input_op(n, i, op);
    if (p && p != exclude) return static_cast<int>(i);
  }
  return -1;
}

bool near(double a, double b, double rtol) {
  return std::fabs(a - b) <= rtol * std::max(std::fabs(a), std::fabs(b)) + 1e-12;
}

int scalar_input(const ir::Node* n, double value, double rtol) {
  if (!n || n->inputs().size() != 2) return -1;
  for (int i = 0; i < 2; ++i) {
    std::optional<double> s = scalar_of(n->input(i));
    if (s && near(*s, value, rtol)) return i;
  }
  return -1;
}

std::optional<std::pair<int, double>> any_scalar_input(const ir::Node* n) {
  if (!n || n->inputs().size() != 2) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    std::optional<double> s = scalar_of(n->input(i));
    if (s) return std::make_pair(i, *s);
  }
  return std::nullopt;
}

std::optional<float> float_attr_of(const ir::Node* n, const std::string& name) {
  const ir::Attribute* a = n ? n->attr(name) : nullptr;
  if (!a || a->type != ir::AttrType::kFloat) return std::nullopt;
  return a->f;
}

std::optional<int64_t> int_attr_of(const ir::Node* n, const std::string& name) {
  const ir::Attribute* a = n ? n->attr(name) : nullptr;
  if (!a || a->type != ir::AttrType::kInt) return std::nullopt;
  return a->i;
}

std::optional<std::vector<int64_t>> ints_attr_of(const ir::Node* n, const std::string& name) {
  const ir::Attribute* a = n ? n->attr(name) : nullptr;
  if (!a || a->type != ir::AttrType::kInts) return std::nullopt;
  return a->ints;
}

std::optional<std::vector<int64_t>> reduce_axes(const ir::Node* n) {
  if (!n) return std::nullopt;
  if (auto a = ints_attr_of(n, "axes")) return a;
  if (n->inputs().size() >= 2 && n->input(1)) return ints_of(n->input(1));
  return std::nullopt;
}

bool keeps_dims(const ir::Node* n) {
  auto k = int_attr_of(n, "keepdims");
  return !k || *k == 1;
}

int rank_of(const ir::Value* v) {
  if (!v || !v->info().has_shape) return -1;
  return static_cast<int>(v->info().dims.size());
}

int64_t last_dim(const ir::Value* v) {
  if (rank_of(v) <= 0) return -1;
  const ir::Dim& d = v->info().dims.back();
  return d.known() ? d.value : -1;
}

bool is_last_axis(const std::vector<int64_t>& axes, int rank) {
  if (axes.size() != 1) return false;
  if (axes[0] == -1) return true;
  return rank > 0 && axes[0] == rank - 1;
}

int64_t produced_width(const ir::Value* v) {
  ir::Node* p = v ? v->producer() : nullptr;
  if (!p || v != p->output(0) || p->inputs().size() < 2) return -1;
  const Tensor* w = constant_of(p->input(1));
  if (!w || w->rank() != 2) return -1;
  if (is_op(p, "MatMul")) return w->shape()[1];
  if (is_op(p, "Gemm")) return int_attr_of(p, "transB").value_or(0) ? w->shape()[0] : w->shape()[1];
  return -1;
}

int64_t const_1d_size(const ir::Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->rank() != 1) return -1;
  return t->shape()[0];
}

ir::Attribute make_float_attr(float f) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloat;
  a.f = f;
  return a;
}

ir::Attribute make_int_attr(int64_t i) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = i;
  return a;
}

ir::Attribute make_ints_attr(std::vector<int64_t> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInts;
  a.ints = std::move(v);
  return a;
}

ir::Value* add_constant(ir::Graph& g, const std::string& base, Tensor t) {
  auto v = g.add_initializer(g.unique_name(base), std::move(t));
  return v.has_value() ? *v : nullptr;
}

Expected<ir::Node*> replace_with(ir::Graph& g, ir::Node* root, const std::string& op,
                                 const std::string& domain, const std::vector<ir::Value*>& inputs,
                                 const std::vector<std::pair<std::string, ir::Attribute>>& attrs,
                                 const std::vector<ir::Value*>& extra_outputs) {
  if (ir::normalize_domain(domain) == kMsDomain) ensure_ms_domain(g);
  ir::Value* out = root->output(0);
  std::string name = root->name().empty() ? op : root->name();
  g.remove_node(root);
  std::vector<ir::Value*> outs{out};
  outs.insert(outs.end(), extra_outputs.begin(), extra_outputs.end());
  KILN_ASSIGN_OR_RETURN(ir::Node * n, g.add_node(op, domain, inputs, outs, name));
  for (const auto& [k, a] : attrs) n->set_attr(k, a);
  return n;
}

bool all_used_once(const std::vector<const ir::Value*>& vs) {
  for (const ir::Value* v : vs)
    if (!used_once(v)) return false;
  return true;
}

void take_back(PassStats& stats, const std::string& op) {
  auto it = stats.counts.find(op);
  if (it == stats.counts.end() || it->second <= 0) return;
  if (--it->second == 0) stats.counts.erase(it);
}

namespace {

DType dtype_of_depth(const ir::Value* v, int depth) {
  if (!v) return DType::kUndefined;
  if (v->info().dtype != DType::kUndefined) return v->info().dtype;
  if (const Tensor* t = constant_of(v)) return t->dtype();
  ir::Node* p = v->producer();
  if (!p || depth > 64 || p->output(0) != v) return DType::kUndefined;
  // com.microsoft EmbedLayerNormalization's output 0 has its embedding tables' type (input 0
  // holds the token ids).
  if (p->domain() == "com.microsoft" && p->op_type() == "EmbedLayerNormalization")
    return p->inputs().size() > 2 ? dtype_of_depth(p->input(2), depth + 1) : DType::kUndefined;
  if (is_op(p, "Cast")) {
    auto to = int_attr_of(p, "to");
    if (!to) return DType::kUndefined;
    return dtype_from_onnx(static_cast<int32_t>(*to)).value_or(DType::kUndefined);
  }
  static const char* kPassThrough[] = {"Add",        "Sub",
                                       "Mul",        "Div",
                                       "MatMul",     "Gemm",
                                       "Relu",       "Tanh",
                                       "Erf",        "Sqrt",
                                       "Pow",        "Neg",
                                       "Transpose",  "Reshape",
                                       "Squeeze",    "Unsqueeze",
                                       "Softmax",    "Identity",
                                       "Where",      "Expand",
                                       "Flatten",    "LayerNormalization",
                                       "Reciprocal", "Sigmoid",
                                       "Concat",     "Split",
                                       "Slice",      "Gather",
                                       "ReduceMean", "Max",
                                       "Min",        "Abs"};
  bool known = !p->domain().empty();  // com.microsoft fused ops keep input 0's type
  for (const char* op : kPassThrough) known = known || is_op(p, op);
  if (!known) return DType::kUndefined;
  // Where's condition and shape-like inputs (indices, axes, sizes) do not carry the type.
  const size_t first = is_op(p, "Where") ? 1 : 0;
  const size_t last = is_op(p, "Gather") || is_op(p, "Pow") || is_op(p, "Reshape") ||
                              is_op(p, "Expand") || is_op(p, "Slice") || is_op(p, "Squeeze") ||
                              is_op(p, "Unsqueeze") || is_op(p, "ReduceMean") ||
                              is_op(p, "Split") || !p->domain().empty()
                          ? 1
                          : p->inputs().size();
  // A typed or constant input first; else follow one input (a single path: linear time).
  for (size_t i = first; i < last && i < p->inputs().size(); ++i) {
    const ir::Value* in = p->input(i);
    if (in && in->info().dtype != DType::kUndefined) return in->info().dtype;
    if (const Tensor* t = constant_of(in)) return t->dtype();
  }
  for (size_t i = first; i < last && i < p->inputs().size(); ++i)
    if (p->input(i)) return dtype_of_depth(p->input(i), depth + 1);
  return DType::kUndefined;
}

}  // namespace

DType dtype_of(const ir::Value* v) {
  return dtype_of_depth(v, 0);
}

bool is_float_type(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kFloat64 ||
         t == DType::kBFloat16;
}

}  // namespace kiln::passes
