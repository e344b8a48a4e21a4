#include <cstdio>

#include "runtime/cli/commands.h"

namespace kiln::cli {

int cmd_compare(int, char**) {
  std::fprintf(stderr, "kiln compare: not implemented yet\n");
  return kExitFailure;
}

}  // namespace kiln::cli
