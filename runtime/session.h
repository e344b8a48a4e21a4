// The public C++ API: load a model, run it. Used by the CLI and by embedding applications.
// No exceptions cross this boundary; every failure is a Status naming the file, node or feed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "graph/passes/pass.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/profile.h"

namespace kiln {

namespace onnx_io {
struct Model;
}
namespace cpu {
class Executor;
}
namespace device {
class Backend;
class HybridExecutor;
}  // namespace device

struct SessionOptions {
  std::string device = "auto";  // auto | cpu | opencl[:N] | vulkan[:N]
  int optimization_level = 1;   // 0 none, 1 basic, 2 extended, 99 all
  int threads = 0;              // CPU threads; 0: one per hardware thread
  bool profiling = false;
  // "fp32", or "fp16": float32 weights and activations are converted to float16 at load
  // (graph/passes/float16.h), while the model's inputs and outputs stay float32 and the ops
  // that need the range (listed there) keep float32.
  std::string precision = "fp32";
};

struct IoInfo {
  std::string name;
  ir::ValueInfo info;
};

class Session {
 public:
  static Expected<std::unique_ptr<Session>> load(const std::string& path,
                                                 const SessionOptions& options = {});
  ~Session();

  const std::vector<IoInfo>& inputs() const { return inputs_; }
  const std::vector<IoInfo>& outputs() const { return outputs_; }
  // The device the session runs on after resolving "auto" ("cpu", "opencl:0", ...).
  const std::string& device() const { return device_; }
  const ir::Graph& graph() const;
  const onnx_io::Model& model() const { return *model_; }
  // What the graph optimizer did at load (empty at level 0).
  const passes::PassStats& optimization_stats() const { return opt_stats_; }

  // The device executor, when the session runs on a device (nullptr on the CPU).
  const device::HybridExecutor* device_executor() const { return hybrid_.get(); }

  // Runs the model; returns the outputs in the order of outputs(). Thread-safe.
  Expected<std::vector<Tensor>> run(const std::map<std::string, Tensor>& feeds);
  // The same, calling `observer` after every node with its outputs on the host (intermediate
  // values are downloaded from the device for it: slower, for `kiln compare --per-node`).
  // With SessionOptions::profiling, the per-node profile of the last run (empty otherwise).
  RunProfile last_profile() const;
  // Turns per-node profiling on or off for later runs.
  void set_profiling(bool on);

  using NodeObserver = std::function<void(const ir::Node&, const std::vector<Tensor>&)>;
  Expected<std::vector<Tensor>> run(const std::map<std::string, Tensor>& feeds,
                                    const NodeObserver& observer);

 private:
  Session() = default;
  SessionOptions options_;
  std::string device_;
  std::unique_ptr<onnx_io::Model> model_;
  std::unique_ptr<cpu::Executor> cpu_;
  std::unique_ptr<device::Backend> backend_;
  std::unique_ptr<device::HybridExecutor> hybrid_;
  std::vector<IoInfo> inputs_, outputs_;
  passes::PassStats opt_stats_;
  mutable std::mutex run_mu_;
};

}  // namespace kiln
