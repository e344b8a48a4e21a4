// kiln quantize IN OUT: INT8 quantization of a model (graph/passes/quantize.h), dynamic
// (QOperator or weight-only QDQ) or static with calibration (QDQ or QOperator); writes the
// result as ONNX and prints the sizes before and after and the counts of quantized nodes.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "graph/onnx/exporter.h"
#include "graph/onnx/importer.h"
#include "graph/passes/quantize.h"
#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"
#include "runtime/io/tensor_io.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: kiln quantize IN OUT [options]\n"
    "Quantizes the MatMul / Gemm / Conv / Gather / Attention weights of the ONNX model IN to 8\n"
    "bits and writes OUT, like onnxruntime.quantization.quantize_dynamic (or quantize_static\n"
    "with --calibrate). Only nodes whose weight is a constant float32 tensor are quantized.\n"
    "Prints sizes and counts.\n"
    "\n"
    "  --format F          qoperator (default without --calibrate): DynamicQuantizeLinear +\n"
    "                      MatMulInteger + Cast + Mul, activations quantized at run time;\n"
    "                      with --calibrate: QuantizeLinear + QLinearMatMul / QLinearConv with\n"
    "                      calibrated output scales (Gemm with a bias stays float);\n"
    "                      qdq (default with --calibrate): int8 weights through\n"
    "                      DequantizeLinear (activations float unless --calibrate)\n"
    "  --per-channel       one scale / zero point per output channel (column of B)\n"
    "  --reduce-range      7-bit weights: [-64, 64] for int8, [0, 127] for uint8\n"
    "  --symmetric         symmetric weights (default for int8; zero point 0, range [-127, 127])\n"
    "  --asymmetric        asymmetric weights (default for uint8)\n"
    "  --weight-type T     int8 (default) or uint8\n"
    "  --op-types A,B      op types to quantize: MatMul, Gemm, Conv, Gather, Attention (default\n"
    "                      all; Conv weights are per tensor in qoperator format, as ONNX\n"
    "                      Runtime's ConvInteger; Gather: constant tables to uint8, as ONNX\n"
    "                      Runtime; Attention: com.microsoft Attention -> QAttention, qoperator)\n"
    "  --nodes-to-exclude  comma-separated node names left in float\n"
    "  --calibrate DIR     static quantization (QDQ or QOperator): DIR holds input sets,\n"
    "                      each a subfolder of NAME.npy (one per graph input), or NAME.npy\n"
    "                      files directly (one set)\n"
    "  --method M          calibration: minmax (default) or percentile\n"
    "  --percentile P      for --method percentile: the range is [P(100-p), P(p)] (default 99.99)\n"
    "  --threads N         CPU threads for calibration (default: all)\n"
    "  --json FILE         write sizes, counts and skipped nodes as JSON\n"
    "  --quiet             print nothing but errors\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

int fail(const Failure& f) {
  return report_failure("quantize", f);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// Bytes of a model file and of its external data files.
int64_t model_bytes(const std::string& path, const std::vector<std::string>& external) {
  std::error_code ec;
  int64_t n = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) n = 0;
  const fs::path base = fs::path(path).parent_path();
  for (const std::string& e : external) {
    const auto sz = fs::file_size(base / e, ec);
    if (!ec) n += static_cast<int64_t>(sz);
  }
  return n;
}

bool has_npy(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".npy") return true;
  return false;
}

