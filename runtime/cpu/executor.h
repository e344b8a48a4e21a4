// Runs an ir::Graph node by node on the CPU reference kernels. Values are freed after their last
// use. An observer can watch every node's outputs (used by `kiln compare --per-node`).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/thread_pool.h"
#include "runtime/cpu/kernel.h"
#include "runtime/profile.h"

namespace kiln::cpu {

using NodeObserver = std::function<void(const ir::Node&, const std::vector<Tensor>& outputs)>;

class Executor {
 public:
  // The graph must outlive the executor. threads <= 0: hardware threads.
  Executor(const ir::Graph& graph, int threads);

  // Resolves a kernel for every node; the error names each node without one.
  Status prepare();
  // Checks feeds against the graph inputs (names, dtypes, ranks, known dims) and runs.
  // Returns the graph outputs in order.
  Expected<std::vector<Tensor>> run(const std::map<std::string, Tensor>& feeds,
                                    const NodeObserver& observer = nullptr);

  // When on, every run records each node's host time (profile.h); last_profile() is the last
  // run's. Not thread-safe against a concurrent run (Session serialises runs).
  void set_profiling(bool on) { profiling_ = on; }
  const RunProfile& last_profile() const { return profile_; }

 private:
  const ir::Graph& graph_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<ir::Node*> order_;
  std::vector<KernelFn> kernels_;
  std::vector<int> last_use_;  // per value id: index of the last node reading it
  bool prepared_ = false;
  bool profiling_ = false;
  RunProfile profile_;
};

// Checks one feed against a graph input's declared dtype and shape.
Status check_feed(const ir::Value& input, const Tensor& feed);

}  // namespace kiln::cpu
