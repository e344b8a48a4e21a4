// Runs an ir::Graph on one device Backend with the CPU reference path taking every node the
// device does not support. Values live on the host, on the device, or both; transfers are
// inserted where a node needs a value on the other side. Kernels are prepared once per node and
// input-shape signature (a repeated signature prepares nothing) and constant weights are uploaded
// once, at prepare().
//
// Memory: the first run with a new input-shape signature records every device value's size and
// lifetime (aliases such as Reshape extend the lifetime of the bytes they view) and builds a
// memory plan: offsets in one arena buffer, first-fit by decreasing size over non-overlapping
// lifetimes. Later runs with that signature place values at their planned offsets; a value
// that does not fit its slot (data-dependent shapes) takes a pooled buffer instead.
//
// In place: when a kernel offers output o over input k (DeviceKernel::inplace_of), the output
// takes the input's bytes if the input's value dies at this node: its last reader is this node,
// it is not a graph output, not a weight, no other value viewing the same bytes (an alias, an
// earlier in-place output) is read later or by another input of this node, and the byte sizes
// are equal. The output then views the input's bytes like an alias (the lifetimes merge). The
// recorded plan lists the outputs written in place; a planned run writes in place only those.
// KILN_INPLACE=0 turns in-place writing off (for measurements and debugging).
//
// Scratch: a kernel's DeviceKernel::scratch_bytes() are planned in the arena like a value that
// lives for its node's step only, and passed after the node's outputs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/backend.h"
#include "runtime/profile.h"

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
  // Memory plans built so far (one per input-shape signature) and the last one's arena size.
  size_t plans_built() const { return plans_.size(); }
  size_t last_arena_bytes() const { return last_arena_bytes_; }
  // Outputs the last built plan writes over a dying input's bytes (DeviceKernel::inplace_of).
  size_t last_inplace_outputs() const { return last_inplace_outputs_; }
  // When on, every run records each node's time (profile.h): device nodes on the device clock
  // when the backend has one (Backend::supports_timing), else waited for one by one; a CPU
  // node's time includes downloading its inputs. last_profile() is the last run's.
  void set_profiling(bool on) { profiling_ = on; }
  const RunProfile& last_profile() const { return profile_; }
  // Bytes of constant weights uploaded at prepare().
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  struct Prepared;
  struct Slot;
  class BufferPool;

  struct MemoryPlan;
  struct Lifetime {
    int value;
    size_t bytes;
    size_t def;
    size_t last;
  };

  Expected<DeviceTensor> to_device(const ir::Value* v, Slot& slot);
  // Device memory for value v produced (or uploaded) at the current step.
  Expected<DeviceTensor> allocate_value(const ir::Value* v, const TensorDesc& desc);
  // Memory planned under `key` (a value id, or scratch_key(step); -1: none) at the current step.
  Expected<DeviceTensor> allocate_keyed(int key, const TensorDesc& desc);
  static int scratch_key(size_t step) { return -2 - static_cast<int>(step); }
  // Whether an output `out` of node `step` may be written over input k's bytes `ins[k]` (see the
  // file comment); `taken`: inputs already given to another output of the node.
  bool can_overwrite(size_t step, int k, const std::vector<DeviceTensor>& ins,
                     const TensorDesc& out, const std::vector<int>& taken) const;
  // Records that value `view` uses the bytes of value `src` (an alias or an in-place output).
  void add_view(int view, int src);
  Status build_plan(const std::string& signature);
  Status upload_weights();
  Status to_host(Slot& slot);
  Expected<Prepared*> lookup(size_t index, const std::vector<InputInfo>& inputs);
  Status apply_device_timings(const std::map<int, size_t>& timed_events);

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

  std::map<std::string, std::unique_ptr<MemoryPlan>> plans_;  // by input-shape signature
  MemoryPlan* plan_ = nullptr;      // the plan in use this run (nullptr while recording one)
  std::vector<Lifetime> recorded_;  // while recording
  std::map<int, int> alias_root_;   // value id -> value id whose bytes it views
  std::map<int, std::vector<int>> viewers_;  // value id -> the values in alias_root_ viewing it
  std::vector<int> recorded_inplace_;        // outputs written in place while recording
  size_t step_ = 0;
  size_t last_arena_bytes_ = 0;
  size_t last_inplace_outputs_ = 0;
  size_t weight_bytes_ = 0;
  bool profiling_ = false;
  bool inplace_on_ = true;
  bool timing_on_ = false;  // the backend's device-clock timing is switched on
  RunProfile profile_;
};

}  // namespace kiln::device
