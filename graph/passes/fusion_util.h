// Helpers shared by the level-2 (extended) fusion passes: matching commutative binary ops,
// reading constants and attributes, and replacing a matched subgraph by one fused node that
// keeps the root's output value (so graph outputs keep their names).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "graph/passes/pass.h"
#include "runtime/core/status.h"

namespace kiln::passes {

inline constexpr const char* kMsDomain = "com.microsoft";

// Makes `g` import com.microsoft version 1 when it does not already.
void ensure_ms_domain(ir::Graph& g);

// For a binary node `n`, the index (0 or 1) of an input produced by `op`, trying input 0 first
// and skipping inputs in `exclude`; -1 when neither is.
int input_from(const ir::Node* n, const std::string& op, const ir::Node* exclude = nullptr);
// The producer of input `i` of `n` when it is `op` (default domain), else nullptr.
ir::Node* input_op(const ir::Node* n, size_t i, const std::string& op);
// The index (0 or 1) of the input of binary `n` that is a constant scalar close to `value`
// (relative tolerance `rtol`); -1 when none.
int scalar_input(const ir::Node* n, double value, double rtol = 1e-3);
// The constant scalar input of binary `n` and its index, when one is.
std::optional<std::pair<int, double>> any_scalar_input(const ir::Node* n);
bool near(double a, double b, double rtol = 1e-3);

std::optional<float> float_attr_of(const ir::Node* n, const std::string& name);
std::optional<int64_t> int_attr_of(const ir::Node* n, const std::string& name);
std::optional<std::vector<int64_t>> ints_attr_of(const ir::Node* n, const std::string& name);
// The axes of a Reduce* node (attribute before opset 18, input from 18); nullopt when they are
// not constant or absent (all axes).
std::optional<std::vector<int64_t>> reduce_axes(const ir::Node* n);
// True when a Reduce* node keeps its dims (keepdims absent or 1).
bool keeps_dims(const ir::Node* n);
// Rank of `v` when known, else -1; the last dim when known, else -1.
int rank_of(const ir::Value* v);
int64_t last_dim(const ir::Value* v);
// True when `axes` is exactly the last axis of a tensor of rank `rank` (-1 unknown: only -1).
bool is_last_axis(const std::vector<int64_t>& axes, int rank);
// The last dim of a MatMul or Gemm output read from its constant 2-D weight (Gemm transB
// honoured); -1 when `v` is not such an output.
int64_t produced_width(const ir::Value* v);
// The one-dimensional shape of a constant, or -1 when `v` is not a 1-D constant.
int64_t const_1d_size(const ir::Value* v);

ir::Attribute make_float_attr(float f);
ir::Attribute make_int_attr(int64_t i);
ir::Attribute make_ints_attr(std::vector<int64_t> v);

// A new initializer named after `base`.
ir::Value* add_constant(ir::Graph& g, const std::string& base, Tensor t);
// Removes `root` and adds a node (op, domain, inputs, attrs) in its place producing root's
// output 0 followed by `extra_outputs` (new values). The subgraph that fed only `root` becomes
// dead and is removed by PatternPass. The new node is named after `root`.
Expected<ir::Node*> replace_with(ir::Graph& g, ir::Node* root, const std::string& op,
                                 const std::string& domain, const std::vector<ir::Value*>& inputs,
                                 const std::vector<std::pair<std::string, ir::Attribute>>& attrs,
                                 const std::vector<ir::Value*>& extra_outputs = {});
// Every value in `vs` (intermediate results of a match) is read only inside the match: used
// once and not a graph output.
bool all_used_once(const std::vector<const ir::Value*>& vs);
// A fusion absorbed a node of op `op` that an earlier fusion counted: one less (the name
// disappears at zero; nothing happens when none was counted, e.g. the model had it already).
void take_back(PassStats& stats, const std::string& op);
// The element type of `v`: its value info's, or, where shape inference gave none (models newer
// than libonnx skip it), the type its producer passes through from a typed input or constant
// (elementwise ops, MatMul, Gemm, reshapes, Gather's table, Cast's `to`, fused ops' input 0).
DType dtype_of(const ir::Value* v);
// True for float32, float16, float64 and bfloat16.
bool is_float_type(DType t);

}  // namespace kiln::passes
