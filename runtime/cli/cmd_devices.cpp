#include <cstdio>

#include "runtime/cli/commands.h"

namespace kiln::cli {

int cmd_devices(int, char**) {
  std::fprintf(stderr, "kiln devices: not implemented yet\n");
  return kExitFailure;
}

}  // namespace kiln::cli
