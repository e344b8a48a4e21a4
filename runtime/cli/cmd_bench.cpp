// kiln bench MODEL: loads a model through kiln::Session, reports the cold start (load time, first
// run with its kernel builds and memory plan, whether the OpenCL program cache on disk was hit),
// then times warm runs and prints latency statistics (runtime/tools/bench_stats.h) and throughput.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/io/tensor_io.h"
#include "runtime/opencl/cl_context.h"
#include "runtime/profile.h"
#include "runtime/session.h"
#include "runtime/tools/bench_stats.h"
#include "runtime/tools/inputs.h"
#include "runtime/tools/op_model.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: kiln bench MODEL [options]\n"
    "       kiln bench --op OP --shape S [--dtype float32|float16] [options]\n"
    "Times a model on a device: the load and the first (cold) run separately, then warm-up runs\n"
    "(not timed) and timed runs, and prints latency statistics and throughput.\n"
    "\n"
    "  --device D          auto (default), cpu, opencl[:N], vulkan[:N]\n"
    "  --warmup N          untimed runs before the timed ones (default 5)\n"
    "  --runs N            timed runs (default 50, at least 1)\n"
    "  --threads N         CPU threads (default: one per hardware thread)\n"
    "  --level N           graph optimization level: 0 none, 1 basic (default), 2 extended,\n"
    "                      99 all (the ONNX Runtime meanings)\n"
    "  --precision P       fp32 (default) or fp16: float16 weights and activations\n"
    "  --inputs DIR        feed each input from DIR/NAME.npy or DIR/NAME.pb; inputs not found\n"
    "                      there are made at random as `kiln run --random` makes them\n"
    "  --dim NAME=VALUE    value of a symbolic dimension for random inputs (repeatable)\n"
    "  --seed N            seed for random inputs (default 0)\n"
    "  --profile FILE      write a Chrome trace (chrome://tracing, Perfetto) of the profiled runs\n"
    "  --profile-runs N    runs profiled after the timed ones for the per-kernel table\n"
    "                      (default: min(--runs, 10); 0: no table)\n"
    "  --json FILE         write the results as JSON\n"
    "\n"
    "Kernel micro-benchmarks: --op writes a one-op model with random constant weights and\n"
    "benchmarks it like a model, adding GFLOP/s and GB/s at the median:\n"
    "%s"
    "\n"
    "Latency: mean, sample standard deviation (divisor n-1), min, max, and the 50th, 90th and\n"
    "99th percentiles by linear interpolation between the closest ranks (numpy's default).\n"
    "Throughput: runs/s = 1000 / mean latency in ms; inferences/s = batch * runs/s when the\n"
    "first input's dimension 0 is symbolic and named like a batch ('batch...', 'N').\n"
    "OpenCL program cache: 'hit' when the first run compiled no program (every binary came\n"
    "from the disk cache), 'miss' when it compiled and wrote some; 'off' with KILN_CACHE_DIR=off.\n"
    "In file names, the characters '/', '\\' and ':' of tensor names are replaced by '_'.\n"
    "Per-kernel table: the profiled runs time every node (device nodes one at a time, waiting\n"
    "for each; a CPU node's time includes downloading its inputs), so they are kept apart from\n"
    "the timed runs. Per kernel: calls, total ms, share of the summed node time, GFLOP/s\n"
    "(MatMul, Gemm, Conv, attention and common elementwise ops) and GB/s (input + output bytes).\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int fail(const Failure& f) {
  return report_failure("bench", f);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string dims_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

// The compiled OpenCL programs in the disk cache, with their modification times: a program the
// first run compiles appears as a new or rewritten file (it is written by an atomic rename).
using CacheListing = std::map<std::string, fs::file_time_type>;
CacheListing list_program_cache(const std::string& dir) {
  CacheListing out;
  if (dir.empty()) return out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("opencl-", 0) != 0 || name.size() < 4 ||
        name.compare(name.size() - 4, 4, ".bin") != 0)
      continue;
    std::error_code tec;
    auto t = it->last_write_time(tec);
    if (!tec) out[name] = t;
  }
  return out;
}

int count_new_programs(const CacheListing& before, const CacheListing& after) {
  int n = 0;
  for (const auto& [name, t] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second != t) ++n;
  }
  return n;
}

