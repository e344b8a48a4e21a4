// OpenCL ops: nn family.
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

void register_cl_nn(ClOpRegistry& r) { (void)r; }

}  // namespace kiln::opencl
