// OpCase: one op invocation described as data (op, opset, attributes, inputs with shapes, dtypes
// and value generators, tolerance). The same list drives the device-vs-CPU tests on every
// backend (tests/unit/device_ops_test.cpp) and the kernel benchmarks (bench/).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/tensor.h"

namespace kiln::testing {

struct InputSpec {
  DType dtype = DType::kFloat32;
  Shape shape;
  // Values: uniform in [lo, hi) (integers: lo..hi-1; bool: random), unless `values` is set.
  double lo = -1.0, hi = 1.0;
  std::vector<double> values;  // explicit values (numel must match)
  bool constant = false;       // an initializer rather than a graph input
  bool omitted = false;        // an omitted optional input
};

struct OpCase {
  std::string name;  // unique: "Add/bcast_13x1"
  std::string op;
  std::string domain;  // "" for ai.onnx
  int opset = 17;
  std::map<std::string, ir::Attribute> attrs;
  std::vector<InputSpec> inputs;
  int num_outputs = 1;
  double atol = 1e-5, rtol = 1e-5;
  // Backends ("opencl", "vulkan") whose kernel for this op refuses this form on purpose (its
  // supports() says why): there the case may run on the CPU path, and must still match.
  std::vector<std::string> cpu_ok_on;
};

// Attribute helpers.
ir::Attribute attr_i(int64_t v);
ir::Attribute attr_f(float v);
ir::Attribute attr_s(const std::string& v);
ir::Attribute attr_ints(std::vector<int64_t> v);
ir::Attribute attr_floats(std::vector<float> v);

// Input helpers.
InputSpec in_f32(Shape s, double lo = -1, double hi = 1);
InputSpec in_i64(Shape s, int64_t lo, int64_t hi);
InputSpec in_bool(Shape s);
InputSpec const_i64(std::vector<int64_t> values);  // a 1-D int64 initializer
InputSpec const_f32(Shape s, double lo = -1, double hi = 1);
InputSpec omitted();

// Cases per op family (tests/opcases/cases_<family>.cpp), and all of them.
std::vector<OpCase> elementwise_cases();
std::vector<OpCase> matmul_cases();
std::vector<OpCase> reduce_cases();
std::vector<OpCase> data_cases();
std::vector<OpCase> nn_cases();
std::vector<OpCase> contrib_cases();
std::vector<OpCase> quant_cases();          // cases_quant.cpp: int8 ops
std::vector<OpCase> qconv_cases();          // cases_qconv.cpp: ConvInteger, QLinearConv
std::vector<OpCase> nn_extra_cases();       // cases_nn_extra.cpp
std::vector<OpCase> data_extra_cases();     // cases_data_extra.cpp
std::vector<OpCase> contrib_extra_cases();  // cases_contrib_extra.cpp
std::vector<OpCase> fp16_cases();           // cases_fp16.cpp: float16 storage variants
std::vector<OpCase> fused_cases();          // cases_fused.cpp: ai.kiln FusedElementwise
const std::vector<OpCase>& all_op_cases();

// A one-node graph for the case, and deterministic feeds (seeded by the case name).
struct BuiltCase {
  std::unique_ptr<ir::Graph> graph;
  std::map<std::string, Tensor> feeds;
};
BuiltCase build_case(const OpCase& c);

}  // namespace kiln::testing
