// Helpers shared by the CPU kernel unit tests (tests/unit/cpu_*_test.cpp): attribute and tensor
// makers, running one node through cpu::Executor, and checks of results and of errors that must
// name the node. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"

namespace kiln::testing {

// --- attributes ------------------------------------------------------------------------------

inline ir::Attribute int_attr(int64_t v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = v;
  return a;
}
inline ir::Attribute float_attr(float f) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloat;
  a.f = f;
  return a;
}
inline ir::Attribute str_attr(std::string s) {
  ir::Attribute a;
  a.type = ir::AttrType::kString;
  a.s = std::move(s);
  return a;
}
inline ir::Attribute ints_attr(std::vector<int64_t> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInts;
  a.ints = std::move(v);
  return a;
}
inline ir::Attribute floats_attr(std::vector<float> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloats;
  a.floats = std::move(v);
  return a;
}
inline ir::Attribute tensor_attr(Tensor t) {
  ir::Attribute a;
  a.type = ir::AttrType::kTensor;
  a.t = std::move(t);
  return a;
}

using AttrMap = std::map<std::string, ir::Attribute>;

// --- running one node ------------------------------------------------------------------------

// The node every helper below builds is named this; errors must contain kNodeNamed.
inline constexpr const char* kNodeName = "n";
inline constexpr const char* kNodeNamed = "node 'n'";

struct RunOptions {
  int n_outputs = 1;
  int threads = 2;
  bool declare_shapes = false;  // declare each graph input with its fed shape
};

// Runs one node named kNodeName in a graph of opset `opset` (default domain) on the CPU
// executor. An undefined Tensor in `inputs` is an omitted optional input.
inline Expected<std::vector<Tensor>> run_node(const std::string& op, int opset,
                                              const std::vector<Tensor>& inputs,
                                              const AttrMap& attrs, const RunOptions& opt) {
  ir::Graph g;
  g.opsets()[""] = opset;
  std::vector<ir::Value*> ins, outs;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    ir::ValueInfo info{inputs[i].dtype(), false, {}};
    if (opt.declare_shapes) {
      info.has_shape = true;
      for (int64_t d : inputs[i].shape()) info.dims.push_back(ir::Dim{d, ""});
    }
    const std::string name = "in" + std::to_string(i);
    ir::Value* v = *g.add_value(name, info);
    g.add_input(v);
    feeds[name] = inputs[i];
    ins.push_back(v);
  }
  for (int i = 0; i < opt.n_outputs; ++i) outs.push_back(*g.add_value("out" + std::to_string(i)));
  auto node = g.add_node(op, "", ins, outs, kNodeName);
  if (!node) return node.status();
  for (const auto& [k, a] : attrs) (*node)->set_attr(k, a);
  for (ir::Value* v : outs) g.add_output(v);
  cpu::Executor ex(g, opt.threads);
  return ex.run(feeds);
}

inline Expected<std::vector<Tensor>> run_op(const std::string& op, int opset,
                                            const std::vector<Tensor>& inputs,
                                            const AttrMap& attrs = {}, int n_outputs = 1,
                                            int threads = 2) {
  return run_node(op, opset, inputs, attrs, RunOptions{n_outputs, threads, false});
}

// --- tensors ---------------------------------------------------------------------------------

template <typename T>
Tensor make(const Shape& s, std::vector<T> v) {
  return Tensor::from_vector<T>(s, v);
}
inline Tensor f32(const Shape& s, std::vector<float> v) {
  return make<float>(s, std::move(v));
}
inline Tensor i32(const Shape& s, std::vector<int32_t> v) {
  return make<int32_t>(s, std::move(v));
}
inline Tensor i64(const Shape& s, std::vector<int64_t> v) {
  return make<int64_t>(s, std::move(v));
}
inline Tensor u8(const Shape& s, std::vector<uint8_t> v) {
  return make<uint8_t>(s, std::move(v));
}
inline Tensor s8(const Shape& s, std::vector<int8_t> v) {
  return make<int8_t>(s, std::move(v));
}
// 1-D tensors.
inline Tensor f32v(std::vector<float> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return f32(s, std::move(v));
}
inline Tensor i32v(std::vector<int32_t> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return i32(s, std::move(v));
}
inline Tensor i64v(std::vector<int64_t> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return i64(s, std::move(v));
}
inline Tensor boolv(std::vector<bool> v) {
  Tensor t = Tensor::create(DType::kBool, {static_cast<int64_t>(v.size())}).value();
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}

// The elements of t as doubles.
inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.get_as_double(i));
  return v;
}

// --- checks ----------------------------------------------------------------------------------

// Expects success and returns output 0.
inline Tensor ok1(const Expected<std::vector<Tensor>>& r) {
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  if (!r.has_value()) return Tensor();
  return r.value()[0];
}

// Expects success with output 0 of the given shape and exactly the given values.
inline void expect_result(const Expected<std::vector<Tensor>>& r, const Shape& shape,
                          const std::vector<double>& want) {
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  const Tensor& y = (*r)[0];
  EXPECT_EQ(shape_to_string(y.shape()), shape_to_string(shape));
  EXPECT_EQ(values(y), want);
}

// Expects success with output `output` of the given dtype, shape and exactly the given values.
inline void expect_result(const Expected<std::vector<Tensor>>& r, DType dtype, const Shape& shape,
                          const std::vector<double>& want, size_t output = 0) {
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  const Tensor& y = (*r)[output];
  EXPECT_EQ(dtype_name(y.dtype()), std::string(dtype_name(dtype)));
  EXPECT_EQ(shape_to_string(y.shape()), shape_to_string(shape));
  EXPECT_EQ(values(y), want);
}

// Expects a failure whose message names the node and, when `fragment` is not empty, contains it.
inline void expect_node_error(const Expected<std::vector<Tensor>>& r,
                              const std::string& fragment = "") {
  ASSERT_FALSE(r.has_value());
  const std::string msg = r.status().message();
  EXPECT_NE(msg.find(kNodeNamed), std::string::npos) << msg;
  if (!fragment.empty()) {
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

// expect_node_error with a status code (by default InvalidArgument).
inline void expect_error(const Expected<std::vector<Tensor>>& r, const std::string& needle,
                         StatusCode code = StatusCode::kInvalidArgument) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  expect_node_error(r, needle);
}

}  // namespace kiln::testing
