// Profiles: work estimates, per-kernel summaries, Chrome traces, and per-node profiles of real
// runs on the CPU path and on OpenCL (consistency only: no timing assertions).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/opencl/opencl_backend.h"
#include "runtime/profile.h"
#include "runtime/session.h"

namespace kiln {
namespace {

const std::string kModel = std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx";

// A detached node of `op` (the graph owns it; kept alive by the static graph).
const ir::Node& node_of(ir::Graph& g, const std::string& op, int n_inputs) {
  std::vector<ir::Value*> ins;
  for (int i = 0; i < n_inputs; ++i) ins.push_back(*g.add_value(g.unique_name("in")));
  ir::Value* out = *g.add_value(g.unique_name("out"));
  return **g.add_node(op, "", ins, {out}, g.unique_name(op));
}

TEST(Profile, FlopsOfTheHeavyOps) {
  ir::Graph g;
  // [2, 13, 64] x [64, 32] -> [2, 13, 32]: 2 * 2*13*32 * 64.
  EXPECT_DOUBLE_EQ(node_flops(node_of(g, "MatMul", 2), {{2, 13, 64}, {64, 32}}, {{2, 13, 32}}),
                   2.0 * 2 * 13 * 32 * 64);
  EXPECT_DOUBLE_EQ(node_flops(node_of(g, "Gemm", 3), {{7, 5}, {5, 3}, {3}}, {{7, 3}}),
                   2.0 * 7 * 3 * 5);
  // Conv 1x3x8x8 with 4x3x3x3 weights, output 1x4x6x6: 2 * 144 outputs * 27.
  EXPECT_DOUBLE_EQ(node_flops(node_of(g, "Conv", 2), {{1, 3, 8, 8}, {4, 3, 3, 3}}, {{1, 4, 6, 6}}),
                   2.0 * 144 * 27);
  EXPECT_DOUBLE_EQ(node_flops(node_of(g, "Transpose", 1), {{4, 5}}, {{5, 4}}), 0.0);
  EXPECT_DOUBLE_EQ(node_flops(node_of(g, "Add", 2), {{4, 5}, {5}}, {{4, 5}}), 20.0);
}

TEST(Profile, SummaryOrdersByTimeAndSharesSumToOne) {
  RunProfile r;
  r.run_us = 100;
  r.events.push_back({"a", "MatMul", "gemm_nn", "opencl:0", 0, 30, 3e6, 1e3});
  r.events.push_back({"b", "Add", "cpu", "cpu", 30, 10, 0, 0});
  r.events.push_back({"c", "MatMul", "gemm_nn", "opencl:0", 40, 50, 5e6, 1e3});
  auto k = summarize_kernels({r, r});
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].name, "gemm_nn");
  EXPECT_EQ(k[0].calls, 4);
  EXPECT_NEAR(k[0].total_ms, 0.16, 1e-12);
  EXPECT_NEAR(k[0].gflops, 16e6 / 160e-6 / 1e9, 1e-9);
  EXPECT_EQ(k[1].name, "cpu:Add");
  EXPECT_NEAR(k[0].share + k[1].share, 1.0, 1e-12);
  EXPECT_TRUE(summarize_kernels({}).empty());
}

TEST(Profile, ChromeTraceIsValidJsonWithEvents) {
  RunProfile r;
  r.run_us = 50;
  r.events.push_back({"n\"ode", "MatMul", "gemm_nn", "opencl:0 (pocl)", 1, 20, 1e6, 10});
  r.events.push_back({"m", "Add", "cpu", "cpu", 21, 5, 0, 0});
  const std::string path = ::testing::TempDir() + "/kiln_trace_test.json";
  ASSERT_TRUE(write_chrome_trace(path, {r, r}).is_ok());
  std::ifstream f(path);
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  int complete = 0;
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "X") {
      ++complete;
      EXPECT_GE(e["dur"].get<double>(), 0.0);
    }
  EXPECT_EQ(complete, 2 + 4);  // one per run + one per event
  std::remove(path.c_str());
  EXPECT_FALSE(write_chrome_trace("/nonexistent-dir/x.json", {r}).is_ok());
}

std::map<std::string, Tensor> feeds(int64_t seq) {
  Tensor ids = Tensor::create(DType::kInt64, {1, seq}).value();
  Tensor mask = Tensor::create(DType::kInt64, {1, seq}).value();
  for (int64_t i = 0; i < seq; ++i) {
    ids.data<int64_t>()[i] = (i * 31 + 3) % 1000;
    mask.data<int64_t>()[i] = 1;
  }
  return {{"input_ids", ids}, {"attention_mask", mask}};
}

void check_profile(const std::string& device) {
  SessionOptions o;
  o.device = device;
  o.profiling = true;
  auto s = Session::load(kModel, o);
  ASSERT_TRUE(s.has_value()) << s.status().to_string();
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE((*s)->run(feeds(9)).has_value());
    RunProfile p = (*s)->last_profile();
    EXPECT_EQ(p.events.size(), (*s)->graph().num_nodes());
    double sum = 0, prev_end = 0;
    for (const ProfileEvent& e : p.events) {
      EXPECT_GE(e.dur_us, 0.0) << e.node;
      EXPECT_GE(e.start_us + 1e-6, prev_end) << e.node << ": events overlap";
      prev_end = e.start_us + e.dur_us;
      sum += e.dur_us;
    }
    EXPECT_LE(sum, p.run_us + 1e-6);
    EXPECT_LE(prev_end, p.run_us + 1e-6);
  }
  (*s)->set_profiling(false);
  ASSERT_TRUE((*s)->run(feeds(9)).has_value());
}

TEST(Profile, CpuSessionProfilesEveryNode) {
  check_profile("cpu");
}

TEST(Profile, OpenClSessionProfilesEveryNode) {
  if (!opencl::OpenClBackend::create("opencl")) GTEST_SKIP() << "no OpenCL device";
  check_profile("opencl");
}

}  // namespace
}  // namespace kiln
