// SGEMM benchmark (issue 3): kiln's OpenCL MatMul / Gemm kernels against CLBlast's SGEMM on the
// same cl_device, context and queue, for BERT shapes (M = 128; K, N in 384..3072) and squares.
// Each timed iteration is enqueue + clFinish, after a warm-up; the GFLOP/s counter is
// 2*M*N*K / time. At the end a summary table gives the median GFLOP/s over the repetitions of
// each implementation and the ratio kiln / CLBlast, per shape.
//
//   kiln_bench_gemm [--benchmark_filter=...] [--benchmark_repetitions=N] [--device=opencl:N]
//                   [--vulkan=vulkan:N|off]
//
// The Vulkan column times kiln's Vulkan MatMul / Gemm shader on the default Vulkan device (the
// same machine's lavapipe here) the same way: enqueue + finish (one recorded command buffer,
// replayed).
//
// Without flags it runs 5 repetitions of at least 0.2 s each. "NN": B is [K, N] (MatMul);
// "NT": B is stored [N, K] (Gemm transB=1, as exported Linear layers keep weights).
// KILN_GEMM_TUNING=... (see runtime/opencl/gemm_tuning.h) tries other tile parameters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/opencl/gemm_tuning.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/vulkan/vulkan_backend.h"

#ifdef KILN_HAVE_CLBLAST
#include <clblast.h>
#endif

namespace {

using kiln::DType;
using kiln::Shape;
using kiln::Tensor;
using kiln::device::DeviceTensor;
using kiln::device::InputInfo;
using kiln::device::TensorDesc;

struct GemmShape {
  int64_t M, N, K;
  bool nt;  // B stored [N, K]
  std::string label() const {
    return std::string(nt ? "NT" : "NN") + " " + std::to_string(M) + "x" + std::to_string(N) + "x" +
           std::to_string(K);
  }
};

std::unique_ptr<kiln::opencl::OpenClBackend> g_backend;
std::unique_ptr<kiln::vulkan::VulkanBackend> g_vk_backend;  // null: no Vulkan column

// Median GFLOP/s per (shape label, implementation) over repetitions, and the kiln kernel name.
std::map<std::string, std::map<std::string, std::vector<double>>> g_results;
std::map<std::string, std::string> g_kiln_kernel;
std::map<std::string, double> g_max_diff;  // |kiln - CLBlast| / max|C| per shape

// Device buffers for one shape (A, B, C for kiln and C for CLBlast), filled with random values.
struct Operands {
  DeviceTensor a, b, c, c_ref;
  kiln::Status status;
};

DeviceTensor device_tensor(kiln::device::Backend* be, const Shape& s, kiln::Status* st) {
  DeviceTensor t;
  t.desc = TensorDesc{DType::kFloat32, s};
  auto buf = be->allocate(t.desc.nbytes());
  if (!buf) {
    *st = buf.status();
    return t;
  }
  t.buffer = *buf;
  return t;
}

kiln::Status fill(kiln::device::Backend* be, const DeviceTensor& t, uint64_t seed) {
  KILN_ASSIGN_OR_RETURN(Tensor h, Tensor::create(DType::kFloat32, t.desc.shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  float* p = h.data<float>();
  for (int64_t i = 0; i < h.numel(); ++i) p[i] = u(rng);
  return be->upload(h, t);
}

Operands make_operands(kiln::device::Backend* be, const GemmShape& s) {
  Operands o;
  o.a = device_tensor(be, {s.M, s.K}, &o.status);
  o.b = device_tensor(be, s.nt ? Shape{s.N, s.K} : Shape{s.K, s.N}, &o.status);
  o.c = device_tensor(be, {s.M, s.N}, &o.status);
  o.c_ref = device_tensor(be, {s.M, s.N}, &o.status);
  if (o.status.is_ok()) o.status = fill(be, o.a, 1);
  if (o.status.is_ok()) o.status = fill(be, o.b, 2);
  return o;
}

// kiln's kernel for the shape, prepared the way the hybrid executor does it: a MatMul node for
// NN, a Gemm node with transB=1 for NT.
struct KilnGemm {
  std::unique_ptr<kiln::ir::Graph> graph;
  std::unique_ptr<kiln::device::DeviceKernel> kernel;
};

kiln::Expected<KilnGemm> make_kiln_gemm(kiln::device::Backend* be, const GemmShape& s) {
  KilnGemm k;
  k.graph = std::make_unique<kiln::ir::Graph>();
  kiln::ir::Graph& g = *k.graph;
  g.opsets()[""] = 13;
  auto value = [&](const std::string& name, const Shape& shape) {
    kiln::ir::ValueInfo info{DType::kFloat32, true, {}};
    for (int64_t d : shape) info.dims.push_back(kiln::ir::Dim{d, ""});
    return g.add_value(name, info);
  };
  Shape bs = s.nt ? Shape{s.N, s.K} : Shape{s.K, s.N};
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * a, value("a", {s.M, s.K}));
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * b, value("b", bs));
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * c, value("c", {s.M, s.N}));
  g.add_input(a);
  g.add_input(b);
  KILN_ASSIGN_OR_RETURN(kiln::ir::Node * n,
                        g.add_node(s.nt ? "Gemm" : "MatMul", "", {a, b}, {c}, "gemm"));
  if (s.nt) {
    kiln::ir::Attribute tb;
    tb.type = kiln::ir::AttrType::kInt;
    tb.i = 1;
    n->set_attr("transB", tb);
  }
  g.add_output(c);
  std::vector<InputInfo> in = {InputInfo{TensorDesc{DType::kFloat32, {s.M, s.K}}},
                               InputInfo{TensorDesc{DType::kFloat32, bs}}};
  auto sup = be->supports(*n, in);
  if (!sup.ok) return kiln::unsupported(be->name() + " refuses " + s.label() + ": " + sup.reason);
  KILN_ASSIGN_OR_RETURN(k.kernel, be->prepare(*n, in));
  return k;
}

