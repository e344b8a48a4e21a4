// kiln run MODEL: feeds inputs (files, a folder, or seeded random data), runs the model through
// kiln::Session, prints a summary of each output and optionally writes them as .npy files.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/io/tensor_io.h"
#include "runtime/session.h"
#include "runtime/tools/inputs.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: kiln run MODEL [options]\n"
    "Runs an ONNX model and prints each output's shape, dtype, first values and min/max/mean.\n"
    "\n"
    "  --device D          auto (default), cpu, opencl[:N], vulkan[:N]\n"
    "  --input NAME=FILE   feed input NAME from a .npy or TensorProto .pb file (repeatable)\n"
    "  --inputs DIR        feed each input from DIR/NAME.npy or DIR/NAME.pb\n"
    "  --random            make inputs not given otherwise: floats uniform in [-1, 1), bools\n"
    "                      random, integers in [0, table size) when they index a Gather over a\n"
    "                      constant table, [0, 2) for names containing 'mask', else [0, 10)\n"
    "  --seed N            seed for --random (default 0)\n"
    "  --dim NAME=VALUE    value of a symbolic dimension for --random (repeatable)\n"
    "  --output-dir DIR    write each output as DIR/NAME.npy\n"
    "  --threads N         CPU threads (default: one per hardware thread)\n"
    "  --level N           graph optimization level: 0 none, 1 basic (default), 2 extended,\n"
    "                      99 all (the ONNX Runtime meanings)\n"
    "  --precision P       fp32 (default) or fp16: float16 weights and activations\n"
    "  --json FILE         write a JSON summary\n"
    "  --verbose           also describe the inputs and where each node ran\n"
    "  --quiet             print nothing but errors\n"
    "In file names, the characters '/', '\\' and ':' of tensor names are replaced by '_'.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

// A failure with its exit code.
// --- printing -------------------------------------------------------------------------------

struct Stats {
  bool any = false;  // at least one finite or infinite value
  double min = 0, max = 0, mean = 0;
  int64_t nan = 0;
};

Stats stats_of(const Tensor& t) {
  Stats s;
  double sum = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get_as_double(i);
    if (std::isnan(v)) {
      ++s.nan;
      continue;
    }
    if (!s.any) s.min = s.max = v, s.any = true;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
    ++count;
  }
  if (count) s.mean = sum / static_cast<double>(count);
  if (s.nan && count == 0) s.mean = std::numeric_limits<double>::quiet_NaN();
  return s;
}

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string format_value(const Tensor& t, int64_t i) {
  std::string out;
  bool done = visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = t.data<T>()[i];
    if constexpr (std::is_same_v<T, bool>) {
      out = v ? "true" : "false";
    } else if constexpr (std::is_integral_v<T>) {
      out = std::to_string(v);
    } else {
      out = format_double(t.get_as_double(i));
    }
  });
  return done ? out : "?";
}

std::string dims_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

