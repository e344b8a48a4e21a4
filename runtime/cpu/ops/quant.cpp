// CPU reference kernels: quant ops.
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

void register_quant_kernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cpu
