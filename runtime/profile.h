// Per-node profiles of runs, for `kiln bench`/`kiln run --profile`: what each node cost, where it
// ran, a per-kernel summary with GFLOP/s and GB/s, and Chrome trace output (chrome://tracing,
// Perfetto).
//
// Timing: CPU nodes are timed with the host clock around the kernel call. Device nodes are timed
// on the device's clock when the backend has one (OpenCL profiling events; see
// Backend::set_timing), else synchronously (the executor waits for each device node to finish
// before the next one starts, so the time includes the launch overhead). Profiled runs are slower
// than unprofiled ones and `kiln bench` keeps them apart from the timed runs.
//
// Roofline: each device's peaks (FP32 GFLOP/s, and memory bandwidth by working-set size) are
// measured once, never guessed, and cached on disk (<cache dir>/peaks.json, keyed by device and
// driver). A kernel's roofline share is the time the roofline allows for its work divided by the
// time it took: per call, max(flops / peak_gflops, bytes / bandwidth_for(bytes)), summed over its
// calls. For one call that is achieved GFLOP/s / min(peak GFLOP/s, intensity x peak GB/s), and
// GB/s / peak GB/s for kernels that do no counted arithmetic.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/device/backend.h"

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
  double total_ms = 0;   // summed over every profiled run
  double mean_ms = 0;    // per call
  double share = 0;      // of the summed node time, in [0, 1]
  double gflops = 0;     // total flops / total time (0 when not counted)
  double gbytes_s = 0;   // total bytes / total time
  double roofline = -1;  // share of the device's roofline (see the file comment); -1: no peaks
};

// Measured peaks of one device (or the CPU).
struct DevicePeaks {
  std::string key;      // what the figures belong to: device name and driver
  double gflops = 0;    // FP32 GFLOP/s
  double gbytes_s = 0;  // the highest bandwidth measured at any working-set size
  // Bandwidth by working-set size (bytes read + written per pass), by increasing size.
  std::vector<std::pair<double, double>> bandwidth;  // {bytes, GB/s}
  std::string method;                                // how they were measured, for the report
  bool from_cache = false;
  // The bandwidth roof for a kernel moving `bytes` per call: the best bandwidth measured at a
  // working set of at least bytes / 2 (data that fits a cache level is held to that level's
  // bandwidth), the largest size's figure beyond the largest size measured.
  double bandwidth_for(double bytes) const;
  bool valid() const { return gflops > 0 && gbytes_s > 0; }
};

// The higher of each figure of `a` and `b` (bandwidth per working-set size; sizes only one of
// them has are kept): peaks can only be under-measured, never over. Methods are joined.
DevicePeaks max_of_peaks(const DevicePeaks& a, const DevicePeaks& b);

// One line per kernel over all runs, by decreasing total time. With `peaks` (keyed by event
// track: "cpu" or the device's name), the kernels on a track with peaks get their roofline share.
std::vector<KernelSummary> summarize_kernels(const std::vector<RunProfile>& runs,
                                             const std::map<std::string, DevicePeaks>& peaks = {});

// The CPU's peaks with `threads` threads (0: one per hardware thread): an FMA loop (AVX-512 or
// AVX2 where the CPU has them, scalar otherwise) on every thread, and memcpy at several working
// sets. Takes about a second.
DevicePeaks measure_cpu_peaks(int threads);

// A device's peaks through its own backend: the best of a few 512^3 MatMuls (FP32) and Add
// kernels over working sets from 192 KiB to 48 MiB, timed on the device clock when the backend
// has one, else on the host around batches of launches. Takes a few seconds.
Expected<DevicePeaks> measure_backend_peaks(device::Backend& backend);

// Prepares `op` (an ai.onnx op with float32 inputs of `input_shapes`, default attributes) on
// `backend`, fills the inputs, launches it once untimed and then `reps` times, and returns the
// best seconds per launch (device clock when the backend has one, else the host clock around
// batches) and, in `kernel_name`, the prepared kernel's name.
Expected<double> time_device_op(device::Backend& backend, const std::string& op,
                                const std::vector<Shape>& input_shapes, int reps,
                                std::string* kernel_name = nullptr);

// Peaks for `key` from the cache file (<cache dir>/peaks.json), else measured by `measure` and
// stored there (`refresh`: measure again even when cached). The cache dir is $KILN_CACHE_DIR,
// else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln; KILN_CACHE_DIR=off measures every time.
Expected<DevicePeaks> cached_peaks(const std::string& key,
                                   const std::function<Expected<DevicePeaks>()>& measure,
                                   bool refresh = false);

// Writes a Chrome trace (JSON object format, "X" complete events in microseconds): one process,
// one thread (track) per device queue and one for the CPU path, runs placed one after another.
Status write_chrome_trace(const std::string& path, const std::vector<RunProfile>& runs);

}  // namespace kiln
