// OpenCL ops: data family.
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

void register_cl_data(ClOpRegistry& r) { (void)r; }

}  // namespace kiln::opencl
