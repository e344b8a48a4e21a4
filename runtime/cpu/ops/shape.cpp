// CPU reference kernels: shape ops.
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

void register_shape_kernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