// The input sets of a calibration folder (see --calibrate).
Expected<std::vector<std::map<std::string, Tensor>>> load_input_sets(const ir::Graph& g,
                                                                     const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found("--calibrate: '" + dir + "' is not a folder");
  std::vector<fs::path> sets;
  if (has_npy(dir)) {
    sets.push_back(dir);
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory()) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
  }
  if (sets.empty())
    return not_found("--calibrate: '" + dir + "' holds no .npy files and no subfolders of them");
  std::vector<std::map<std::string, Tensor>> out;
  for (const fs::path& s : sets) {
    std::map<std::string, Tensor> feeds;
    for (const ir::Value* in : g.inputs()) {
      if (in->is_initializer()) continue;
      const fs::path file = s / (io::tensor_file_stem(in->name()) + ".npy");
      if (!fs::exists(file, ec))
        return not_found("--calibrate: input set '" + s.string() + "' has no file '" +
                         file.string() + "' for graph input '" + in->name() + "'");
      auto t = io::load_tensor_file(file.string());
      if (!t) return t.status();
      feeds[in->name()] = std::move(*t);
    }
    out.push_back(std::move(feeds));
  }
  return out;
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
  Args args({"format", "weight-type", "op-types", "nodes-to-exclude", "calibrate", "method",
             "percentile", "threads", "json"},
            {"per-channel", "reduce-range", "symmetric", "asymmetric", "quiet", "help"});
  if (!args.parse(argc, argv, 2)) return fail({kExitUsage, args.error()});
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  if (args.positional().size() != 2)
    return fail({kExitUsage, "expected an input and an output model file, got " +
                                 std::to_string(args.positional().size()) + " arguments"});
  const std::string in = args.positional()[0], out = args.positional()[1];

  passes::QuantizeOptions o;
  o.per_channel = args.flag("per-channel");
  o.reduce_range = args.flag("reduce-range");
  if (args.flag("symmetric") && args.flag("asymmetric"))
    return fail({kExitUsage, "--symmetric and --asymmetric exclude each other"});
  if (args.flag("symmetric")) o.symmetric = true;
  if (args.flag("asymmetric")) o.symmetric = false;
  const std::string wt = args.get("weight-type", "int8");
  if (wt == "int8")
    o.weight_type = DType::kInt8;
  else if (wt == "uint8")
    o.weight_type = DType::kUInt8;
  else
    return fail({kExitUsage, "--weight-type must be int8 or uint8, got '" + wt + "'"});
  if (args.has("op-types")) {
    o.op_types.clear();
    for (const std::string& op : split_list(args.get("op-types"))) {
      if (!passes::supported_quant_op_types().count(op))
        return fail({kExitUsage, "--op-types: cannot quantize '" + op +
                                     "' (supported: MatMul, Gemm, Conv, Gather, Attention)"});
      o.op_types.insert(op);
    }
    if (o.op_types.empty()) return fail({kExitUsage, "--op-types is empty"});
  }
  for (const std::string& n : split_list(args.get("nodes-to-exclude")))
    o.nodes_to_exclude.insert(n);
  const bool calibrate = args.has("calibrate");
  const std::string format = args.get("format", calibrate ? "qdq" : "qoperator");
  if (format == "qoperator")
    o.format = passes::QuantFormat::kQOperator;
  else if (format == "qdq")
    o.format = passes::QuantFormat::kQDQ;
  else
    return fail({kExitUsage, "--format must be qoperator or qdq, got '" + format + "'"});
  if (!calibrate && (args.has("method") || args.has("percentile")))
    return fail({kExitUsage, "--method and --percentile need --calibrate DIR"});
  const std::string method_s = args.get("method", "minmax");
  if (method_s != "minmax" && method_s != "percentile")
    return fail({kExitUsage, "--method must be minmax or percentile, got '" + method_s + "'"});
  const auto method = method_s == "percentile" ? passes::CalibrationMethod::kPercentile
                                               : passes::CalibrationMethod::kMinMax;
  double percentile = 99.99;
  if (args.has("percentile")) {
    if (method != passes::CalibrationMethod::kPercentile)
      return fail({kExitUsage, "--percentile needs --method percentile"});
    const std::string p = args.get("percentile");
    char* end = nullptr;
    percentile = std::strtod(p.c_str(), &end);
    if (p.empty() || *end != '\0' || !(percentile > 50 && percentile <= 100))
      return fail({kExitUsage, "--percentile must be a number in (50, 100], got '" + p + "'"});
  }
  long long threads = 0;
  if (!args.get_int("threads", 0, &threads)) return fail({kExitUsage, args.error()});
  const bool quiet = args.flag("quiet");

  auto model = onnx_io::load_model(in);
  if (!model) return fail({kExitFailure, model.status().message()});
  ir::Graph& g = *model->graph;
  const int64_t size_before = model_bytes(in, model->external_files);

  passes::QuantizeReport report;
  if (calibrate) {
    auto sets = load_input_sets(g, args.get("calibrate"));
    if (!sets) return fail({kExitFailure, sets.status().message()});
    auto ranges = passes::calibrate(g, o, *sets, method, percentile, static_cast<int>(threads));
    if (!ranges) return fail({kExitFailure, in + ": calibration: " + ranges.status().message()});
    const Status st = o.format == passes::QuantFormat::kQOperator
                          ? passes::quantize_static_qoperator(g, o, *ranges, &report)
                          : passes::quantize_static(g, o, *ranges, &report);
    if (!st.is_ok()) return fail({kExitFailure, in + ": " + st.message()});
  } else if (Status st = passes::quantize_dynamic(g, o, &report); !st.is_ok()) {
    return fail({kExitFailure, in + ": " + st.message()});
  }

  onnx_io::ExportOptions eo;
  eo.ir_version = model->ir_version;
  if (Status st = onnx_io::save_model(g, out, eo); !st.is_ok())
    return fail({kExitFailure, st.message()});
  std::vector<std::string> out_external;
  std::error_code ec;
  if (fs::exists(out + ".data", ec)) out_external.push_back(fs::path(out + ".data").filename());
  const int64_t size_after = model_bytes(out, out_external);

  std::string counts;
  for (const auto& [op, c] : report.quantized)
    counts += (counts.empty() ? "" : ", ") + op + " " + std::to_string(c);
  if (!quiet) {
    const bool sym = o.symmetric.value_or(o.weight_type == DType::kInt8);
    std::printf("%s -> %s (%s, %s, %s weights, %s, %s%s)\n", in.c_str(), out.c_str(),
                calibrate ? "static" : "dynamic", format.c_str(), wt.c_str(),
                o.per_channel ? "per channel" : "per tensor", sym ? "symmetric" : "asymmetric",
                o.reduce_range ? ", reduced range" : "");
    std::printf("size: %lld -> %lld bytes (%.1f%%)\n", static_cast<long long>(size_before),
                static_cast<long long>(size_after),
                size_before > 0
                    ? 100.0 * static_cast<double>(size_after) / static_cast<double>(size_before)
                    : 0.0);
    std::printf("weights: %lld float bytes -> %lld quantized bytes (%lld tensors)\n",
                static_cast<long long>(report.float_weight_bytes),
                static_cast<long long>(report.quant_weight_bytes),
                static_cast<long long>(report.weights_quantized));
    std::printf("quantized nodes: %lld (%s), activations quantized: %lld\n",
                static_cast<long long>(report.total_quantized()),
                counts.empty() ? "none" : counts.c_str(),
                static_cast<long long>(report.activations_quantized));
    for (const std::string& s : report.skipped) std::printf("skipped: %s\n", s.c_str());
  }
  if (args.has("json")) {
    nlohmann::json j;
    j["input"] = in;
    j["output"] = out;
    j["mode"] = calibrate ? "static" : "dynamic";
    j["format"] = format;
    j["size_before"] = size_before;
    j["size_after"] = size_after;
    j["float_weight_bytes"] = report.float_weight_bytes;
    j["quant_weight_bytes"] = report.quant_weight_bytes;
    j["weights_quantized"] = report.weights_quantized;
    j["activations_quantized"] = report.activations_quantized;
    j["quantized_nodes"] = report.total_quantized();
    j["quantized"] = nlohmann::json::object();
    for (const auto& [op, c] : report.quantized) j["quantized"][op] = c;
    j["skipped"] = report.skipped;
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) return fail({kExitFailure, "cannot write --json file '" + args.get("json") + "'"});
  }
  return kExitOk;
}

}  // namespace kiln::cli
