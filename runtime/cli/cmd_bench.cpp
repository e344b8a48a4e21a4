#include <cstdio>

#include "runtime/cli/commands.h"

namespace kiln::cli {

int cmd_bench(int, char**) {
  std::fprintf(stderr, "kiln bench: not implemented yet\n");
  return kExitFailure;
}

}  // namespace kiln::cli
