// Conv benchmark (issue 3): kiln's OpenCL Conv paths on ResNet-18 and MobileNetV2 layer shapes
// (batch 1), the path kiln picks ("new": GEMM / im2col + GEMM / depthwise) against the old
// direct kernel (KILN_CL_CONV=direct), on the same device in the same run.
//
//   kiln_bench_conv [--device=opencl:N] [--filter=SUBSTRING] [--min-time=SECONDS] [--reps=N]
//                   [--new=PATH]
//
// --new=PATH forces the "new" column's path (KILN_CL_CONV: gemm, im2col_nn, im2col_nt,
// depthwise; shapes the path cannot run take kiln's choice).
// Each timed iteration is enqueue + finish, after two warm-up runs (program builds, first touch
// of the buffers). The table gives GFLOP/s (2 * N * M * (C / group) * kernel * output pixels /
// time) as the median with p10 and p90 over the iterations, the kernel each path ran, the ratio
// new / old of the medians and the largest |new - old| / max|old| of the two outputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/tools/bench_stats.h"

namespace {

using kiln::DType;
using kiln::Shape;
using kiln::Tensor;
using kiln::device::DeviceTensor;
using kiln::device::InputInfo;
using kiln::device::TensorDesc;

struct ConvShape {
  const char* label;
  int64_t c, h, w, m, k, stride, pad, group;
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - k) / stride + 1; }
  double flops() const {
    return 2.0 * static_cast<double>(m) * static_cast<double>(c / group) *
           static_cast<double>(k * k) * static_cast<double>(oh() * ow());
  }
};

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> s = {
      // ResNet-18
      {"resnet stem 7x7/2 224x224x3->64", 3, 224, 224, 64, 7, 2, 3, 1},
      {"resnet 3x3 56x56x64", 64, 56, 56, 64, 3, 1, 1, 1},
      {"resnet 3x3/2 56x56x64->128", 64, 56, 56, 128, 3, 2, 1, 1},
      {"resnet 1x1/2 ds 56x56x64->128", 64, 56, 56, 128, 1, 2, 0, 1},
      {"resnet 3x3 28x28x128", 128, 28, 28, 128, 3, 1, 1, 1},
      {"resnet 3x3/2 28x28x128->256", 128, 28, 28, 256, 3, 2, 1, 1},
      {"resnet 1x1/2 ds 28x28x128->256", 128, 28, 28, 256, 1, 2, 0, 1},
      {"resnet 3x3 14x14x256", 256, 14, 14, 256, 3, 1, 1, 1},
      {"resnet 3x3/2 14x14x256->512", 256, 14, 14, 512, 3, 2, 1, 1},
      {"resnet 1x1/2 ds 14x14x256->512", 256, 14, 14, 512, 1, 2, 0, 1},
      {"resnet 3x3 7x7x512", 512, 7, 7, 512, 3, 1, 1, 1},
      // MobileNetV2
      {"mbv2 stem 3x3/2 224x224x3->32", 3, 224, 224, 32, 3, 2, 1, 1},
      {"mbv2 dw 3x3 112x112x32", 32, 112, 112, 32, 3, 1, 1, 32},
      {"mbv2 1x1 project 112x112x32->16", 32, 112, 112, 16, 1, 1, 0, 1},
      {"mbv2 1x1 expand 112x112x16->96", 16, 112, 112, 96, 1, 1, 0, 1},
      {"mbv2 dw 3x3/2 112x112x96", 96, 112, 112, 96, 3, 2, 1, 96},
      {"mbv2 1x1 expand 56x56x24->144", 24, 56, 56, 144, 1, 1, 0, 1},
      {"mbv2 dw 3x3 56x56x144", 144, 56, 56, 144, 3, 1, 1, 144},
      {"mbv2 1x1 project 56x56x144->24", 144, 56, 56, 24, 1, 1, 0, 1},
      {"mbv2 dw 3x3/2 56x56x144", 144, 56, 56, 144, 3, 2, 1, 144},
      {"mbv2 1x1 expand 28x28x32->192", 32, 28, 28, 192, 1, 1, 0, 1},
      {"mbv2 dw 3x3 28x28x192", 192, 28, 28, 192, 3, 1, 1, 192},
      {"mbv2 1x1 project 28x28x192->32", 192, 28, 28, 32, 1, 1, 0, 1},
      {"mbv2 dw 3x3 14x14x384", 384, 14, 14, 384, 3, 1, 1, 384},
      {"mbv2 1x1 expand 14x14x64->384", 64, 14, 14, 384, 1, 1, 0, 1},
      {"mbv2 1x1 project 14x14x384->64", 384, 14, 14, 64, 1, 1, 0, 1},
      {"mbv2 dw 3x3 7x7x960", 960, 7, 7, 960, 3, 1, 1, 960},
      {"mbv2 1x1 expand 7x7x160->960", 160, 7, 7, 960, 1, 1, 0, 1},
      {"mbv2 1x1 project 7x7x960->160", 960, 7, 7, 160, 1, 1, 0, 1},
      {"mbv2 1x1 7x7x320->1280", 320, 7, 7, 1280, 1, 1, 0, 1},
  };
  return s;
}

