// kiln info MODEL: what a model declares and contains. Uses the importer only (no Session), so
// models with ops kiln cannot run still show their information.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graph/onnx/importer.h"
#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"

namespace kiln::cli {

namespace {

const char* kHelp =
    "usage: kiln info MODEL [--json FILE]\n"
    "Prints the IR version, producer, opset imports, inputs and outputs (dtypes and symbolic\n"
    "shapes), the op histogram, the parameter count and bytes, external data files and the\n"
    "import warnings.\n"
    "Exit status: 0 success, 1 failure (e.g. unreadable model), 2 usage error.\n";

nlohmann::json shape_json(const ir::ValueInfo& info) {
  if (!info.has_shape) return nullptr;
  nlohmann::json dims = nlohmann::json::array();
  for (const ir::Dim& d : info.dims) {
    if (d.known())
      dims.push_back(d.value);
    else if (!d.param.empty())
      dims.push_back(d.param);
    else
      dims.push_back(nullptr);
  }
  return dims;
}

std::string shape_text(const ir::ValueInfo& info) {
  if (!info.has_shape) return "(rank unknown)";
  std::string out = "[";
  for (size_t i = 0; i < info.dims.size(); ++i) {
    const ir::Dim& d = info.dims[i];
    out += i ? ", " : "";
    out += d.known() ? std::to_string(d.value) : d.param.empty() ? "?" : d.param;
  }
  return out + "]";
}

std::string human_bytes(uint64_t b) {
  char buf[64];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20))
    std::snprintf(buf, sizeof(buf), "%.2f MiB", static_cast<double>(b) / (1ull << 20));
  else if (b >= (1ull << 10))
    std::snprintf(buf, sizeof(buf), "%.2f KiB", static_cast<double>(b) / (1ull << 10));
  else
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string domain_name(const std::string& d) {
  return d.empty() ? "ai.onnx" : d;
}

}  // namespace

int cmd_info(int argc, char** argv) {
  Args args({"json"}, {"help"});
  if (!args.parse(argc, argv, 2)) {
    std::fprintf(stderr, "kiln info: %s\n%s", args.error().c_str(), kHelp);
    return kExitUsage;
  }
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  if (args.positional().size() != 1) {
    std::fprintf(stderr, "kiln info: expected one model file\n%s", kHelp);
    return kExitUsage;
  }
  const std::string path = args.positional()[0];
  auto model = onnx_io::load_model(path);
  if (!model) {
    std::fprintf(stderr, "kiln info: %s\n", one_line(model.status().message()).c_str());
    return kExitFailure;
  }
  const ir::Graph& g = *model->graph;

  std::map<std::string, int64_t> counts;
  for (const ir::Node* n : g.nodes())
    ++counts[n->domain().empty() ? n->op_type() : n->domain() + "." + n->op_type()];
  std::vector<std::pair<std::string, int64_t>> hist(counts.begin(), counts.end());
  std::stable_sort(hist.begin(), hist.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });

  int64_t params = 0;
  uint64_t param_bytes = 0;
  const std::vector<ir::Value*> inits = g.initializers();
  for (const ir::Value* v : inits) {
    params += v->initializer().numel();
    param_bytes += v->initializer().nbytes();
  }

  std::printf("model: %s\n", path.c_str());
  std::printf("ir_version: %lld\n", static_cast<long long>(model->ir_version));
  std::string producer = model->producer_name;
  if (!model->producer_version.empty()) producer += " " + model->producer_version;
  std::printf("producer: %s\n", producer.empty() ? "(none)" : producer.c_str());
  std::printf("opsets:");
  for (const auto& [d, v] : g.opsets()) std::printf(" %s %d", domain_name(d).c_str(), v);
  std::printf("\ninputs:\n");
  for (const ir::Value* v : g.inputs())
    std::printf("  %s: %s %s\n", v->name().c_str(), dtype_name(v->info().dtype),
                shape_text(v->info()).c_str());
  std::printf("outputs:\n");
  for (const ir::Value* v : g.outputs())
    std::printf("  %s: %s %s\n", v->name().c_str(), dtype_name(v->info().dtype),
                shape_text(v->info()).c_str());
  std::printf("ops (%zu nodes, %zu op types):\n", g.num_nodes(), hist.size());
  for (const auto& [op, c] : hist)
    std::printf("  %-28s %lld\n", op.c_str(), static_cast<long long>(c));
  std::printf("parameters: %lld in %zu initializers (%s)\n", static_cast<long long>(params),
              inits.size(), human_bytes(param_bytes).c_str());
  if (!model->external_files.empty()) {
    std::printf("external data:\n");
    for (const auto& f : model->external_files) std::printf("  %s\n", f.c_str());
  }
  if (!model->warnings.empty()) {
    std::printf("warnings:\n");
    for (std::string w : model->warnings) {
      while (!w.empty() && w.back() == '\n') w.pop_back();
      for (size_t p = w.find('\n'); p != std::string::npos; p = w.find('\n', p + 5))
        w.replace(p, 1, "\n    ");
      std::printf("  %s\n", w.c_str());
    }
  }

  if (args.has("json")) {
    nlohmann::json j;
    j["model"] = path;
    j["ir_version"] = model->ir_version;
    j["producer_name"] = model->producer_name;
    j["producer_version"] = model->producer_version;
    j["opsets"] = nlohmann::json::object();
    for (const auto& [d, v] : g.opsets()) j["opsets"][domain_name(d)] = v;
    auto io = [](const std::vector<ir::Value*>& vs) {
      nlohmann::json a = nlohmann::json::array();
      for (const ir::Value* v : vs)
        a.push_back({{"name", v->name()},
                     {"dtype", dtype_name(v->info().dtype)},
                     {"shape", shape_json(v->info())}});
      return a;
    };
    j["inputs"] = io(g.inputs());
    j["outputs"] = io(g.outputs());
    j["nodes"] = g.num_nodes();
    j["ops"] = nlohmann::json::array();
    for (const auto& [op, c] : hist) j["ops"].push_back({{"op", op}, {"count", c}});
    j["initializers"] = inits.size();
    j["parameters"] = params;
    j["parameter_bytes"] = param_bytes;
    j["external_data"] = model->external_files;
    j["warnings"] = model->warnings;
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    f.close();
    if (!f) {
      std::fprintf(stderr, "kiln info: cannot write the JSON file '%s'\n",
                   args.get("json").c_str());
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace kiln::cli