int fail(const Failure& f) {
  return report_failure("run", f);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int cmd_run(int argc, char** argv) {
  Args args({"device", "level", "precision", "input", "inputs", "seed", "dim", "output-dir",
             "threads", "json"},
            {"random", "verbose", "quiet", "help"});
  if (!args.parse(argc, argv, 2)) return fail({kExitUsage, args.error()});
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  std::string model_path, device;
  if (auto f = model_and_device(args, &model_path, &device)) return fail(*f);
  long long seed = 0, threads = 0;
  if (!args.get_int("seed", 0, &seed) || !args.get_int("threads", 0, &threads))
    return fail({kExitUsage, args.error()});
  if (threads < 0 || threads > 4096)
    return fail({kExitUsage, "--threads must be between 0 and 4096"});
  tools::InputSpec spec;
  if (Status st = tools::parse_input_args(args.all("input"), args.all("dim"), &spec); !st.is_ok())
    return fail({kExitUsage, st.message()});
  const std::string inputs_dir = args.get("inputs");
  const bool random = args.flag("random"), quiet = args.flag("quiet"),
             verbose = args.flag("verbose") && !quiet;
  if (auto f = check_inputs_folder(inputs_dir)) return fail(*f);

  // Load.
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

  // Feeds.
  spec.dir = inputs_dir;
  spec.random = random;
  spec.seed = static_cast<uint64_t>(seed);
  bool usage_error = false;
  auto gathered = tools::gather_inputs(s, spec, &usage_error);
  if (!gathered)
    return fail({usage_error ? kExitUsage : kExitFailure, gathered.status().message()});
  if (!quiet)
    for (const std::string& note : gathered->notes)
      std::fprintf(stderr, "kiln run: note: %s\n", note.c_str());
  std::map<std::string, Tensor>& feeds = gathered->feeds;
  std::map<std::string, std::string>& sources = gathered->sources;
  if (verbose) {
    std::printf("inputs:\n");
    for (const auto& in : s.inputs()) {
      const Tensor& t = feeds[in.name];
      std::printf("  %s: %s %s from %s\n", in.name.c_str(), dtype_name(t.dtype()),
                  dims_to_string(t.shape()).c_str(), sources[in.name].c_str());
    }
  }

  // Run.
  t0 = std::chrono::steady_clock::now();
  auto outputs = s.run(feeds);
  if (!outputs) return fail({kExitFailure, outputs.status().message()});
  const double run_ms = ms_since(t0);
  if (verbose && s.device_executor()) {
    // Where each node ran: the partition of the graph between the device and the CPU.
    const auto& placement = s.device_executor()->last_assignment();
    size_t on_device = 0;
    for (const auto& a : placement) on_device += a.on_device ? 1 : 0;
    std::printf("placement: %zu of %zu nodes on %s\n", on_device, placement.size(),
                s.device().c_str());
    for (const auto& a : placement)
      if (!a.on_device && a.node)
        std::printf("  cpu: %s: %s\n", a.node->describe().c_str(), a.reason.c_str());
  }

  // Outputs.
  const std::string out_dir = args.get("output-dir");
  if (!out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (!fs::is_directory(out_dir, ec))
      return fail({kExitFailure, "--output-dir: cannot create the folder '" + out_dir + "'"});
  }
  nlohmann::json jouts = nlohmann::json::array();
  if (!quiet) std::printf("model: %s\ndevice: %s\n", model_path.c_str(), s.device().c_str());
  for (size_t i = 0; i < outputs->size() && i < s.outputs().size(); ++i) {
    const std::string& name = s.outputs()[i].name;
    const Tensor& t = (*outputs)[i];
    Stats st = stats_of(t);
    std::string file;
    if (!out_dir.empty()) {
      file = (fs::path(out_dir) / (io::tensor_file_stem(name) + ".npy")).string();
      Tensor to_save = t;
      if (t.dtype() == DType::kBFloat16) {  // numpy has no bfloat16: save as float32
        auto f = Tensor::create(DType::kFloat32, t.shape());
        if (!f) return fail({kExitFailure, "output '" + name + "': " + f.status().message()});
        for (int64_t k = 0; k < t.numel(); ++k) f->set_from_double(k, t.get_as_double(k));
        to_save = *f;
        if (!quiet)
          std::fprintf(stderr, "kiln run: note: output '%s' is bfloat16; saved as float32\n",
                       name.c_str());
      }
      Status ws = io::save_npy(to_save, file);
      if (!ws.is_ok()) return fail({kExitFailure, "output '" + name + "': " + ws.message()});
    }
    if (!quiet) {
      std::printf("output %s: %s %s\n", name.c_str(), dtype_name(t.dtype()),
                  dims_to_string(t.shape()).c_str());
      const int64_t shown = std::min<int64_t>(t.numel(), 8);
      std::string vals;
      for (int64_t k = 0; k < shown; ++k) {
        if (k) vals += " ";
        vals += format_value(t, k);
      }
      if (t.numel() > shown) vals += " ...";
      std::printf("  values: %s\n", t.numel() ? vals.c_str() : "(empty)");
      if (st.any)
        std::printf("  min %s  max %s  mean %s", format_double(st.min).c_str(),
                    format_double(st.max).c_str(), format_double(st.mean).c_str());
      else
        std::printf("  min -  max -  mean -");
      if (st.nan) std::printf("  (%lld NaN)", static_cast<long long>(st.nan));
      std::printf("\n");
      if (!file.empty()) std::printf("  written to %s\n", file.c_str());
    }
    nlohmann::json jo;
    jo["name"] = name;
    jo["shape"] = t.shape();
    jo["dtype"] = dtype_name(t.dtype());
    jo["min"] = st.any ? number_or_null(st.min) : nlohmann::json(nullptr);
    jo["max"] = st.any ? number_or_null(st.max) : nlohmann::json(nullptr);
    jo["mean"] = st.any ? number_or_null(st.mean) : nlohmann::json(nullptr);
    jo["nan_count"] = st.nan;
    jo["file"] = file.empty() ? nlohmann::json(nullptr) : nlohmann::json(file);
    jouts.push_back(jo);
  }
  if (!quiet) std::printf("time: load %.2f ms, first run %.2f ms\n", load_ms, run_ms);

  if (args.has("json")) {
    nlohmann::json j;
    j["model"] = model_path;
    j["device"] = s.device();
    j["load_ms"] = load_ms;
    j["run_ms"] = run_ms;
    j["inputs"] = nlohmann::json::array();
    for (const auto& in : s.inputs()) {
      const Tensor& t = feeds[in.name];
      j["inputs"].push_back({{"name", in.name},
                             {"shape", t.shape()},
                             {"dtype", dtype_name(t.dtype())},
                             {"source", sources[in.name]}});
    }
    j["outputs"] = jouts;
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    f.close();
    if (!f) return fail({kExitFailure, "cannot write the JSON file '" + args.get("json") + "'"});
  }
  return kExitOk;
}

}  // namespace kiln::cli
