// CPU reference kernels: reduction ops.
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

void register_reduction_kernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
