// The CPU reference path's kernel interface. A kernel is a function over an OpContext: it reads
// the node's inputs and attributes, allocates its outputs and fills them. Kernels follow the
// ONNX specification to the letter (including opset-dependent semantics) and are registered
// per (domain, op, opset range) in a KernelRegistry.
#pragma once

#include <climits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"

namespace kiln::cpu {

class OpContext {
 public:
  OpContext(const ir::Node& node, std::vector<const Tensor*> inputs, ThreadPool* pool);

  const ir::Node& node() const { return node_; }
  // Opset version in force for the node's domain.
  int opset() const { return node_.opset(); }

  // Inputs as the node declares them, omitted optional ones included.
  size_t num_inputs() const { return inputs_.size(); }
  // True when input i exists and was not omitted (empty name in ONNX).
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // Precondition: has_input(i).
  const Tensor& input(size_t i) const { return *inputs_[i]; }

  size_t num_outputs() const { return outputs_.size(); }
  // True when the node asks for output i.
  bool wants_output(size_t i) const;
  void set_output(size_t i, Tensor t);
  // Allocates output i (zero-filled) and returns it; the error names the node.
  Expected<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape);
  std::vector<Tensor>& outputs() { return outputs_; }

  // Attributes. A present attribute of the wrong type is recorded as an error that the
  // executor reports after the kernel returns; the getters then return the default.
  bool has_attr(const std::string& name) const { return node_.attr(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t def) const;
  float attr_float(const std::string& name, float def) const;
  std::string attr_string(const std::string& name, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& name,
                                 const std::vector<int64_t>& def = {}) const;
  std::vector<float> attr_floats(const std::string& name, const std::vector<float>& def = {}) const;
  std::vector<std::string> attr_strings(const std::string& name) const;
  const Tensor* attr_tensor(const std::string& name) const;
  const Status& attr_error() const { return attr_error_; }

  ThreadPool& pool() const { return *pool_; }
  // Deterministic parallel loop over [0, n) (see ThreadPool::parallel_for).
  template <typename F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) const {
    pool_->parallel_for(n, grain, std::forward<F>(fn));
  }

  // Errors that name the node: "node 'x' (Op): msg".
  Status invalid(const std::string& msg) const;           // bad attribute / input for this op
  Status unsupported_here(const std::string& msg) const;  // legal ONNX kiln does not run
  Status runtime(const std::string& msg) const;           // data-dependent failure (bad index ...)

 private:
  const ir::Attribute* typed_attr(const std::string& name, ir::AttrType t) const;

  const ir::Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  ThreadPool* pool_;
  mutable Status attr_error_;
};

using KernelFn = Status (*)(OpContext&);

class KernelRegistry {
 public:
  // Registers fn for opsets [since, until] of (domain, op). Domain "" is ai.onnx.
  void add(const std::string& domain, const std::string& op, KernelFn fn, int since = 1,
           int until = INT_MAX);
  // nullptr when no kernel covers this opset.
  KernelFn find(const std::string& domain, const std::string& op, int opset) const;
  bool has_op(const std::string& domain, const std::string& op) const;
  // Every registered (domain, op).
  std::vector<std::pair<std::string, std::string>> ops() const;

 private:
  struct Entry {
    int since, until;
    KernelFn fn;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Entry>> entries_;
};

// The registry holding every CPU kernel (built on first use).
const KernelRegistry& cpu_registry();

// One per op family (runtime/cpu/ops/*.cpp); cpu_registry() calls each.
void register_elementwise_kernels(KernelRegistry& r);
void register_reduction_kernels(KernelRegistry& r);
void register_shape_kernels(KernelRegistry& r);
void register_linalg_kernels(KernelRegistry& r);
void register_nn_kernels(KernelRegistry& r);
void register_quant_kernels(KernelRegistry& r);
void register_contrib_kernels(KernelRegistry& r);  // com.microsoft (ONNX Runtime contrib ops)
void register_fused_kernels(KernelRegistry& r);    // ai.kiln FusedElementwise (level 99)

}  // namespace kiln::cpu