std::unique_ptr<kiln::opencl::OpenClBackend> g_backend;

kiln::ir::Attribute ints_attr(std::vector<int64_t> v) {
  kiln::ir::Attribute a;
  a.type = kiln::ir::AttrType::kInts;
  a.ints = std::move(v);
  return a;
}

// A one-node Conv graph (X, W and B as graph inputs) for the shape.
struct ConvGraph {
  std::unique_ptr<kiln::ir::Graph> graph;
  kiln::ir::Node* node = nullptr;
  Shape x, w, b, y;
};

kiln::Expected<ConvGraph> make_graph(const ConvShape& s) {
  ConvGraph cg;
  cg.graph = std::make_unique<kiln::ir::Graph>();
  kiln::ir::Graph& g = *cg.graph;
  g.opsets()[""] = 11;
  cg.x = {1, s.c, s.h, s.w};
  cg.w = {s.m, s.c / s.group, s.k, s.k};
  cg.b = {s.m};
  cg.y = {1, s.m, s.oh(), s.ow()};
  auto value = [&](const std::string& name, const Shape& shape) {
    kiln::ir::ValueInfo info{DType::kFloat32, true, {}};
    for (int64_t d : shape) info.dims.push_back(kiln::ir::Dim{d, ""});
    return g.add_value(name, info);
  };
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * x, value("x", cg.x));
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * w, value("w", cg.w));
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * b, value("b", cg.b));
  KILN_ASSIGN_OR_RETURN(kiln::ir::Value * y, value("y", cg.y));
  g.add_input(x);
  g.add_input(w);
  g.add_input(b);
  KILN_ASSIGN_OR_RETURN(cg.node, g.add_node("Conv", "", {x, w, b}, {y}, "conv"));
  cg.node->set_attr("strides", ints_attr({s.stride, s.stride}));
  cg.node->set_attr("pads", ints_attr({s.pad, s.pad, s.pad, s.pad}));
  kiln::ir::Attribute grp;
  grp.type = kiln::ir::AttrType::kInt;
  grp.i = s.group;
  cg.node->set_attr("group", grp);
  g.add_output(y);
  return cg;
}

kiln::Expected<DeviceTensor> device_tensor(const Shape& s) {
  DeviceTensor t;
  t.desc = TensorDesc{DType::kFloat32, s};
  KILN_ASSIGN_OR_RETURN(t.buffer, g_backend->allocate(t.desc.nbytes()));
  return t;
}

