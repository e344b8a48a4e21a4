// Profiles: work estimates, per-kernel summaries with roofline shares, measured peaks and their
// cache, Chrome traces, and per-node profiles of real runs on the CPU path and on OpenCL
// (consistency only: no timing assertions).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
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

TEST(Profile, BytesLeaveOutWhatIsNeverTouched) {
  ir::Graph g;
  Tensor x = Tensor::create(DType::kFloat32, {4, 8}).value();
  Tensor y = Tensor::create(DType::kFloat32, {4, 8}).value();
  Tensor shape = Tensor::create(DType::kInt64, {2}).value();
  // Add reads two inputs and writes one output, also in place over an input.
  EXPECT_DOUBLE_EQ(make_event(node_of(g, "Add", 2), {&x, &y}, {&y}, 0, 1).bytes, 3 * 128.0);
  // Shape reads no data: only its output counts.
  EXPECT_DOUBLE_EQ(make_event(node_of(g, "Shape", 1), {&x}, {&shape}, 0, 1).bytes, 16.0);
  // A zero-copy Reshape (the output shares the input's bytes) moves nothing but its shape input.
  Tensor view = x;
  EXPECT_DOUBLE_EQ(make_event(node_of(g, "Reshape", 2), {&x, &shape}, {&view}, 0, 1).bytes, 16.0);
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

TEST(Profile, RooflineShareIsRooflineTimeOverMeasuredTime) {
  DevicePeaks pk;
  pk.gflops = 100;  // 100 GFLOP/s
  pk.gbytes_s = 50;
  pk.bandwidth = {{1e5, 50}, {1e6, 40}, {1e8, 10}};
  // bandwidth_for: the best figure at working sets of at least bytes / 2.
  EXPECT_DOUBLE_EQ(pk.bandwidth_for(1e4), 50);
  EXPECT_DOUBLE_EQ(pk.bandwidth_for(2e5), 50);  // 1e5 >= 2e5 / 2
  EXPECT_DOUBLE_EQ(pk.bandwidth_for(3e5), 40);
  EXPECT_DOUBLE_EQ(pk.bandwidth_for(5e7), 10);
  EXPECT_DOUBLE_EQ(pk.bandwidth_for(1e9), 10);  // beyond the largest size measured
  RunProfile r;
  r.run_us = 1000;
  // Compute-bound: 1e6 flops, 1e4 bytes (intensity 100): roof 100 GFLOP/s -> 10 us; took 20 us.
  r.events.push_back({"a", "MatMul", "gemm", "dev", 0, 20, 1e6, 1e4});
  // Memory-bound: 1e3 flops, 2e6 bytes at 40 GB/s -> 50 us; took 100 us.
  r.events.push_back({"b", "Add", "binary", "dev", 20, 100, 1e3, 2e6});
  // No arithmetic: 3e5 bytes at 40 GB/s -> 7.5 us; took 10 us.
  r.events.push_back({"c", "Transpose", "transpose", "dev", 120, 10, 0, 3e5});
  // A track without peaks gets no share.
  r.events.push_back({"d", "Shape", "cpu", "cpu", 130, 1, 0, 8});
  auto k = summarize_kernels({r}, {{"dev", pk}});
  std::map<std::string, KernelSummary> by;
  for (const auto& s : k) by[s.name] = s;
  EXPECT_NEAR(by["gemm"].roofline, 0.5, 1e-12);
  EXPECT_NEAR(by["binary"].roofline, 0.5, 1e-12);
  EXPECT_NEAR(by["transpose"].roofline, 0.75, 1e-12);
  EXPECT_EQ(by["cpu:Shape"].roofline, -1);
  // Two calls: the roofline times add up (10 + 10 us over 20 + 40 us).
  RunProfile r2;
  r2.events.push_back({"a", "MatMul", "gemm", "dev", 0, 20, 1e6, 1e4});
  r2.events.push_back({"a", "MatMul", "gemm", "dev", 20, 40, 1e6, 1e4});
  EXPECT_NEAR(summarize_kernels({r2}, {{"dev", pk}})[0].roofline, 20.0 / 60.0, 1e-12);
  // Without peaks nothing changes.
  EXPECT_EQ(summarize_kernels({r})[0].roofline, -1);
}

TEST(Profile, MaxOfPeaksKeepsTheHigherFigures) {
  DevicePeaks a, b;
  a.gflops = 10;
  a.gbytes_s = 5;
  a.bandwidth = {{1e3, 5}, {1e6, 2}};
  a.method = "x";
  b.gflops = 7;
  b.gbytes_s = 9;
  b.bandwidth = {{1e6, 9}, {1e8, 1}};
  b.method = "y";
  DevicePeaks m = max_of_peaks(a, b);
  EXPECT_EQ(m.gflops, 10);
  EXPECT_EQ(m.gbytes_s, 9);
  ASSERT_EQ(m.bandwidth.size(), 3u);
  EXPECT_EQ(m.bandwidth[1].second, 9);
  EXPECT_EQ(m.method, "x; y");
}

TEST(Profile, PeaksAreCachedOnDiskPerKey) {
  const std::string dir = ::testing::TempDir() + "/kiln_peaks_cache_test";
  std::filesystem::remove_all(dir);
  const char* old = std::getenv("KILN_CACHE_DIR");
  const std::string saved = old ? old : "";
  ::setenv("KILN_CACHE_DIR", dir.c_str(), 1);
  int measured = 0;
  double figure = 10;
  auto measure = [&]() -> Expected<DevicePeaks> {
    ++measured;
    DevicePeaks p;
    p.gflops = figure;
    p.gbytes_s = figure / 2;
    p.bandwidth = {{1e6, figure / 2}};
    p.method = "test";
    return p;
  };
  auto p1 = cached_peaks("dev A", measure);
  ASSERT_TRUE(p1.has_value());
  EXPECT_FALSE(p1->from_cache);
  auto p2 = cached_peaks("dev A", measure);
  ASSERT_TRUE(p2.has_value());
  EXPECT_TRUE(p2->from_cache);
  EXPECT_EQ(p2->gflops, 10);
  EXPECT_EQ(p2->key, "dev A");
  EXPECT_EQ(measured, 1);
  // Another key measures; a refresh with lower figures keeps the higher cached ones.
  figure = 4;
  ASSERT_TRUE(cached_peaks("dev B", measure).has_value());
  auto p3 = cached_peaks("dev A", measure, /*refresh=*/true);
  ASSERT_TRUE(p3.has_value());
  EXPECT_EQ(measured, 3);
  EXPECT_EQ(p3->gflops, 10);
  EXPECT_EQ(cached_peaks("dev B", measure)->gflops, 4);
  // A broken cache file is ignored (measured again), a failing measurement is an error.
  { std::ofstream(dir + "/peaks.json") << "{not json"; }
  auto p4 = cached_peaks("dev A", measure);
  ASSERT_TRUE(p4.has_value());
  EXPECT_FALSE(p4->from_cache);
  EXPECT_FALSE(cached_peaks("dev C", []() -> Expected<DevicePeaks> {
                 return runtime_error("no device");
               }).has_value());
  if (old)
    ::setenv("KILN_CACHE_DIR", saved.c_str(), 1);
  else
    ::unsetenv("KILN_CACHE_DIR");
  std::filesystem::remove_all(dir);
}

TEST(Profile, CpuPeaksArePositive) {
  DevicePeaks p = measure_cpu_peaks(1);
  EXPECT_GT(p.gflops, 0);
  EXPECT_GT(p.gbytes_s, 0);
  ASSERT_GE(p.bandwidth.size(), 3u);
  for (size_t i = 1; i < p.bandwidth.size(); ++i)
    EXPECT_LT(p.bandwidth[i - 1].first, p.bandwidth[i].first);
  EXPECT_FALSE(p.method.empty());
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
    // Events of one track and clock never overlap (the CPU runs nodes one at a time, a device
    // queue is in order); device-clock events may overlap host-timed ones (the device works
    // asynchronously, and the executor places the device clock's origin at the first device
    // node's host start).
    double sum = 0;
    std::map<std::string, double> prev_end;
    for (const ProfileEvent& e : p.events) {
      EXPECT_GE(e.dur_us, 0.0) << e.node;
      const std::string lane = e.track + (e.device_clock ? "/device" : "/host");
      EXPECT_GE(e.start_us + 1e-6, prev_end[lane]) << e.node << ": events overlap";
      prev_end[lane] = e.start_us + e.dur_us;
      EXPECT_LE(e.start_us + e.dur_us, p.run_us + 1e-6) << e.node << " ends after the run";
      sum += e.dur_us;
    }
    EXPECT_LE(sum, p.run_us + 1e-6);
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
