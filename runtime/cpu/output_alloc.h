// Output allocation without zero-filling, for CPU kernels that write every element of the
// output before returning (see runtime/core/tensor_uninit.h). A kernel that may leave elements
// unwritten (skipped rows, partial scatters) must use OpContext::allocate_output instead.
#pragma once

#include <string>

#include "runtime/core/tensor_uninit.h"
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

inline Expected<Tensor*> allocate_output_uninit(OpContext& ctx, size_t i, DType dtype,
                                                const Shape& shape) {
  if (i >= ctx.num_outputs()) return ctx.invalid("has no output " + std::to_string(i));
  auto t = create_uninitialized(dtype, shape);
  if (!t) return t.status().with_context(ctx.node().describe() + " output " + std::to_string(i));
  ctx.outputs()[i] = std::move(*t);
  return &ctx.outputs()[i];
}

}  // namespace kiln::cpu
