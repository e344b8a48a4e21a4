// Small helpers that graph passes share for matching and rewriting.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph/ir/graph.h"

namespace kiln::passes {

// True when `n` is op_type in the default ONNX domain (or in `domain` when given).
bool is_op(const ir::Node* n, const std::string& op_type, const std::string& domain = "");
// The node producing `v` when it is op_type (default domain), else nullptr.
ir::Node* producer_if(const ir::Value* v, const std::string& op_type);
// The only user of `v` when it has exactly one and is not a graph output, else nullptr.
ir::Node* single_user(const ir::Value* v);
// v has exactly one user and is not a graph output (so its producer may be fused away).
bool used_once(const ir::Value* v);
// The constant tensor behind `v`: an initializer, or the output of a Constant node with a
// `value` attribute. nullptr otherwise.
const Tensor* constant_of(const ir::Value* v);
// A constant scalar (or one-element tensor) of a float or integer type, as double.
std::optional<double> scalar_of(const ir::Value* v);
// A constant integer tensor (int64 or int32) as a vector.
std::optional<std::vector<int64_t>> ints_of(const ir::Value* v);
// The input of `n` that is not `other` (for commutative binary ops), or nullptr.
ir::Value* other_input(const ir::Node* n, const ir::Value* other);
// A new value with a unique name built from `base`, with `info`.
ir::Value* new_value(ir::Graph& g, const std::string& base, const ir::ValueInfo& info);
// Removes nodes none of whose outputs are used (by nodes or graph outputs); returns how many.
int remove_dead_nodes(ir::Graph& g);

}  // namespace kiln::passes

namespace kiln::passes {

// Re-creates `n` so that it produces `v` in place of its output `index` (same name, op,
// attributes and inputs; a new node id, added at the end of the node list: topo_sort() after).
// `v` must have no producer and not be a graph input or an initializer. Returns the new node.
Expected<ir::Node*> replace_node_output(ir::Graph& g, ir::Node* n, size_t index, ir::Value* v);
// Removes `n`, whose output `out` holds the same data as its input `in` (Identity, Dropout in
// inference, a no-op Cast ...): readers of `out` read `in`. When `out` is a graph output its name
// is kept by making in's producer produce `out`. Other outputs of `n` must be unused. Returns
// false (and changes nothing) when it cannot: `out` is a graph output and `in` is a graph input,
// an initializer, another graph output, or produced by `n`.
Expected<bool> bypass_node(ir::Graph& g, ir::Node* n, ir::Value* in, ir::Value* out);
// Drops the constant of initializers that nothing uses any more (no user, not a graph output) so
// their memory is freed; the value stays as an orphan name. Returns how many.
int release_unused_initializers(ir::Graph& g);

}  // namespace kiln::passes

namespace kiln {
class ThreadPool;
}

namespace kiln::passes {

// Runs `n` once on the CPU reference kernel with the given inputs (nullptr for omitted ones) and
// returns its outputs (undefined tensors for outputs the node does not ask for). Any failure
// (no kernel, kernel error, bad attribute, exception) is an error naming the node.
Expected<std::vector<Tensor>> run_node_on_cpu(const ir::Node& n,
                                              const std::vector<const Tensor*>& inputs,
                                              ThreadPool* pool);

}  // namespace kiln::passes
