#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

OpContext::OpContext(const ir::Node& node, std::vector<const Tensor*> inputs, ThreadPool* pool)
    : node_(node), inputs_(std::move(inputs)), outputs_(node.outputs().size()), pool_(pool) {}

bool OpContext::wants_output(size_t i) const {
  return i < node_.outputs().size() && node_.outputs()[i] != nullptr;
}

void OpContext::set_output(size_t i, Tensor t) {
  if (i < outputs_.size()) outputs_[i] = std::move(t);
}

Expected<Tensor*> OpContext::allocate_output(size_t i, DType dtype, const Shape& shape) {
  if (i >= outputs_.size()) return invalid("has no output " + std::to_string(i));
  auto t = Tensor::create(dtype, shape);
  if (!t) return t.status().with_context(node_.describe() + " output " + std::to_string(i));
  outputs_[i] = std::move(*t);
  return &outputs_[i];
}

const ir::Attribute* OpContext::typed_attr(const std::string& name, ir::AttrType t) const {
  const ir::Attribute* a = node_.attr(name);
  if (!a) return nullptr;
  if (a->type != t) {
    if (attr_error_.is_ok())
      attr_error_ = invalid("attribute '" + name + "' has type " + ir::attr_type_name(a->type) +
                            ", expected " + ir::attr_type_name(t));
    return nullptr;
  }
  return a;
}

int64_t OpContext::attr_int(const std::string& name, int64_t def) const {
  const auto* a = typed_attr(name, ir::AttrType::kInt);
  return a ? a->i : def;
}

float OpContext::attr_float(const std::string& name, float def) const {
  const ir::Attribute* a = node_.attr(name);
  if (a && a->type == ir::AttrType::kInt) return static_cast<float>(a->i);  // lenient: 1 vs 1.0
  a = typed_attr(name, ir::AttrType::kFloat);
  return a ? a->f : def;
}

std::string OpContext::attr_string(const std::string& name, const std::string& def) const {
  const auto* a = typed_attr(name, ir::AttrType::kString);
  return a ? a->s : def;
}

std::vector<int64_t> OpContext::attr_ints(const std::string& name,
                                          const std::vector<int64_t>& def) const {
  const auto* a = typed_attr(name, ir::AttrType::kInts);
  return a ? a->ints : def;
}

std::vector<float> OpContext::attr_floats(const std::string& name,
                                          const std::vector<float>& def) const {
  const auto* a = typed_attr(name, ir::AttrType::kFloats);
  return a ? a->floats : def;
}

std::vector<std::string> OpContext::attr_strings(const std::string& name) const {
  const auto* a = typed_attr(name, ir::AttrType::kStrings);
  return a ? a->strings : std::vector<std::string>{};
}

const Tensor* OpContext::attr_tensor(const std::string& name) const {
  const auto* a = typed_attr(name, ir::AttrType::kTensor);
  return a ? &a->t : nullptr;
}

Status OpContext::invalid(const std::string& msg) const {
  return invalid_argument(node_.describe() + ": " + msg);
}
Status OpContext::unsupported_here(const std::string& msg) const {
  return unsupported(node_.describe() + ": " + msg);
}
Status OpContext::runtime(const std::string& msg) const {
  return runtime_error(node_.describe() + ": " + msg);
}

void KernelRegistry::add(const std::string& domain, const std::string& op, KernelFn fn, int since,
                         int until) {
  entries_[{ir::normalize_domain(domain), op}].push_back(Entry{since, until, fn});
}

KernelFn KernelRegistry::find(const std::string& domain, const std::string& op, int opset) const {
  auto it = entries_.find({ir::normalize_domain(domain), op});
  if (it == entries_.end()) return nullptr;
  for (const auto& e : it->second)
    if (opset >= e.since && opset <= e.until) return e.fn;
  return nullptr;
}

bool KernelRegistry::has_op(const std::string& domain, const std::string& op) const {
  return entries_.count({ir::normalize_domain(domain), op}) > 0;
}

std::vector<std::pair<std::string, std::string>> KernelRegistry::ops() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : entries_) out.push_back(k);
  return out;
}

const KernelRegistry& cpu_registry() {
  static const KernelRegistry reg = [] {
    KernelRegistry r;
    register_elementwise_kernels(r);
    register_reduction_kernels(r);
    register_shape_kernels(r);
    register_linalg_kernels(r);
    register_nn_kernels(r);
    register_quant_kernels(r);
    register_contrib_kernels(r);
    register_fused_kernels(r);
    return r;
  }();
  return reg;
}

}  // namespace kiln::cpu
