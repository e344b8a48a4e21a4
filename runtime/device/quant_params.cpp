// Shared int8 op parameters (see quant_params.h).
#include "runtime/device/quant_params.h"

#include <string>

#include "runtime/cpu/ops/common.h"

namespace kiln::device::quant {

namespace {

int64_t attr_int(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

}  // namespace

Expected<QLayout> q_layout(const ir::Node& n, const Shape& x, const Shape& scale,
                           const InputInfo* zp, const char* backend) {
  if (zp && !(zp->desc.shape == scale || (is_scalar_like(zp->desc.shape) && is_scalar_like(scale))))
    return invalid_argument("scale and zero point differ in shape");
  if (n.opset() >= 21 && attr_int(n, "block_size", 0) != 0)
    return unsupported(std::string("blocked quantization (block_size) is not supported on ") +
                       backend);
  QLayout q;
  if (is_scalar_like(scale)) return q;
  if (n.opset() < 13) return invalid_argument("scale must be a scalar before opset 13");
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) return invalid_argument("per-axis quantization needs an input of rank >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalize_axis(attr_int(n, "axis", 1), rank, "axis"));
  if (scale.size() != 1 || scale[0] != x[axis])
    return invalid_argument("scale " + shape_to_string(scale) + " does not match axis " +
                            std::to_string(axis) + " of " + shape_to_string(x));
  q.per_axis = true;
  q.axis_dim = x[axis];
  for (int64_t i = axis + 1; i < rank; ++i) q.inner *= x[i];
  return q;
}

Expected<DType> quantize_out_type(const ir::Node& n, const std::vector<InputInfo>& in) {
  DType out = DType::kUInt8;
  const int64_t od = n.opset() >= 21 ? attr_int(n, "output_dtype", 0) : 0;
  if (od == static_cast<int64_t>(DType::kInt8))
    out = DType::kInt8;
  else if (od != 0 && od != static_cast<int64_t>(DType::kUInt8))
    return unsupported("output_dtype " + std::to_string(od) + " (only int8 / uint8)");
  if (has(in, 2)) {
    if (!is_8bit(in[2].desc.dtype)) return unsupported("zero points other than int8 / uint8");
    if (od != 0 && in[2].desc.dtype != out)
      return invalid_argument("output_dtype differs from the zero point's dtype");
    out = in[2].desc.dtype;
  }
  return out;
}

Expected<QMatMulForm> qmatmul_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  QMatMulForm f;
  const std::string& op = n.op_type();
  auto opt = [&](size_t i) { return has(in, i) ? static_cast<int>(i) : -1; };
  if (op == "MatMulInteger") {
    f.a_zp = opt(2);
    f.b_zp = opt(3);
  } else if (op == "MatMulIntegerToFloat") {
    if (!has(in, 2) || !has(in, 3)) return invalid_argument("needs inputs A, B, a_scale, b_scale");
    f.a_scale = 2;
    f.b_scale = 3;
    f.a_zp = opt(4);
    f.b_zp = opt(5);
    f.bias = opt(6);
  } else {  // DynamicQuantizeMatMul
    if (!has(in, 2)) return invalid_argument("needs inputs A, B and b_scale");
    f.dynamic = true;
    f.b_scale = 2;
    f.b_zp = opt(3);
    f.bias = opt(4);
  }
  if (!has(in, 0) || !has(in, 1)) return invalid_argument("inputs A and B are required");
  const DType at = in[0].desc.dtype, bt = in[1].desc.dtype;
  if (f.dynamic ? at != DType::kFloat32 : !is_8bit(at))
    return invalid_argument(f.dynamic ? "A must be float32" : "A must be uint8 or int8");
  if (!is_8bit(bt)) return invalid_argument("B must be uint8 or int8");
  if (f.a_zp >= 0 && (in[f.a_zp].desc.dtype != at || numel_of(in[f.a_zp].desc.shape) != 1))
    return unsupported("a_zero_point must be one value of A's dtype on the device");
  if (f.b_zp >= 0 && in[f.b_zp].desc.dtype != bt)
    return invalid_argument("b_zero_point must have B's dtype");
  for (int s : {f.a_scale, f.b_scale, f.bias})
    if (s >= 0 && in[s].desc.dtype != DType::kFloat32)
      return unsupported("only float32 scales and bias on the device");
  if (f.a_scale >= 0 && !is_scalar_like(in[f.a_scale].desc.shape))
    return invalid_argument("a_scale must be a scalar");
  if (op != "MatMulInteger") {
    if (in[0].desc.shape.size() < 2 || in[1].desc.shape.size() < 2)
      return unsupported("1-D operands");
    if (f.a_zp >= 0 && !is_scalar_like(in[f.a_zp].desc.shape))
      return invalid_argument("a_zero_point must be a scalar");
  }
  return f;
}

Expected<int> b_param_stride(const Shape& ps, int64_t n, bool b_vec, size_t out_batch_rank,
                             const char* what) {
  if (numel_of(ps) == 1) return 0;
  bool ok = !b_vec && !ps.empty() && ps.back() == n && numel_of(ps) == n;
  if (ps.size() >= 2) ok = ok && ps.size() <= out_batch_rank + 2;
  if (!ok)
    return unsupported(std::string(what) + " of shape " + shape_to_string(ps) +
                       " (only per tensor or per column of B on the device)");
  return 1;
}

Status qlinear_inputs(const std::vector<InputInfo>& in) {
  for (size_t i = 0; i < 8; ++i)
    if (!has(in, i)) return invalid_argument("all 8 inputs of QLinearMatMul are required");
  if (!is_8bit(in[0].desc.dtype) || !is_8bit(in[3].desc.dtype) || !is_8bit(in[7].desc.dtype))
    return unsupported("a, b and y must be uint8 or int8");
  if (in[2].desc.dtype != in[0].desc.dtype || in[5].desc.dtype != in[3].desc.dtype)
    return invalid_argument("a_zero_point / b_zero_point must have the dtype of a / b");
  for (int s : {1, 4, 6})
    if (in[s].desc.dtype != DType::kFloat32)
      return unsupported("only float32 scales on the device");
  for (int s : {1, 2, 6, 7})
    if (!is_scalar_like(in[s].desc.shape))
      return unsupported(
          "a_scale / a_zero_point / y_scale / y_zero_point must be per tensor on the device");
  const Shape &bs = in[4].desc.shape, &bz = in[5].desc.shape;
  if (!(bs == bz || (is_scalar_like(bs) && is_scalar_like(bz))))
    return invalid_argument("b_scale and b_zero_point differ in shape");
  return Status::ok();
}

}  // namespace kiln::device::quant
