// Tensors whose bytes are not cleared on allocation, for kernels that write every element
// before anything reads them (the hot CPU kernels' outputs: GEMM, int8 GEMM float outputs,
// vectorised elementwise, GELU). Tensor::create zero-fills, which costs a full write pass over
// each output; at BERT-base int8 that was 7.5% of the run. In sanitizer builds the bytes are set
// to 0xFF instead (NaN in every float type, -1 in integers), so a kernel that leaves an element
// unwritten shows up in the tests rather than reading another tensor's stale values.
#pragma once

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln {

// As Tensor::create (same checks and errors), without zero-filling.
Expected<Tensor> create_uninitialized(DType dtype, const Shape& shape);

}  // namespace kiln
