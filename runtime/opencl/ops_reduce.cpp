// OpenCL ops: reduce family.
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

void register_cl_reduce(ClOpRegistry& r) { (void)r; }

}  // namespace kiln::opencl
