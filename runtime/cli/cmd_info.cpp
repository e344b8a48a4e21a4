#include <cstdio>

#include "runtime/cli/commands.h"

namespace kiln::cli {

int cmd_info(int, char**) {
  std::fprintf(stderr, "kiln info: not implemented yet\n");
  return kExitFailure;
}

}  // namespace kiln::cli
