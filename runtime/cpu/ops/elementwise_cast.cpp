// CPU reference kernels: Cast and CastLike between every numeric dtype and bool.
// Float -> integer truncates toward zero; NaN gives 0 and out-of-range values saturate (ONNX
// leaves both undefined). Conversions to float16/bfloat16 round once, to nearest even.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<T> || is_half_v<T>;

// double -> float rounded to odd: a later rounding to a narrower format (half, bfloat16) then
// gives the correctly rounded result of the original double.
float double_to_float_odd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(f) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits |= 1u;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename To, typename From>
To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, bool>) {
    if constexpr (is_half_v<To>)
      return To(v ? 1.0f : 0.0f);
    else
      return static_cast<To>(v ? 1 : 0);
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_half_v<From>)
      return static_cast<float>(v) != 0.0f;  // NaN -> true
    else
      return v != 0;
  } else if constexpr (is_half_v<To>) {
    if constexpr (std::is_same_v<From, float> || is_half_v<From>)
      return To(static_cast<float>(v));
    else
      return To(double_to_float_odd(static_cast<double>(v)));
  } else if constexpr (is_float_v<From> && std::is_integral_v<To>) {
    const double d = static_cast<double>(static_cast<compute_t<From>>(v));
    if (std::isnan(d)) return To(0);
    const double t = std::trunc(d);
    if (t >= std::ldexp(1.0, std::numeric_limits<To>::digits))
      return std::numeric_limits<To>::max();
    if (t < static_cast<double>(std::numeric_limits<To>::min()))
      return std::numeric_limits<To>::min();
    return static_cast<To>(t);
  } else if constexpr (is_half_v<From>) {
    return static_cast<To>(static_cast<float>(v));  // To is float or double
  } else {
    return static_cast<To>(v);  // integer <-> integer (modular), integer -> float, float <-> double
  }
}

// Converts x to dtype `to` into output 0.
Status cast_to(OpContext& ctx, const Tensor& x, DType to) {
  if (x.dtype() == to) {
    ctx.set_output(0, x);
    return Status::ok();
  }
  if (!is_storable(x.dtype()))
    return ctx.unsupported_here(std::string("casting from ") + dtype_name(x.dtype()) +
                                " is not supported");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, to, x.shape()));
  visit_dtype(x.dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    visit_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* px = x.data<From>();
      To* py = y->data<To>();
      ctx.parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) py[i] = convert<To, From>(px[i]);
      });
    });
  });
  return Status::ok();
}

Status check_saturate(const OpContext& ctx) {
  const int64_t saturate = ctx.attr_int("saturate", 1);
  if (saturate != 0 && saturate != 1) return ctx.invalid("attribute 'saturate' must be 0 or 1");
  return Status::ok();
}

Status cast_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is missing");
  if (!ctx.has_attr("to")) return ctx.invalid("attribute 'to' is required");
  KILN_RETURN_IF_ERROR(check_saturate(ctx));
  const int64_t to = ctx.attr_int("to", 0);
  auto dt =
      to >= INT32_MIN && to <= INT32_MAX ? dtype_from_onnx(static_cast<int32_t>(to)) : std::nullopt;
  if (!dt || *dt == DType::kUndefined)
    return ctx.unsupported_here("casting to ONNX type " + std::to_string(to) + " is not supported");
  if (!is_storable(*dt))
    return ctx.unsupported_here(std::string("casting to ") + dtype_name(*dt) + " is not supported");
  return cast_to(ctx, ctx.input(0), *dt);
}

Status cast_like_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs two inputs");
  KILN_RETURN_IF_ERROR(check_saturate(ctx));
  const DType to = ctx.input(1).dtype();
  if (!is_storable(to))
    return ctx.unsupported_here(std::string("casting to ") + dtype_name(to) + " is not supported");
  return cast_to(ctx, ctx.input(0), to);
}

}  // namespace

void register_elementwise_cast_kernels(KernelRegistry& r) {
  r.add("", "Cast", cast_kernel);
  r.add("", "CastLike", cast_like_kernel, 15);
}

}  // namespace kiln::cpu
