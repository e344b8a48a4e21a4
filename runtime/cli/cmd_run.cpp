#include <cstdio>

#include "runtime/cli/commands.h"

namespace kiln::cli {

int cmd_run(int, char**) {
  std::fprintf(stderr, "kiln run: not implemented yet\n");
  return kExitFailure;
}

}  // namespace kiln::cli