kiln::Status fill(const DeviceTensor& t, uint64_t seed) {
  KILN_ASSIGN_OR_RETURN(Tensor h, Tensor::create(DType::kFloat32, t.desc.shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  float* p = h.data<float>();
  for (int64_t i = 0; i < h.numel(); ++i) p[i] = u(rng);
  return g_backend->upload(h, t);
}

struct PathResult {
  std::string kernel;
  double p10 = 0, p50 = 0, p90 = 0;  // GFLOP/s
  Tensor out;
  std::string error;
};

// Prepares the shape's Conv with KILN_CL_CONV=`mode` ("" = kiln's choice) and times it.
PathResult run_path(const ConvShape& s, const ConvGraph& cg, const char* mode,
                    const std::vector<DeviceTensor>& in, const DeviceTensor& y, double min_time,
                    int min_reps) {
  PathResult r;
  if (*mode)
    setenv("KILN_CL_CONV", mode, 1);
  else
    unsetenv("KILN_CL_CONV");
  std::vector<InputInfo> infos;
  for (const DeviceTensor& t : in) infos.push_back(InputInfo{t.desc});
  auto sup = g_backend->supports(*cg.node, infos);
  auto k = sup.ok ? g_backend->prepare(*cg.node, infos)
                  : kiln::Expected<std::unique_ptr<kiln::device::DeviceKernel>>(
                        kiln::unsupported(sup.reason));
  unsetenv("KILN_CL_CONV");
  if (!k) {
    r.error = k.status().to_string();
    return r;
  }
  r.kernel = (*k)->name();
  // The kernel's scratch (the im2col matrix) follows its outputs, as the executor passes it.
  std::vector<DeviceTensor> outs = {y};
  if (size_t bytes = (*k)->scratch_bytes(); bytes > 0) {
    DeviceTensor scratch;
    scratch.desc = {kiln::DType::kUInt8, {static_cast<int64_t>(bytes)}};
    auto buf = g_backend->allocate(bytes);
    if (!buf) {
      r.error = buf.status().to_string();
      return r;
    }
    scratch.buffer = std::move(*buf);
    outs.push_back(std::move(scratch));
  }
  auto step = [&]() -> kiln::Status {
    KILN_RETURN_IF_ERROR((*k)->enqueue(in, outs));
    return g_backend->finish();
  };
  for (int w = 0; w < 2; ++w) {
    kiln::Status st = step();
    if (!st.is_ok()) {
      r.error = st.to_string();
      return r;
    }
  }
  std::vector<double> gflops;
  double total = 0;
  while (total < min_time || static_cast<int>(gflops.size()) < min_reps) {
    auto t0 = std::chrono::steady_clock::now();
    kiln::Status st = step();
    auto t1 = std::chrono::steady_clock::now();
    if (!st.is_ok()) {
      r.error = st.to_string();
      return r;
    }
    const double sec = std::chrono::duration<double>(t1 - t0).count();
    total += sec;
    gflops.push_back(s.flops() / sec / 1e9);
    if (gflops.size() >= 1000) break;
  }
  std::sort(gflops.begin(), gflops.end());
  r.p10 = kiln::tools::percentile_sorted(gflops, 10);
  r.p50 = kiln::tools::percentile_sorted(gflops, 50);
  r.p90 = kiln::tools::percentile_sorted(gflops, 90);
  auto out = Tensor::create(DType::kFloat32, y.desc.shape);
  if (out) {
    r.out = std::move(*out);
    kiln::Status st = g_backend->download(y, &r.out);
    if (!st.is_ok()) r.error = st.to_string();
  }
  return r;
}

double rel_diff(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel() || a.numel() == 0) return NAN;
  const float* p = a.data<float>();
  const float* q = b.data<float>();
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(p[i] - q[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(q[i])));
  }
  return scale > 0 ? worst / scale : worst;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "opencl", filter, new_path;
  double min_time = 0.3;
  int min_reps = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--device=", 0) == 0) {
      device = a.substr(9);
    } else if (a.rfind("--filter=", 0) == 0) {
      filter = a.substr(9);
    } else if (a.rfind("--min-time=", 0) == 0) {
      min_time = std::atof(a.c_str() + 11);
    } else if (a.rfind("--new=", 0) == 0) {
      new_path = a.substr(6);
    } else if (a.rfind("--reps=", 0) == 0) {
      min_reps = std::max(1, std::atoi(a.c_str() + 7));
    } else {
      std::fprintf(stderr,
                   "usage: kiln_bench_conv [--device=opencl:N] [--filter=SUBSTRING] "
                   "[--min-time=SECONDS] [--reps=N] [--new=PATH]\n");
      return 2;
    }
  }
  auto backend = kiln::opencl::OpenClBackend::create(device);
  if (!backend) {
    std::fprintf(stderr, "no OpenCL device: %s\n", backend.status().to_string().c_str());
    return 1;
  }
  g_backend = std::move(*backend);
  std::printf("device: %s\n", g_backend->name().c_str());
  std::printf("%-34s %7s | %-22s %21s | %-14s %21s | %6s %9s\n", "shape", "MFLOP", "new kernel",
              "GFLOP/s p50 (p10-p90)", "old kernel", "GFLOP/s p50 (p10-p90)", "ratio", "max diff");
  int failures = 0;
  for (const ConvShape& s : shapes()) {
    if (!filter.empty() && std::string(s.label).find(filter) == std::string::npos) continue;
    auto cg = make_graph(s);
    if (!cg) {
      std::fprintf(stderr, "%s: %s\n", s.label, cg.status().to_string().c_str());
      ++failures;
      continue;
    }
    auto x = device_tensor(cg->x);
    auto w = device_tensor(cg->w);
    auto b = device_tensor(cg->b);
    auto y = device_tensor(cg->y);
    if (!x || !w || !b || !y) {
      std::fprintf(stderr, "%s: allocation failed\n", s.label);
      ++failures;
      continue;
    }
    kiln::Status st = fill(*x, 1);
    if (st.is_ok()) st = fill(*w, 2);
    if (st.is_ok()) st = fill(*b, 3);
    if (!st.is_ok()) {
      std::fprintf(stderr, "%s: %s\n", s.label, st.to_string().c_str());
      ++failures;
      continue;
    }
    std::vector<DeviceTensor> in = {*x, *w, *b};
    PathResult fast = run_path(s, *cg, new_path.c_str(), in, *y, min_time, min_reps);
    PathResult old = run_path(s, *cg, "direct", in, *y, min_time, min_reps);
    for (const PathResult* r : {&fast, &old})
      if (!r->error.empty()) {
        std::fprintf(stderr, "%s: %s\n", s.label, r->error.c_str());
        ++failures;
      }
    if (!fast.error.empty() || !old.error.empty()) continue;
    char a[64], c[64];
    std::snprintf(a, sizeof(a), "%7.1f (%5.1f-%5.1f)", fast.p50, fast.p10, fast.p90);
    std::snprintf(c, sizeof(c), "%7.1f (%5.1f-%5.1f)", old.p50, old.p10, old.p90);
    std::printf("%-34s %7.1f | %-22s %21s | %-14s %21s | %5.2fx %9.2g\n", s.label, s.flops() / 1e6,
                fast.kernel.c_str(), a, old.kernel.c_str(), c,
                old.p50 > 0 ? fast.p50 / old.p50 : 0.0, rel_diff(fast.out, old.out));
    std::fflush(stdout);
  }
  g_backend.reset();
  return failures == 0 ? 0 : 1;
}
