// kiln optimize IN OUT: loads a model, runs the graph passes of an optimization level on it,
// writes the result as ONNX (graph/onnx/exporter.h) and says what each pass did.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "graph/onnx/exporter.h"
#include "graph/onnx/importer.h"
#include "graph/passes/pass.h"
#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"

namespace kiln::cli {

namespace {

const char* kHelp =
    "usage: kiln optimize IN OUT [options]\n"
    "Runs the graph optimizations of a level on the ONNX model IN and writes the result to OUT\n"
    "(an ONNX model that other runtimes load too; big initializers go to OUT.data only when the\n"
    "model would pass 2 GiB). Prints what each pass did and the node counts.\n"
    "\n"
    "  --level N     0 (none), 1 (basic: folding, eliminations, MatMul+Add -> Gemm; default),\n"
    "                2 (extended: also the fusions), 99 (all, may be specific to --device)\n"
    "  --device D    the backend the model is meant for: auto (= cpu), cpu, opencl[:N],\n"
    "                vulkan[:N]; only level 99 may depend on it\n"
    "  --json FILE   write {level, nodes_before, nodes_after, counts} as JSON\n"
    "  --quiet       print nothing but errors\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

int fail(const Failure& f) {
  return report_failure("optimize", f);
}

}  // namespace

int cmd_optimize(int argc, char** argv) {
  Args args({"level", "device", "json"}, {"quiet", "help"});
  if (!args.parse(argc, argv, 2)) return fail({kExitUsage, args.error()});
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  if (args.positional().size() != 2)
    return fail({kExitUsage, "expected an input and an output model file, got " +
                                 std::to_string(args.positional().size()) + " arguments"});
  const std::string in = args.positional()[0], out = args.positional()[1];
  long long level = 1;
  if (!args.get_int("level", 1, &level)) return fail({kExitUsage, args.error()});
  if (level != 0 && level != 1 && level != 2 && level != 99)
    return fail({kExitUsage, "--level " + std::to_string(level) +
                                 " is not one of 0 (none), 1 (basic), 2 (extended), 99 (all)"});
  const std::string device = args.get("device", "auto");
  if (!valid_device(device))
    return fail({kExitUsage,
                 "unknown device '" + device + "' (expected auto, cpu, opencl[:N] or vulkan[:N])"});
  const bool quiet = args.flag("quiet");

  auto model = onnx_io::load_model(in);
  if (!model) return fail({kExitFailure, model.status().message()});
  ir::Graph& g = *model->graph;
  const size_t nodes_before = g.num_nodes();

  passes::PassContext ctx;
  ctx.level = static_cast<int>(level);
  ctx.target = device == "auto" ? "cpu" : device.substr(0, device.find(':'));
  if (Status st = passes::optimize(g, ctx); !st.is_ok())
    return fail({kExitFailure, in + ": " + st.message()});
  const size_t nodes_after = g.num_nodes();

  onnx_io::ExportOptions eo;
  eo.ir_version = model->ir_version;
  if (Status st = onnx_io::save_model(g, out, eo); !st.is_ok())
    return fail({kExitFailure, st.message()});

  if (!quiet) {
    std::printf("%s -> %s (level %lld)\n", in.c_str(), out.c_str(), level);
    std::printf("nodes: %zu -> %zu\n", nodes_before, nodes_after);
    const std::string what = ctx.stats.to_string();
    std::printf("passes: %s\n", what.empty() ? "nothing changed" : what.c_str());
  }
  if (args.has("json")) {
    nlohmann::json j;
    j["input"] = in;
    j["output"] = out;
    j["level"] = level;
    j["nodes_before"] = nodes_before;
    j["nodes_after"] = nodes_after;
    j["counts"] = nlohmann::json::object();
    for (const auto& [k, v] : ctx.stats.counts) j["counts"][k] = v;
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) return fail({kExitFailure, "cannot write --json file '" + args.get("json") + "'"});
  }
  return kExitOk;
}

}  // namespace kiln::cli
