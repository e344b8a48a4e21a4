#include "runtime/session.h"

#include <spdlog/spdlog.h>

#include "graph/onnx/importer.h"
#include "graph/passes/float16.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/opencl/device_info.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/vulkan/device_info.h"
#include "runtime/vulkan/vulkan_backend.h"

namespace kiln {

Session::~Session() {
  hybrid_.reset();  // before the backend it uses
  backend_.reset();
}

namespace {

// "auto": the first OpenCL GPU, else the first discrete or integrated Vulkan GPU, else the CPU.
std::string resolve_auto() {
  auto cl = opencl::list_opencl_devices();
  if (cl) {
    for (const auto& d : *cl)
      if (d.type.find("GPU") != std::string::npos) return "opencl:" + std::to_string(d.index);
  }
  auto vk = vulkan::list_vulkan_devices();
  if (vk) {
    for (const char* type : {"DiscreteGPU", "IntegratedGPU"})
      for (const auto& d : *vk)
        if (d.type == type) return "vulkan:" + std::to_string(d.index);
  }
  return "cpu";
}

}  // namespace

const ir::Graph& Session::graph() const {
  return *model_->graph;
}

Expected<std::unique_ptr<Session>> Session::load(const std::string& path,
                                                 const SessionOptions& options) {
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  std::string dev = options.device.empty() ? "auto" : options.device;
  if (dev == "auto") dev = resolve_auto();
  if (dev == "cpu") {
    s->device_ = "cpu";
  } else if (dev == "opencl" || dev.rfind("opencl:", 0) == 0) {
    KILN_ASSIGN_OR_RETURN(auto b, opencl::OpenClBackend::create(dev));
    s->device_ = b->name();
    s->backend_ = std::move(b);
  } else if (dev == "vulkan" || dev.rfind("vulkan:", 0) == 0) {
    KILN_ASSIGN_OR_RETURN(auto b, vulkan::VulkanBackend::create(dev));
    s->device_ = b->name();
    s->backend_ = std::move(b);
  } else {
    return invalid_argument("unknown device '" + dev +
                            "' (expected auto, cpu, opencl[:N] or vulkan[:N])");
  }
  KILN_ASSIGN_OR_RETURN(onnx_io::Model m, onnx_io::load_model(path));
  s->model_ = std::make_unique<onnx_io::Model>(std::move(m));
  // Inputs and outputs as the model declares them, before any pass runs.
  for (ir::Value* v : s->model_->graph->inputs()) s->inputs_.push_back({v->name(), v->info()});
  for (ir::Value* v : s->model_->graph->outputs()) s->outputs_.push_back({v->name(), v->info()});
  {
    passes::PassContext pc;
    pc.level = options.optimization_level;
    pc.target = s->backend_ ? dev.substr(0, dev.find(':')) : "cpu";
    pc.session_only_ops = true;
    KILN_RETURN_IF_ERROR(passes::optimize(*s->model_->graph, pc).with_context(path));
    if (options.precision == "fp16") {
      KILN_RETURN_IF_ERROR(
          passes::convert_to_float16(*s->model_->graph, passes::Float16Options{}, &pc.stats)
              .with_context(path));
    } else if (options.precision != "fp32") {
      return invalid_argument("unknown precision '" + options.precision +
                              "' (expected fp32 or fp16)");
    }
    s->opt_stats_ = pc.stats;
    if (!pc.stats.counts.empty()) spdlog::info("{}: optimizer: {}", path, pc.stats.to_string());
  }
  const ir::Graph& g = *s->model_->graph;
  if (s->backend_) {
    s->hybrid_ = std::make_unique<device::HybridExecutor>(g, s->backend_.get(), options.threads);
    KILN_RETURN_IF_ERROR(s->hybrid_->prepare().with_context(path));
    s->hybrid_->set_profiling(options.profiling);
  } else {
    s->cpu_ = std::make_unique<cpu::Executor>(g, options.threads);
    KILN_RETURN_IF_ERROR(s->cpu_->prepare().with_context(path));
    s->cpu_->set_profiling(options.profiling);
  }
  return s;
}

RunProfile Session::last_profile() const {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (hybrid_) return hybrid_->last_profile();
  return cpu_ ? cpu_->last_profile() : RunProfile();
}

void Session::set_profiling(bool on) {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (hybrid_) hybrid_->set_profiling(on);
  if (cpu_) cpu_->set_profiling(on);
}

Expected<std::vector<Tensor>> Session::run(const std::map<std::string, Tensor>& feeds) {
  return run(feeds, nullptr);
}

Expected<std::vector<Tensor>> Session::run(const std::map<std::string, Tensor>& feeds,
                                           const NodeObserver& observer) {
  std::lock_guard<std::mutex> lock(run_mu_);
  try {
    if (hybrid_) return hybrid_->run(feeds, observer);
    return cpu_->run(feeds, observer);
  } catch (const std::bad_alloc&) {
    return out_of_memory("out of memory while running the model");
  } catch (const std::exception& e) {
    return internal_error(std::string("unexpected error while running: ") + e.what());
  }
}

}  // namespace kiln