kiln::Status run_kiln(kiln::device::Backend* be, KilnGemm& k, const Operands& o) {
  KILN_RETURN_IF_ERROR(k.kernel->enqueue({o.a, o.b}, {o.c}));
  return be->finish();
}

#ifdef KILN_HAVE_CLBLAST
kiln::Status run_clblast(const GemmShape& s, const Operands& o) {
  cl_command_queue q = g_backend->context().queue()();
  auto st = clblast::Gemm<float>(clblast::Layout::kRowMajor, clblast::Transpose::kNo,
                                 s.nt ? clblast::Transpose::kYes : clblast::Transpose::kNo, s.M,
                                 s.N, s.K, 1.0f, kiln::opencl::cl_buffer(o.a)(), 0, s.K,
                                 kiln::opencl::cl_buffer(o.b)(), 0, s.nt ? s.K : s.N, 0.0f,
                                 kiln::opencl::cl_buffer(o.c_ref)(), 0, s.N, &q, nullptr);
  if (st != clblast::StatusCode::kSuccess)
    return kiln::runtime_error("CLBlast SGEMM failed with status " +
                               std::to_string(static_cast<int>(st)));
  return g_backend->finish();
}
#endif

double flops(const GemmShape& s) {
  return 2.0 * static_cast<double>(s.M) * static_cast<double>(s.N) * static_cast<double>(s.K);
}

// Times `step` (which must end with a finish) per iteration and reports GFLOP/s.
template <typename F>
void timed_loop(benchmark::State& state, const GemmShape& s, F step) {
  for (int w = 0; w < 2; ++w) {  // warm-up: program builds, first-touch of buffers
    kiln::Status st = step();
    if (!st.is_ok()) {
      state.SkipWithError(st.to_string().c_str());
      return;
    }
  }
  double total = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    kiln::Status st = step();
    auto t1 = std::chrono::steady_clock::now();
    if (!st.is_ok()) {
      state.SkipWithError(st.to_string().c_str());
      return;
    }
    double sec = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(sec);
    total += sec;
  }
  state.counters["GFLOP/s"] = flops(s) * static_cast<double>(state.iterations()) / total / 1e9;
}

// Registered benchmark name ("kiln/NN/128x384x384") -> (shape label, implementation).
std::map<std::string, std::pair<std::string, std::string>> g_names;

