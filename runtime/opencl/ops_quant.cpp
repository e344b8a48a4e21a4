// OpenCL kernels for int8: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// MatMulInteger...
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

void register_cl_quant(ClOpRegistry& r) {
  (void)r;
}

}  // namespace kiln::opencl
