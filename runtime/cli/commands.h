// Entry points of the kiln subcommands. Each returns the process exit code:
// 0 success, 1 failure or mismatch, 2 usage error.
#pragma once

namespace kiln::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int cmd_run(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_conformance(int argc, char** argv);
int cmd_devices(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_optimize(int argc, char** argv);
int cmd_quantize(int argc, char** argv);

}  // namespace kiln::cli
