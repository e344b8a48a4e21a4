// ONNX Runtime contrib ops (domain com.microsoft) on the CPU reference path.
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

void register_contrib_kernels(KernelRegistry& /*r*/) {}

}  // namespace kiln::cpu
