// The kiln IR: a Graph of Nodes connected by SSA Values. Each Value has exactly one producer
// (a Node, a graph input, or an initializer) and any number of users. Values carry a ValueInfo
// (dtype + possibly symbolic shape); initializers also carry their constant Tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::ir {

// One dimension of a symbolic shape: a known size, a named parameter, or unknown.
struct Dim {
  int64_t value = -1;  // >= 0 when known
  std::string param;   // symbolic name when value < 0 (may be empty: unknown)
  bool known() const { return value >= 0; }
};

struct ValueInfo {
  DType dtype = DType::kUndefined;
  bool has_shape = false;  // false: rank unknown
  std::vector<Dim> dims;
  std::string to_string() const;  // "float32[batch, 128]"
};

enum class AttrType { kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors };
const char* attr_type_name(AttrType t);

struct Attribute {
  AttrType type = AttrType::kInt;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
};

class Node;

class Value {
 public:
  int id() const { return id_; }
  const std::string& name() const { return name_; }
  const ValueInfo& info() const { return info_; }
  ValueInfo& mutable_info() { return info_; }
  Node* producer() const { return producer_; }
  const std::vector<Node*>& users() const { return users_; }
  bool is_initializer() const { return initializer_.defined(); }
  const Tensor& initializer() const { return initializer_; }
  bool is_graph_input() const { return is_graph_input_; }
  bool is_graph_output() const { return is_graph_output_; }

 private:
  friend class Graph;
  int id_ = -1;
  std::string name_;
  ValueInfo info_;
  Node* producer_ = nullptr;
  std::vector<Node*> users_;
  Tensor initializer_;
  bool is_graph_input_ = false;
  bool is_graph_output_ = false;
};

class Node {
 public:
  int id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& op_type() const { return op_type_; }
  // "" for the default ONNX domain (also written "ai.onnx").
  const std::string& domain() const { return domain_; }
  // The opset version in force for this node's domain.
  int opset() const { return opset_; }
  // Inputs in order; nullptr marks an omitted optional input.
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }
  const std::map<std::string, Attribute>& attributes() const { return attrs_; }
  const Attribute* attr(const std::string& name) const;
  void set_attr(const std::string& name, Attribute a) { attrs_[name] = std::move(a); }
  // "node 'name' (Op)" for error messages.
  std::string describe() const;

 private:
  friend class Graph;
  int id_ = -1;
  std::string name_;
  std::string op_type_;
  std::string domain_;
  int opset_ = 0;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::map<std::string, Attribute> attrs_;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Values -------------------------------------------------------------------------------------
  // Creates a new value; names must be unique and non-empty.
  Expected<Value*> add_value(const std::string& name, ValueInfo info = {});
  Value* find_value(const std::string& name) const;
  Expected<Value*> add_initializer(const std::string& name, Tensor t);
  void set_initializer(Value* v, Tensor t);
  void add_input(Value* v);
  void add_output(Value* v);
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  std::vector<Value*> initializers() const;
  // A name not yet used, built from `base`.
  std::string unique_name(const std::string& base);

  // Nodes --------------------------------------------------------------------------------------
  // Adds a node at the end of the node list. Outputs must not already have a producer.
  Expected<Node*> add_node(const std::string& op_type, const std::string& domain,
                           const std::vector<Value*>& inputs, const std::vector<Value*>& outputs,
                           const std::string& name = "");
  // Removes a node; its outputs lose their producer (they must be unused or rewired first).
  void remove_node(Node* n);
  // Replaces every use of `from` (node inputs and graph outputs) with `to`.
  void replace_all_uses(Value* from, Value* to);
  void set_node_input(Node* n, size_t i, Value* v);
  // Nodes in list order (topological after import or topo_sort()).
  std::vector<Node*> nodes() const;
  size_t num_nodes() const { return nodes_.size(); }
  size_t num_values() const { return values_.size(); }

  // Orders the node list topologically; an error names a node on a cycle.
  Status topo_sort();
  // Checks the invariants: unique producers, no undefined values, acyclic, list in topological
  // order, users lists consistent, initializer dtype/shape equal to the value info.
  Status verify() const;
  // A readable text dump: inputs, initializers (shapes only), one line per node, outputs.
  std::string dump() const;

  // Opset imports: domain ("" for ONNX) -> version.
  std::map<std::string, int>& opsets() { return opsets_; }
  const std::map<std::string, int>& opsets() const { return opsets_; }
  int opset(const std::string& domain) const;

  std::string name;

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::map<std::string, Value*> by_name_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::map<std::string, int> opsets_;
  int next_node_id_ = 0;
  int next_value_id_ = 0;
  int64_t unique_counter_ = 0;
};

// "" and "ai.onnx" both mean the default ONNX domain.
inline std::string normalize_domain(const std::string& d) {
  return d == "ai.onnx" ? "" : d;
}

}  // namespace kiln::ir
