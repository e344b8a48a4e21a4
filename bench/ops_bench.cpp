// kiln_bench_ops: Google Benchmark programs for kiln's kernels, one benchmark per (OpCase,
// backend) from the test case lists (tests/opcases/op_case.h, all_op_cases()), named
// "<case>/<backend>", e.g. "MatMul/batched_2x13x127/opencl". Select with --benchmark_filter
// (e.g. --benchmark_filter=MatMul/.*opencl). KILN_BENCH_DEVICES=cpu,opencl,vulkan picks the
// backends (default: every one that opens).
//
// Each iteration runs the one-node graph; the iteration time is the node's kernel time from the
// profiler (OpenCL: the device clock; Vulkan: the host waiting for the node, until it has a device
// clock; CPU: the host around the kernel), so uploads of inputs and downloads of outputs are not
// counted. Counters: GFLOP/s and GB/s (profile.h's work estimates) and "dev" = 1 when the time
// came from the device clock. A case the backend does not run on the device is skipped with the
// reason.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/profile.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "tests/opcases/op_case.h"

namespace kiln {
namespace {

using testing::BuiltCase;
using testing::OpCase;

// The backends opened once for the whole program (nullptr for the CPU path).
struct Target {
  std::string name;  // "cpu", "opencl", "vulkan"
  std::unique_ptr<device::Backend> backend;
};

std::vector<Target>& targets() {
  static std::vector<Target> t;
  return t;
}

std::set<std::string> wanted_devices() {
  std::set<std::string> out;
  const char* env = std::getenv("KILN_BENCH_DEVICES");
  std::stringstream ss(env && *env ? env : "cpu,opencl,vulkan");
  std::string item;
  while (std::getline(ss, item, ',')) out.insert(item);
  return out;
}

void open_targets() {
  const std::set<std::string> want = wanted_devices();
  if (want.count("cpu")) targets().push_back({"cpu", nullptr});
  if (want.count("opencl")) {
    if (auto b = opencl::OpenClBackend::create("opencl"))
      targets().push_back({"opencl", std::move(*b)});
    else
      std::fprintf(stderr, "kiln_bench_ops: no OpenCL: %s\n", b.status().message().c_str());
  }
  if (want.count("vulkan")) {
    if (auto b = vulkan::VulkanBackend::create("vulkan"))
      targets().push_back({"vulkan", std::move(*b)});
    else
      std::fprintf(stderr, "kiln_bench_ops: no Vulkan: %s\n", b.status().message().c_str());
  }
}

// Sums the kernel time and work of a profile's events.
struct Work {
  double us = 0, flops = 0, bytes = 0;
  bool device_clock = true;
};
Work work_of(const RunProfile& p) {
  Work w;
  for (const ProfileEvent& e : p.events) {
    w.us += e.dur_us;
    w.flops += e.flops;
    w.bytes += e.bytes;
    w.device_clock = w.device_clock && e.device_clock;
  }
  return w;
}

// GFLOP/s and GB/s over every timed iteration (plain values, not rates of the counter).
void set_counters(benchmark::State& state, const Work& total, bool device_clock) {
  const double s = total.us * 1e-6;
  state.counters["GFLOP/s"] = s > 0 ? total.flops / s * 1e-9 : 0;
  state.counters["GB/s"] = s > 0 ? total.bytes / s * 1e-9 : 0;
  state.counters["dev"] = device_clock ? 1 : 0;
}

void run_case(benchmark::State& state, const OpCase* c, Target* target) {
  BuiltCase b = testing::build_case(*c);
  if (!b.graph->verify().is_ok()) {
    state.SkipWithError("the case's graph does not verify");
    return;
  }
  if (!target->backend) {
    cpu::Executor ex(*b.graph, 1);
    ex.set_profiling(true);
    Work total;
    for (auto _ : state) {
      auto out = ex.run(b.feeds);
      if (!out) {
        state.SkipWithError(out.status().message().c_str());
        return;
      }
      const Work w = work_of(ex.last_profile());
      total.us += w.us;
      total.flops += w.flops;
      total.bytes += w.bytes;
      state.SetIterationTime(w.us * 1e-6);
    }
    set_counters(state, total, false);
    return;
  }
  device::HybridExecutor ex(*b.graph, target->backend.get(), 1);
  if (Status st = ex.prepare(); !st.is_ok()) {
    state.SkipWithError(st.message().c_str());
    return;
  }
  // One untimed run prepares the kernel and says where the node runs.
  auto first = ex.run(b.feeds);
  if (!first) {
    state.SkipWithError(first.status().message().c_str());
    return;
  }
  if (ex.last_assignment().empty() || !ex.last_assignment()[0].on_device) {
    const std::string why =
        "runs on the CPU: " +
        (ex.last_assignment().empty() ? std::string("?") : ex.last_assignment()[0].reason);
    state.SkipWithError(why.c_str());
    return;
  }
  ex.set_profiling(true);
  Work total;
  bool device_clock = true;
  for (auto _ : state) {
    auto out = ex.run(b.feeds);
    if (!out) {
      state.SkipWithError(out.status().message().c_str());
      return;
    }
    const Work w = work_of(ex.last_profile());
    total.us += w.us;
    total.flops += w.flops;
    total.bytes += w.bytes;
    device_clock = device_clock && w.device_clock;
    state.SetIterationTime(w.us * 1e-6);
  }
  set_counters(state, total, device_clock);
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::open_targets();
  for (kiln::Target& t : kiln::targets())
    for (const kiln::testing::OpCase& c : kiln::testing::all_op_cases())
      benchmark::RegisterBenchmark((c.name + "/" + t.name).c_str(), kiln::run_case, &c, &t)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
