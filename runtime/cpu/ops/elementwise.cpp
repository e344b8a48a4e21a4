// CPU reference kernels: elementwise ops. This file registers every elementwise kernel (the
// others live in elementwise_binary.cpp, elementwise_unary.cpp and elementwise_cast.cpp) and
// holds Identity and inference-mode Dropout.
#include <cmath>
#include <type_traits>

#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

void register_elementwise_binary_kernels(KernelRegistry& r);
void register_elementwise_unary_kernels(KernelRegistry& r);
void register_elementwise_cast_kernels(KernelRegistry& r);

namespace {

Status identity_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is missing");
  ctx.set_output(0, ctx.input(0));  // tensors share storage: no copy
  return Status::ok();
}

// Output 1 of Dropout: all ones of `dtype` (bool from opset 10, the input's dtype before).
Status dropout_mask(OpContext& ctx, DType dtype, const Shape& shape) {
  KILN_ASSIGN_OR_RETURN(Tensor * m, ctx.allocate_output(1, dtype, shape));
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T one;
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
      one = T(1.0f);
    else
      one = static_cast<T>(1);
    T* p = m->data<T>();
    for (int64_t i = 0; i < m->numel(); ++i) p[i] = one;
  });
  return Status::ok();
}

// Reads an optional scalar input of Dropout-12+ as a double (left unchanged when omitted).
Status dropout_scalar(const OpContext& ctx, size_t i, const char* what, double* v) {
  if (!ctx.has_input(i)) return Status::ok();
  const Tensor& t = ctx.input(i);
  if (t.numel() != 1)
    return ctx.invalid(std::string("'") + what + "' must be a scalar, its shape is " +
                       shape_to_string(t.shape()));
  if (!is_storable(t.dtype()) || dtype_size(t.dtype()) == 0)
    return ctx.invalid(std::string("'") + what + "' has unsupported dtype");
  *v = t.get_as_double(0);
  return Status::ok();
}

// Inference: output = input and the mask is all true. Training mode (is_test = 0 before opset 7,
// a true training_mode input from opset 12) is random unless the ratio is 0: unsupported.
Status dropout_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is missing");
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.invalid(std::string("does not accept inputs of dtype ") + dtype_name(x.dtype()));
  double ratio = 0.5;
  bool training = false;
  if (ctx.opset() < 7) {
    training = ctx.attr_int("is_test", 0) == 0;
    ratio = ctx.attr_float("ratio", 0.5f);
  } else if (ctx.opset() < 12) {
    ratio = ctx.attr_float("ratio", 0.5f);
  } else {
    KILN_RETURN_IF_ERROR(dropout_scalar(ctx, 1, "ratio", &ratio));
    if (ctx.has_input(1) && !is_float(ctx.input(1).dtype()))
      return ctx.invalid("'ratio' must be a floating-point scalar");
    double t = 0;
    KILN_RETURN_IF_ERROR(dropout_scalar(ctx, 2, "training_mode", &t));
    if (ctx.has_input(2) && ctx.input(2).dtype() != DType::kBool)
      return ctx.invalid("'training_mode' must be a bool scalar");
    training = t != 0;
  }
  if (!(ratio >= 0 && ratio <= 1))
    return ctx.invalid("ratio " + std::to_string(ratio) + " is outside [0, 1]");
  if (training && ratio != 0)
    return ctx.unsupported_here("training-mode Dropout (random masks) is not supported");
  ctx.set_output(0, x);
  if (ctx.wants_output(1))
    KILN_RETURN_IF_ERROR(dropout_mask(ctx, ctx.opset() < 10 ? x.dtype() : DType::kBool, x.shape()));
  return Status::ok();
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& r) {
  register_elementwise_binary_kernels(r);
  register_elementwise_unary_kernels(r);
  register_elementwise_cast_kernels(r);
  r.add("", "Identity", identity_kernel);
  r.add("", "Dropout", dropout_kernel);
}

}  // namespace kiln::cpu
