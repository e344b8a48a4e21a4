// CPU reference kernels: elementwise ops.
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

void register_elementwise_kernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
