// Runs an ir::Graph on one device Backend with the CPU reference path taking every node the
// device does not support. Values live on the host, on the device, or both; transfers are
// inserted where a node needs a value on the other side. Kernels are prepared once per node and
// input-shape signature (a repeated signature prepares nothing), weights are uploaded once, and
// device buffers of dead values are recycled through a size-bucketed pool.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/backend.h"

namespace kiln::device {

struct NodeAssignment {
  const ir::Node* node = nullptr;
  bool on_device = false;
  std::string reason;  // why the CPU takes it, when !on_device
};

class HybridExecutor {
 public:
  // graph and backend must outlive the executor.
  HybridExecutor(const ir::Graph& graph, Backend* backend, int threads);
  ~HybridExecutor();

  Status prepare();
  Expected<std::vector<Tensor>> run(const std::map<std::string, Tensor>& feeds,
                                    const cpu::NodeObserver& observer = nullptr);

  // Where each node ran in the last run (for --verbose and tests).
  const std::vector<NodeAssignment>& last_assignment() const { return assignment_; }
  // Number of kernels prepared so far (a repeated shape signature adds none).
  size_t kernels_prepared() const { return kernels_prepared_; }

 private:
  struct Prepared;
  struct Slot;
  class BufferPool;

  Expected<DeviceTensor> to_device(const ir::Value* v, Slot& slot);
  Status to_host(Slot& slot);
  Expected<Prepared*> lookup(size_t index, const std::vector<InputInfo>& inputs);

  const ir::Graph& graph_;
  Backend* backend_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<BufferPool> buffers_;
  std::vector<ir::Node*> order_;
  std::vector<cpu::KernelFn> cpu_kernels_;
  std::vector<std::vector<int>> host_inputs_;
  std::vector<int> last_use_;
  std::vector<std::map<std::string, std::unique_ptr<Prepared>>> cache_;
  std::map<int, DeviceTensor> weights_;  // value id -> uploaded initializer
  std::vector<NodeAssignment> assignment_;
  size_t kernels_prepared_ = 0;
};

}  // namespace kiln::device
