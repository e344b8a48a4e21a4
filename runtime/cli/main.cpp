// kiln: the command-line front end. `kiln COMMAND --help` describes each command.
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/cli/commands.h"

namespace {

void print_usage(FILE* f) {
  std::fprintf(f,
               "usage: kiln COMMAND [ARGS]\n"
               "\n"
               "commands:\n"
               "  run MODEL          run a model on a device and write its outputs\n"
               "  info MODEL         inputs, outputs, opsets, op histogram, parameters\n"
               "  conformance [DIR]  run ONNX backend test cases\n"
               "  devices            list OpenCL and Vulkan devices and their capabilities\n"
               "  compare MODEL      run a model on two paths and diff the outputs (and nodes)\n"
               "  bench MODEL        latency percentiles of a model on a device\n"
               "  optimize IN OUT    run the graph optimizations of a level and write the model\n"
               "  quantize IN OUT    quantize MatMul / Gemm weights to int8 (dynamic or static)\n"
               "\n"
               "common options: --device auto|cpu|opencl[:N]|vulkan[:N], --json FILE\n"
               "Run 'kiln COMMAND --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr so that stdout stays for results. KILN_LOG_LEVEL=debug|info|warn|error.
  auto logger = spdlog::stderr_color_mt("kiln");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[kiln %^%l%$] %v");
  spdlog::set_level(spdlog::level::warn);
  if (const char* lvl = std::getenv("KILN_LOG_LEVEL"))
    spdlog::set_level(spdlog::level::from_str(lvl));

  if (argc < 2) {
    print_usage(stderr);
    return kiln::cli::kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    print_usage(stdout);
    return kiln::cli::kExitOk;
  }
  if (cmd == "--version") {
    std::printf("kiln 0.1.0\n");
    return kiln::cli::kExitOk;
  }
  if (cmd == "run") return kiln::cli::cmd_run(argc, argv);
  if (cmd == "info") return kiln::cli::cmd_info(argc, argv);
  if (cmd == "conformance") return kiln::cli::cmd_conformance(argc, argv);
  if (cmd == "devices") return kiln::cli::cmd_devices(argc, argv);
  if (cmd == "compare") return kiln::cli::cmd_compare(argc, argv);
  if (cmd == "bench") return kiln::cli::cmd_bench(argc, argv);
  if (cmd == "optimize") return kiln::cli::cmd_optimize(argc, argv);
  if (cmd == "quantize") return kiln::cli::cmd_quantize(argc, argv);
  std::fprintf(stderr, "kiln: unknown command '%s'\n", cmd.c_str());
  print_usage(stderr);
  return kiln::cli::kExitUsage;
}