// The console reporter, also collecting each finished repetition's GFLOP/s for the summary
// (Google Benchmark also calls the function while sizing the iteration count; those calls are
// not reported and so not counted).
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto name = g_names.find(r.run_name.function_name);
      auto c = r.counters.find("GFLOP/s");
      if (name == g_names.end() || c == r.counters.end()) continue;
      g_results[name->second.first][name->second.second].push_back(c->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

// One shape's operands, kept across the repetitions and both implementations.
std::map<std::string, std::unique_ptr<Operands>> g_operands, g_vk_operands;
std::map<std::string, KilnGemm> g_kernels, g_vk_kernels;

Operands* operands_for(const GemmShape& s) {
  auto& o = g_operands[s.label()];
  if (!o) o = std::make_unique<Operands>(make_operands(g_backend.get(), s));
  return o.get();
}

void bm_vulkan(benchmark::State& state, GemmShape s) {
  kiln::device::Backend* be = g_vk_backend.get();
  auto& o = g_vk_operands[s.label()];
  if (!o) o = std::make_unique<Operands>(make_operands(be, s));
  if (!o->status.is_ok()) return state.SkipWithError(o->status.to_string().c_str());
  auto it = g_vk_kernels.find(s.label());
  if (it == g_vk_kernels.end()) {
    auto k = make_kiln_gemm(be, s);
    if (!k) return state.SkipWithError(k.status().to_string().c_str());
    it = g_vk_kernels.emplace(s.label(), std::move(*k)).first;
  }
  state.SetLabel("vulkan " + it->second.kernel->name());
  timed_loop(state, s, [&] { return run_kiln(be, it->second, *o); });
}

void bm_kiln(benchmark::State& state, GemmShape s) {
  Operands* o = operands_for(s);
  if (!o->status.is_ok()) return state.SkipWithError(o->status.to_string().c_str());
  auto it = g_kernels.find(s.label());
  if (it == g_kernels.end()) {
    auto k = make_kiln_gemm(g_backend.get(), s);
    if (!k) return state.SkipWithError(k.status().to_string().c_str());
    it = g_kernels.emplace(s.label(), std::move(*k)).first;
    g_kiln_kernel[s.label()] = it->second.kernel->name();
  }
  state.SetLabel(it->second.kernel->name());
  timed_loop(state, s, [&] { return run_kiln(g_backend.get(), it->second, *o); });
}

#ifdef KILN_HAVE_CLBLAST
// Max |kiln - CLBlast| relative to max |C|, after both have run.
kiln::Status compare(const GemmShape& s, const Operands& o) {
  KILN_ASSIGN_OR_RETURN(Tensor x, Tensor::create(DType::kFloat32, {s.M, s.N}));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::kFloat32, {s.M, s.N}));
  KILN_RETURN_IF_ERROR(g_backend->download(o.c, &x));
  KILN_RETURN_IF_ERROR(g_backend->download(o.c_ref, &y));
  double diff = 0, mag = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(x.data<float>()[i] - y.data<float>()[i])));
    mag = std::max(mag, static_cast<double>(std::fabs(y.data<float>()[i])));
  }
  g_max_diff[s.label()] = diff / std::max(mag, 1e-30);
  return kiln::Status::ok();
}

void bm_clblast(benchmark::State& state, GemmShape s) {
  Operands* o = operands_for(s);
  if (!o->status.is_ok()) return state.SkipWithError(o->status.to_string().c_str());
  state.SetLabel("clblast");
  timed_loop(state, s, [&] { return run_clblast(s, *o); });
  if (g_kernels.count(s.label()) && !g_max_diff.count(s.label())) (void)compare(s, *o);
}
#endif

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<GemmShape> shapes() {
  std::vector<GemmShape> v;
  for (bool nt : {false, true}) {
    for (int64_t k : {384, 768, 1536, 3072})
      for (int64_t n : {384, 768, 1536, 3072}) v.push_back({128, n, k, nt});
    for (int64_t sq : {512, 1024, 2048}) v.push_back({sq, sq, sq, nt});
  }
  return v;
}

