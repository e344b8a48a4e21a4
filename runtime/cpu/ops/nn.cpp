// CPU reference kernels: nn ops.
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

void register_nn_kernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