// Rewrites one progress line on a terminal; prints plain lines (about every tenth) otherwise.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {}
  void update(const char* phase, int done, int total, double last_ms) {
    if (tty_) {
      auto now = std::chrono::steady_clock::now();
      if (done != total && done != 1 && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      std::printf("\r%s %d/%d  last %.3f ms   ", phase, done, total, last_ms);
      std::fflush(stdout);
      shown_ = true;
    } else {
      const int step = std::max(1, total / 10);
      if (done % step != 0 && done != total) return;
      std::printf("%s %d/%d  last %.3f ms\n", phase, done, total, last_ms);
      std::fflush(stdout);
    }
  }
  // Clears the line on a terminal so that the results start at column 0.
  void clear() {
    if (tty_ && shown_) {
      std::printf("\r\033[K");
      std::fflush(stdout);
    }
    shown_ = false;
  }

 private:
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args({"device", "level", "precision", "warmup", "runs", "threads", "dim", "inputs", "seed",
             "json", "profile", "profile-runs", "op", "shape", "dtype"},
            {"help"});
  if (!args.parse(argc, argv, 2)) return fail({kExitUsage, args.error()});
  if (args.flag("help")) {
    std::printf(kHelp, tools::op_model_help());
    return kExitOk;
  }
  std::string model_path, device;
  // --op: a one-op model written to a temporary folder stands in for MODEL.
  std::optional<tools::OpModel> op_model;
  std::optional<TempDir> op_dir;
  if (args.has("op")) {
    if (!args.positional().empty())
      return fail({kExitUsage, "--op replaces MODEL: give one or the other"});
    if (!args.has("shape")) return fail({kExitUsage, "--op needs --shape"});
    op_dir.emplace("kiln-bench");
    if (op_dir->path().empty()) return fail({kExitFailure, "cannot create a temporary folder"});
    auto m = tools::make_op_model(args.get("op"), args.get("shape"), args.get("dtype", "float32"),
                                  op_dir->path().string());
    if (!m)
      return fail({m.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure,
                   m.status().message()});
    op_model = *m;
    model_path = m->path;
    device = args.get("device", "auto");
    if (!valid_device(device))
      return fail({kExitUsage, "unknown device '" + device +
                                   "' (expected auto, cpu, opencl[:N] or vulkan[:N])"});
  } else {
    if (args.has("shape") || args.has("dtype"))
      return fail({kExitUsage, "--shape and --dtype go with --op"});
    if (auto f = model_and_device(args, &model_path, &device)) return fail(*f);
  }
  long long seed = 0, threads = 0, warmup = 5, runs = 50;
  if (!args.get_int("seed", 0, &seed) || !args.get_int("threads", 0, &threads) ||
      !args.get_int("warmup", 5, &warmup) || !args.get_int("runs", 50, &runs))
    return fail({kExitUsage, args.error()});
  long long profile_runs = 0;
  if (!args.get_int("profile-runs", std::min<long long>(runs, 10), &profile_runs))
    return fail({kExitUsage, args.error()});
  if (profile_runs < 0 || profile_runs > 100000)
    return fail({kExitUsage, "--profile-runs must be between 0 and 100000"});
  constexpr long long kMaxRuns = 100000000;
  if (threads < 0 || threads > 4096)
    return fail({kExitUsage, "--threads must be between 0 and 4096"});
  if (runs < 1 || runs > kMaxRuns)
    return fail({kExitUsage, "--runs must be between 1 and " + std::to_string(kMaxRuns)});
  if (warmup < 0 || warmup > kMaxRuns)
    return fail({kExitUsage, "--warmup must be between 0 and " + std::to_string(kMaxRuns)});
  tools::InputSpec input_spec;
  if (Status st = tools::parse_input_args({}, args.all("dim"), &input_spec); !st.is_ok())
    return fail({kExitUsage, st.message()});
  const std::string inputs_dir = args.get("inputs");
  if (auto f = check_inputs_folder(inputs_dir)) return fail(*f);
  const bool tty = ::isatty(::fileno(stdout)) != 0;

  // Load (the OpenCL cache listing is taken first: programs may be built while loading).
  const std::string cache_dir = opencl::kernel_cache_dir();
  const CacheListing cache_before = list_program_cache(cache_dir);
  SessionOptions so;
  so.device = device;
  so.threads = static_cast<int>(threads);
  if (auto f = optimization_level(args, &so.optimization_level)) return fail(*f);
  if (auto f = precision(args, &so.precision)) return fail(*f);
  auto t0 = std::chrono::steady_clock::now();
  auto session = Session::load(model_path, so);
  if (!session) return fail({kExitFailure, session.status().message()});
  const double load_ms = ms_since(t0);
  Session& s = **session;

  // Feeds: files from --inputs first (their shapes fix symbolic dimensions), then random ones,
  // exactly as `kiln run --inputs DIR --random` makes them.
  input_spec.dir = inputs_dir;
  input_spec.random = true;
  input_spec.seed = static_cast<uint64_t>(seed);
  bool usage_error = false;
  auto gathered = tools::gather_inputs(s, input_spec, &usage_error);
  if (!gathered)
    return fail({usage_error ? kExitUsage : kExitFailure, gathered.status().message()});
  std::map<std::string, Tensor>& feeds = gathered->feeds;
  std::map<std::string, std::string>& sources = gathered->sources;

  // Batch: dimension 0 of the first input when it is symbolic and named like a batch.
  int64_t batch = -1;
  std::string batch_from;
  if (!s.inputs().empty()) {
    const IoInfo& first = s.inputs().front();
    const Tensor& t = feeds[first.name];
    if (first.info.has_shape && !first.info.dims.empty() && t.rank() >= 1 &&
        !first.info.dims[0].known()) {
      const std::string p = lower(first.info.dims[0].param);
      if (p.find("batch") != std::string::npos || p == "n") {
        batch = t.shape()[0];
        batch_from = first.name;
      }
    }
  }

  if (op_model)
    std::printf("op: %s (%.3f GFLOP, %.3f MB per run)\n", op_model->description.c_str(),
                op_model->flops / 1e9, op_model->bytes / 1e6);
  else
    std::printf("model: %s\n", model_path.c_str());
  std::printf("device: %s\n", s.device().c_str());
  for (const auto& in : s.inputs()) {
    const Tensor& t = feeds[in.name];
    std::printf("input %s: %s %s (%s)\n", in.name.c_str(), dtype_name(t.dtype()),
                dims_to_string(t.shape()).c_str(), sources[in.name].c_str());
  }
  std::printf("load: %.3f ms\n", load_ms);
  std::fflush(stdout);

  // Cold first run: kernel builds (or disk-cache loads) and the memory plan happen here.
  t0 = std::chrono::steady_clock::now();
  auto first = s.run(feeds);
  const double first_run_ms = ms_since(t0);
  if (!first) return fail({kExitFailure, "first run: " + first.status().message()});
  first->clear();

  const bool on_opencl = s.device().rfind("opencl", 0) == 0;
  std::string cache_state;  // "" when not on OpenCL
  int programs_compiled = 0;
  size_t kernels_prepared = 0;
  if (const device::HybridExecutor* hx = s.device_executor())
    kernels_prepared = hx->kernels_prepared();
  if (on_opencl) {
    if (cache_dir.empty()) {
      cache_state = "off";
    } else {
      programs_compiled = count_new_programs(cache_before, list_program_cache(cache_dir));
      cache_state = programs_compiled > 0 ? "miss" : "hit";
    }
  }
  std::printf("first run: %.3f ms", first_run_ms);
  if (on_opencl) {
    std::printf(" (%zu device kernels prepared; OpenCL program cache: %s", kernels_prepared,
                cache_state.c_str());
    if (cache_state == "miss") std::printf(", %d programs compiled", programs_compiled);
    std::printf(")");
  }
  std::printf("\n");
  std::fflush(stdout);

  // Warm-up (not timed), then the timed runs.
  Progress progress(tty);
  for (long long i = 0; i < warmup; ++i) {
    auto w0 = std::chrono::steady_clock::now();
    auto out = s.run(feeds);
    if (!out) {
      progress.clear();
      return fail(
          {kExitFailure, "warm-up run " + std::to_string(i + 1) + ": " + out.status().message()});
    }
    if (tty)
      progress.update("warm-up", static_cast<int>(i + 1), static_cast<int>(warmup), ms_since(w0));
  }
  progress.clear();
  std::printf("warm-up: %lld runs (not timed)\n", warmup);
  std::fflush(stdout);
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(runs));
  for (long long i = 0; i < runs; ++i) {
    auto r0 = std::chrono::steady_clock::now();
    auto out = s.run(feeds);
    const double ms = ms_since(r0);
    if (!out) {
      progress.clear();
      return fail({kExitFailure, "run " + std::to_string(i + 1) + " of " + std::to_string(runs) +
                                     ": " + out.status().message()});
    }
    samples.push_back(ms);
    progress.update("run", static_cast<int>(i + 1), static_cast<int>(runs), ms);
  }
  progress.clear();

  const tools::LatencyStats st = tools::summarize(samples);
  const double runs_per_s = st.mean > 0 ? 1000.0 / st.mean : 0.0;
  std::printf(
      "latency (ms) over %d runs: mean %.3f  std %.3f  min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  "
      "max %.3f\n",
      st.count, st.mean, st.std, st.min, st.p50, st.p90, st.p99, st.max);
  std::printf("throughput: %.2f runs/s", runs_per_s);
  if (batch >= 0)
    std::printf(", %.2f inferences/s (batch %lld from dim 0 of '%s')",
                static_cast<double>(batch) * runs_per_s, static_cast<long long>(batch),
                batch_from.c_str());
  std::printf("\n");
  double op_gflops = 0, op_gbs = 0;
  if (op_model && st.p50 > 0) {
    op_gflops = op_model->flops / (st.p50 / 1000.0) / 1e9;
    op_gbs = op_model->bytes / (st.p50 / 1000.0) / 1e9;
    std::printf("at p50: %.2f GFLOP/s, %.2f GB/s\n", op_gflops, op_gbs);
  }

  // Profiled runs: the per-kernel table and the trace.
  std::vector<RunProfile> profiles;
  if (profile_runs == 0 && args.has("profile")) profile_runs = 1;
  if (profile_runs > 0) {
    s.set_profiling(true);
    for (long long i = 0; i < profile_runs; ++i) {
      auto out = s.run(feeds);
      if (!out)
        return fail({kExitFailure,
                     "profiled run " + std::to_string(i + 1) + ": " + out.status().message()});
      profiles.push_back(s.last_profile());
    }
    s.set_profiling(false);
  }
  const std::vector<KernelSummary> kernels = summarize_kernels(profiles);
  if (!kernels.empty()) {
    double run_ms = 0;
    for (const RunProfile& p : profiles) run_ms += p.run_us / 1000.0;
    std::printf("\nper kernel over %zu profiled runs (%.3f ms per run):\n", profiles.size(),
                profiles.empty() ? 0.0 : run_ms / static_cast<double>(profiles.size()));
    std::printf("  %-34s %-14s %7s %10s %9s %6s %9s %8s\n", "kernel", "where", "calls", "total ms",
                "mean ms", "share", "GFLOP/s", "GB/s");
    for (const KernelSummary& k : kernels) {
      const std::string where = k.track == "cpu" ? "cpu" : k.track.substr(0, k.track.find(' '));
      std::printf("  %-34s %-14s %7lld %10.3f %9.4f %5.1f%% %9.2f %8.2f\n", k.name.c_str(),
                  where.c_str(), k.calls, k.total_ms, k.mean_ms, 100.0 * k.share, k.gflops,
                  k.gbytes_s);
    }
  }
  if (args.has("profile")) {
    Status st = write_chrome_trace(args.get("profile"), profiles);
    if (!st.is_ok()) return fail({kExitFailure, st.message()});
    std::printf("trace: %s (%zu runs)\n", args.get("profile").c_str(), profiles.size());
  }

  if (args.has("json")) {
    nlohmann::json j;
    j["model"] = model_path;
    j["device"] = s.device();
    j["runs"] = st.count;
    j["warmup"] = warmup;
    j["load_ms"] = load_ms;
    j["first_run_ms"] = first_run_ms;
    j["latency_ms"] = {{"mean", number_or_null(st.mean)}, {"std", number_or_null(st.std)},
                       {"min", number_or_null(st.min)},   {"p50", number_or_null(st.p50)},
                       {"p90", number_or_null(st.p90)},   {"p99", number_or_null(st.p99)},
                       {"max", number_or_null(st.max)}};
    j["percentile_method"] = "linear";
    j["throughput_per_s"] = number_or_null(runs_per_s);
    j["batch"] = batch >= 0 ? nlohmann::json(batch) : nlohmann::json(nullptr);
    j["inferences_per_s"] = batch >= 0 ? number_or_null(static_cast<double>(batch) * runs_per_s)
                                       : nlohmann::json(nullptr);
    j["threads"] = threads;
    j["inputs"] = nlohmann::json::array();
    for (const auto& in : s.inputs()) {
      const Tensor& t = feeds[in.name];
      j["inputs"].push_back({{"name", in.name},
                             {"shape", t.shape()},
                             {"dtype", dtype_name(t.dtype())},
                             {"source", sources[in.name]}});
    }
    j["level"] = so.optimization_level;
    if (op_model) {
      j["op"] = {{"name", args.get("op")},
                 {"shape", args.get("shape")},
                 {"dtype", args.get("dtype", "float32")},
                 {"description", op_model->description},
                 {"flops", op_model->flops},
                 {"bytes", op_model->bytes},
                 {"gflops_p50", op_gflops},
                 {"gbytes_per_s_p50", op_gbs}};
      j["model"] = nullptr;
    }
    j["profiled_runs"] = profiles.size();
    j["kernels"] = nlohmann::json::array();
    for (const KernelSummary& k : kernels)
      j["kernels"].push_back({{"name", k.name},
                              {"op", k.op},
                              {"device", k.track},
                              {"calls", k.calls},
                              {"total_ms", k.total_ms},
                              {"mean_ms", k.mean_ms},
                              {"share", k.share},
                              {"gflops", k.gflops},
                              {"gbytes_per_s", k.gbytes_s}});
    if (on_opencl) {
      j["kernels_prepared"] = kernels_prepared;
      j["opencl_program_cache"] = cache_state;
      j["programs_compiled"] = programs_compiled;
    }
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    f.close();
    if (!f) return fail({kExitFailure, "cannot write the JSON file '" + args.get("json") + "'"});
  }
  return kExitOk;
}

}  // namespace kiln::cli