void print_summary() {
  std::printf("\nSGEMM summary on %s (median GFLOP/s over repetitions; kiln tuning %s)\n",
              g_backend->name().c_str(),
              kiln::opencl::gemm_tuning_for(g_backend->context().info()).to_string().c_str());
  std::printf("%-20s %-28s %5s %8s %8s %7s %9s %8s\n", "shape (MxNxK)", "kiln kernel", "reps",
              "kiln", "CLBlast", "ratio", "rel.diff", "Vulkan");
  for (const GemmShape& s : shapes()) {
    auto it = g_results.find(s.label());
    if (it == g_results.end()) continue;
    auto& r = it->second;
    double k = median(r["kiln"]), c = median(r["clblast"]);
    char ratio[32] = "-", cl[32] = "-", diff[32] = "-";
    if (c > 0) {
      std::snprintf(cl, sizeof cl, "%.1f", c);
      std::snprintf(ratio, sizeof ratio, "%.2f", k / c);
    }
    if (g_max_diff.count(s.label()))
      std::snprintf(diff, sizeof diff, "%.1e", g_max_diff[s.label()]);
    char vk[32] = "-";
    if (!r["vulkan"].empty()) std::snprintf(vk, sizeof vk, "%.1f", median(r["vulkan"]));
    std::printf("%-20s %-28s %5zu %8.1f %8s %7s %9s %8s\n", s.label().c_str(),
                g_kiln_kernel[s.label()].c_str(), r["kiln"].size(), k, cl, ratio, diff, vk);
  }
#ifndef KILN_HAVE_CLBLAST
  std::printf("(built without CLBlast: install libclblast-dev and re-run cmake to compare)\n");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "opencl";
  std::string vk_device = "vulkan";
  std::vector<char*> args;
  bool has_reps = false, has_min_time = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--device=", 9) == 0) {
      device = argv[i] + 9;
      continue;
    }
    if (std::strncmp(argv[i], "--vulkan=", 9) == 0) {
      vk_device = argv[i] + 9;
      continue;
    }
    if (std::strncmp(argv[i], "--benchmark_repetitions", 23) == 0) has_reps = true;
    if (std::strncmp(argv[i], "--benchmark_min_time", 20) == 0) has_min_time = true;
    args.push_back(argv[i]);
  }
  static char reps[] = "--benchmark_repetitions=5";
  static char min_time[] = "--benchmark_min_time=0.2";
  if (!has_reps) args.push_back(reps);
  if (!has_min_time) args.push_back(min_time);
  int n = static_cast<int>(args.size());

  auto b = kiln::opencl::OpenClBackend::create(device);
  if (!b) {
    std::fprintf(stderr, "no OpenCL device: %s\n", b.status().to_string().c_str());
    return 1;
  }
  g_backend = std::move(*b);
  if (vk_device != "off") {
    auto vk = kiln::vulkan::VulkanBackend::create(vk_device);
    if (vk)
      g_vk_backend = std::move(*vk);
    else
      std::fprintf(stderr, "no Vulkan column: %s\n", vk.status().to_string().c_str());
  }
  for (const GemmShape& s : shapes()) {
    std::string name = s.label();
    std::replace(name.begin(), name.end(), ' ', '/');
    benchmark::RegisterBenchmark(("kiln/" + name).c_str(), bm_kiln, s)->UseManualTime();
    g_names["kiln/" + name] = {s.label(), "kiln"};
#ifdef KILN_HAVE_CLBLAST
    benchmark::RegisterBenchmark(("clblast/" + name).c_str(), bm_clblast, s)->UseManualTime();
    g_names["clblast/" + name] = {s.label(), "clblast"};
#endif
    if (g_vk_backend) {
      benchmark::RegisterBenchmark(("vulkan/" + name).c_str(), bm_vulkan, s)->UseManualTime();
      g_names["vulkan/" + name] = {s.label(), "vulkan"};
    }
  }
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  print_summary();
  g_kernels.clear();
  g_operands.clear();
  g_backend.reset();
  g_vk_kernels.clear();
  g_vk_operands.clear();
  g_vk_backend.reset();
  return 0;
}
