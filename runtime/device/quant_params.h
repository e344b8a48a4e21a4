// Backend-neutral parameter logic of the int8 ops shared by the OpenCL and Vulkan backends
// (runtime/opencl/ops_quant.cpp, runtime/vulkan/ops_quant.cpp): which inputs a quantized MatMul
// form has, QuantizeLinear's output type and per-tensor / per-axis layout, and the QLinearMatMul
// input checks, all by the CPU reference's rules (runtime/cpu/ops/quant.cpp, quant_matmul.cpp,
// contrib_matmul.cpp). Each backend keeps its GEMM geometry and kernel choice.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/device/backend.h"

namespace kiln::device {

// In their own namespace so that argument-dependent lookup on InputInfo does not find them next
// to a backend's own helpers.
namespace quant {

inline bool has(const std::vector<InputInfo>& in, size_t i) {
  return i < in.size() && in[i].present;
}
inline bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}
inline bool is_scalar_like(const Shape& s) {
  return s.size() <= 1 && numel_of(s) == 1;
}

// Per tensor (axis_dim 1) or per axis: the scale index of element e is (e / inner) % axis_dim.
struct QLayout {
  bool per_axis = false;
  int64_t axis_dim = 1, inner = 1;
};

// The CPU's quant_layout() rules for the forms the devices run (no blocked quantization;
// `backend` names the device in that refusal).
Expected<QLayout> q_layout(const ir::Node& n, const Shape& x, const Shape& scale,
                           const InputInfo* zp, const char* backend);

// QuantizeLinear's output dtype (uint8 / int8 only), or why not.
Expected<DType> quantize_out_type(const ir::Node& n, const std::vector<InputInfo>& in);

// MatMulInteger, MatMulIntegerToFloat and DynamicQuantizeMatMul: which input is which (-1 when
// absent), and the dtype and shape checks every device applies.
struct QMatMulForm {
  int a = 0, b = 1, a_zp = -1, b_zp = -1, a_scale = -1, b_scale = -1, bias = -1;
  bool dynamic = false;  // A is float32, quantized on the device first
};
Expected<QMatMulForm> qmatmul_form(const ir::Node& n, const std::vector<InputInfo>& in);

// A zero point or scale of B: per tensor (0) or per column (1: shape [N], or [1.., 1, N] no longer
// than the output's batch rank + 2), as the CPU's map_param allows; anything else is refused.
Expected<int> b_param_stride(const Shape& ps, int64_t n, bool b_vec, size_t out_batch_rank,
                             const char* what);

// QLinearMatMul's inputs in the forms the devices run: all 8 present, 8-bit a / b / y with
// matching zero points, float32 scales, per-tensor a and y parameters, b's scale and zero point
// of one shape. (b's per-column shape is checked against the GEMM with b_param_stride.)
Status qlinear_inputs(const std::vector<InputInfo>& in);

}  // namespace quant
}  // namespace kiln::device
