// Per-node profiles of runs, for `kiln bench`/`kiln run --profile`: what each node cost, where it
// ran, a per-kernel summary with GFLOP/s and GB/s, and Chrome trace output (chrome://tracing,
// Perfetto).
//
// Timing: CPU nodes are timed with the host clock around the kernel call. Device nodes are timed
// synchronously when profiling is on (the executor waits for each device node to finish before
// the next one starts), so a device node's time includes its launch overhead and the events of a
// run never overlap; profiled runs are slower than unprofiled ones and `kiln bench` keeps them
// apart from the timed runs.
#pragma once

#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln {

struct ProfileEvent {
  std::string node;     // node name
  std::string op;       // "MatMul", "com.microsoft:Attention"
  std::string kernel;   // device kernel name ("gemm_nn"), or "cpu" for the CPU path
  std::string track;    // "cpu", or the device's name ("opencl:0 (...)")
  double start_us = 0;  // from the start of the run
  double dur_us = 0;
  double flops = 0;           // arithmetic work (multiply-add = 2), 0 when not counted
  double bytes = 0;           // bytes read (inputs) + written (outputs)
  bool device_clock = false;  // dur_us was measured on the device's clock (events, timestamps)
};

struct RunProfile {
  double run_us = 0;  // wall time of the whole run
  std::vector<ProfileEvent> events;
};

// Floating-point work of one node for GFLOP/s figures: MatMul, Gemm, Conv, ConvTranspose,
// Attention-family and the common elementwise/normalisation ops; 0 for data movement.
double node_flops(const ir::Node& node, const std::vector<Shape>& inputs,
                  const std::vector<Shape>& outputs);

// An event for `node` with its work (flops, bytes) filled in from input and output tensors
// (nullptr entries are omitted optional values).
ProfileEvent make_event(const ir::Node& node, const std::vector<const Tensor*>& inputs,
                        const std::vector<const Tensor*>& outputs, double start_us, double dur_us);

struct KernelSummary {
  std::string name;   // kernel name, "cpu:<Op>" for the CPU path
  std::string op;     // the op (the first seen for the kernel)
  std::string track;  // where it ran
  long long calls = 0;
  double total_ms = 0;  // summed over every profiled run
  double mean_ms = 0;   // per call
  double share = 0;     // of the summed node time, in [0, 1]
  double gflops = 0;    // total flops / total time (0 when not counted)
  double gbytes_s = 0;  // total bytes / total time
};

// One line per kernel over all runs, by decreasing total time.
std::vector<KernelSummary> summarize_kernels(const std::vector<RunProfile>& runs);

// Writes a Chrome trace (JSON object format, "X" complete events in microseconds): one process,
// one thread (track) per device queue and one for the CPU path, runs placed one after another.
Status write_chrome_trace(const std::string& path, const std::vector<RunProfile>& runs);

}  // namespace kiln
