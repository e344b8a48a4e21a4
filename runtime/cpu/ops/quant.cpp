// CPU reference kernels: linear quantization (QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear). The quantized matmuls live in quant_matmul.cpp. DynamicQuantizeLinear
// runs vectorised min / max and quantization loops (runtime/cpu/fast/qgemm.h) with the reference
// loops' results; KILN_CPU_GEMM=ref keeps it on the reference loops.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "runtime/cpu/fast/qgemm_ops.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

Status matmul_integer_kernel(OpContext& ctx);  // quant_matmul.cpp
Status qlinear_matmul_kernel(OpContext& ctx);  // quant_matmul.cpp

namespace {

// How a scale / zero point tensor maps onto x, seen as [outer, axis_dim, inner].
struct QuantLayout {
  enum Mode { kPerTensor, kPerAxis, kBlocked } mode = kPerTensor;
  int64_t outer = 1, axis_dim = 1, inner = 1;
  int64_t block = 0, scale_axis_dim = 1;
  int64_t index(int64_t o, int64_t d, int64_t i) const {
    switch (mode) {
      case kPerTensor:
        return 0;
      case kPerAxis:
        return d;
      case kBlocked:
        return (o * scale_axis_dim + d / block) * inner + i;
    }
    return 0;
  }
};

bool same_param_shape(const Shape& a, const Shape& b) {
  if (a == b) return true;
  return a.size() <= 1 && b.size() <= 1 && numel_of(a) == 1 && numel_of(b) == 1;
}

// Validates scale (and zero point) against x per the opset's rules.
Expected<QuantLayout> quant_layout(const OpContext& ctx, const Shape& x, const Tensor& scale,
                                   const Tensor* zp) {
  QuantLayout q;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (zp && !same_param_shape(scale.shape(), zp->shape()))
    return ctx.invalid("scale " + shape_to_string(scale.shape()) + " and zero point " +
                       shape_to_string(zp->shape()) + " must have the same shape");
  const int64_t block = ctx.opset() >= 21 ? ctx.attr_int("block_size", 0) : 0;
  if (block < 0) return ctx.invalid("block_size must be >= 0, got " + std::to_string(block));
  const int64_t axis_attr = ctx.opset() >= 13 ? ctx.attr_int("axis", 1) : 1;
  if (block == 0 && scale.rank() <= 1 && scale.numel() == 1) {  // per tensor
    q.inner = numel_of(x);
    return q;
  }
  if (ctx.opset() < 13)
    return ctx.invalid("scale must be a scalar before opset 13, got " +
                       shape_to_string(scale.shape()));
  if (rank == 0) return ctx.invalid("per-axis or blocked quantization needs an input of rank >= 1");
  auto axis = normalize_axis(axis_attr, rank, "axis");
  if (!axis) return ctx.invalid(axis.status().message());
  q.axis_dim = x[*axis];
  for (int64_t i = 0; i < *axis; ++i) q.outer *= x[i];
  for (int64_t i = *axis + 1; i < rank; ++i) q.inner *= x[i];
  if (block == 0) {
    if (scale.rank() != 1 || scale.dim(0) != q.axis_dim)
      return ctx.invalid("scale " + shape_to_string(scale.shape()) +
                         " must be a scalar or a 1-D tensor of x's axis dim " +
                         std::to_string(q.axis_dim) + " (x " + shape_to_string(x) + ")");
    q.mode = QuantLayout::kPerAxis;
    return q;
  }
  const int64_t blocks = (q.axis_dim + block - 1) / block;
  bool ok = scale.rank() == rank;
  for (int64_t i = 0; ok && i < rank; ++i)
    ok = scale.dim(static_cast<int>(i)) == (i == *axis ? blocks : x[i]);
  if (!ok)
    return ctx.invalid("blocked quantization with block_size " + std::to_string(block) +
                       " needs a scale of x's shape " + shape_to_string(x) + " with " +
                       std::to_string(blocks) + " blocks on axis " + std::to_string(*axis) +
                       ", got " + shape_to_string(scale.shape()));
  q.mode = QuantLayout::kBlocked;
  q.block = block;
  q.scale_axis_dim = blocks;
  return q;
}

// Values of a small parameter tensor as float / int64.
std::vector<float> values_f32(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<float>(t.get_as_double(i));
  return v;
}
std::vector<int64_t> values_i64(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int64_t>(t.get_as_double(i));
  return v;
}

// Rounds a float to the precision of a 16-bit float dtype (numpy computes float16 arithmetic in
// float and rounds each result).
float round_to(DType t, float v) {
  if (t == DType::kFloat16) return static_cast<float>(Half(v));
  if (t == DType::kBFloat16) return static_cast<float>(BFloat16(v));
  return v;
}

bool is_quant_int(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8 || t == DType::kUInt16 || t == DType::kInt16;
}

int64_t qmin_of(DType t) {
  switch (t) {
    case DType::kInt8:
      return -128;
    case DType::kInt16:
      return -32768;
    default:
      return 0;
  }
}
int64_t qmax_of(DType t) {
  switch (t) {
    case DType::kInt8:
      return 127;
    case DType::kUInt8:
      return 255;
    case DType::kInt16:
      return 32767;
    case DType::kUInt16:
      return 65535;
    default:
      return 0;
  }
}

// saturate(rint(q) + zp) into [lo, hi]. rint rounds half to even. +-inf saturate; NaN gives lo
// (what the ONNX reference implementation produces).
int64_t quantize_value(double q, int64_t zp, int64_t lo, int64_t hi) {
  if (std::isnan(q)) return lo;
  const double r = std::nearbyint(std::clamp(q, -1e12, 1e12));
  return std::clamp(static_cast<int64_t>(r) + zp, lo, hi);
}

// ---- QuantizeLinear ----------------------------------------------------------------------------

// The precision x / y_scale is computed in: numpy's promotion of the two dtypes, or opset 23's
// `precision` attribute.
Expected<DType> division_type(const OpContext& ctx, DType x, DType scale) {
  if (ctx.opset() >= 23 && ctx.has_attr("precision")) {
    const int64_t p = ctx.attr_int("precision", 0);
    auto t = dtype_from_onnx(static_cast<int32_t>(p));
    if (p != 0) {
      if (!t || !is_float(*t))
        return ctx.invalid("precision " + std::to_string(p) + " is not a float type");
      return *t;
    }
  }
  if (x == DType::kFloat64 || scale == DType::kFloat64 || !is_float(x) || !is_float(scale))
    return DType::kFloat64;
  if (x == scale) return x;
  return DType::kFloat32;
}

Status quantize_linear_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1))
    return ctx.invalid("inputs x and y_scale are required");
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (!(is_float(x.dtype()) || x.dtype() == DType::kInt32))
    return ctx.invalid(std::string("x must be a float type or int32, got ") +
                       dtype_name(x.dtype()));
  if (!(is_float(scale.dtype()) || scale.dtype() == DType::kInt32))
    return ctx.invalid(std::string("y_scale must be a float type, got ") +
                       dtype_name(scale.dtype()));
  if (ctx.opset() < 19 && (x.dtype() != DType::kFloat32 && x.dtype() != DType::kInt32))
    return ctx.invalid(std::string("x must be float32 or int32 before opset 19, got ") +
                       dtype_name(x.dtype()));
  // Output dtype: the zero point's, else output_dtype (opset 21), else uint8.
  DType out = DType::kUInt8;
  if (ctx.opset() >= 21 && ctx.has_attr("output_dtype")) {
    const int64_t od = ctx.attr_int("output_dtype", 0);
    if (od != 0) {
      auto t = dtype_from_onnx(static_cast<int32_t>(od));
      if (!t)
        return ctx.unsupported_here("output_dtype " + std::to_string(od) + " is not supported");
      out = *t;
      if (zp && zp->dtype() != out)
        return ctx.invalid(std::string("output_dtype ") + dtype_name(out) +
                           " differs from the zero point's dtype " + dtype_name(zp->dtype()));
    }
  }
  if (zp) out = zp->dtype();
  if (!is_quant_int(out))
    return ctx.unsupported_here(std::string("quantizing to ") + dtype_name(out) +
                                " is not supported");
  if (ctx.opset() < 21 && out != DType::kUInt8 && out != DType::kInt8)
    return ctx.invalid(std::string("the output must be uint8 or int8 before opset 21, got ") +
                       dtype_name(out));
  KILN_ASSIGN_OR_RETURN(QuantLayout q, quant_layout(ctx, x.shape(), scale, zp));
  KILN_ASSIGN_OR_RETURN(DType prec, division_type(ctx, x.dtype(), scale.dtype()));
  const std::vector<float> sc = values_f32(scale);
  const std::vector<int64_t> zps = zp ? values_i64(*zp) : std::vector<int64_t>(sc.size(), 0);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, out, x.shape()));
  const int64_t lo = qmin_of(out), hi = qmax_of(out);
  const int64_t total = x.numel();
  if (total == 0) return Status::ok();
  visit_dtype(x.dtype(), [&](auto xtag) {
    using TX = decltype(xtag);
    if constexpr (std::is_same_v<TX, bool>) {
      return;
    } else {
      const TX* xd = x.data<TX>();
      visit_dtype(out, [&](auto ytag) {
        using TY = decltype(ytag);
        if constexpr (std::is_integral_v<TY> && !std::is_same_v<TY, bool>) {
          TY* yd = y->data<TY>();
          ctx.parallel_for(q.outer * q.axis_dim, std::max<int64_t>(1, 4096 / q.inner),
                           [&](int64_t begin, int64_t end) {
                             for (int64_t od = begin; od < end; ++od) {
                               const int64_t o = od / q.axis_dim, d = od % q.axis_dim;
                               for (int64_t i = 0; i < q.inner; ++i) {
                                 const int64_t e = od * q.inner + i;
                                 const int64_t si = q.index(o, d, i);
                                 double v;
                                 if (prec == DType::kFloat64) {
                                   v = static_cast<double>(xd[e]) / static_cast<double>(sc[si]);
                                 } else {
                                   const float xf = round_to(prec, static_cast<float>(xd[e]));
                                   const float sf = round_to(prec, sc[si]);
                                   v = round_to(prec, xf / sf);
                                 }
                                 yd[e] = static_cast<TY>(quantize_value(v, zps[si], lo, hi));
                               }
                             }
                           });
        }
      });
    }
  });
  return Status::ok();
}

// ---- DequantizeLinear --------------------------------------------------------------------------

Status dequantize_linear_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1))
    return ctx.invalid("inputs x and x_scale are required");
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const DType xt = x.dtype();
  if (!(is_quant_int(xt) || xt == DType::kInt32))
    return ctx.unsupported_here(std::string("dequantizing ") + dtype_name(xt) +
                                " is not supported");
  if (ctx.opset() < 21 && (xt == DType::kInt16 || xt == DType::kUInt16))
    return ctx.invalid(std::string("x must be int8, uint8 or int32 before opset 21, got ") +
                       dtype_name(xt));
  if (zp && zp->dtype() != xt)
    return ctx.invalid(std::string("x_zero_point has dtype ") + dtype_name(zp->dtype()) +
                       ", x has " + dtype_name(xt));
  if (!is_float(scale.dtype()) || scale.dtype() == DType::kFloat64)
    return ctx.invalid(std::string("x_scale must be float, float16 or bfloat16, got ") +
                       dtype_name(scale.dtype()));
  if (ctx.opset() < 19 && scale.dtype() != DType::kFloat32)
    return ctx.invalid("x_scale must be float32 before opset 19");
  DType out = scale.dtype();
  if (ctx.opset() >= 23 && ctx.has_attr("output_dtype")) {
    const int64_t od = ctx.attr_int("output_dtype", 0);
    if (od != 0) {
      auto t = dtype_from_onnx(static_cast<int32_t>(od));
      if (!t || !is_float(*t) || *t == DType::kFloat64)
        return ctx.invalid("output_dtype " + std::to_string(od) +
                           " must be float, float16 or bfloat16");
      out = *t;
    }
  }
  KILN_ASSIGN_OR_RETURN(QuantLayout q, quant_layout(ctx, x.shape(), scale, zp));
  const std::vector<float> sc = values_f32(scale);
  const std::vector<int64_t> zps = zp ? values_i64(*zp) : std::vector<int64_t>(sc.size(), 0);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, out, x.shape()));
  if (x.numel() == 0) return Status::ok();
  visit_dtype(xt, [&](auto xtag) {
    using TX = decltype(xtag);
    if constexpr (std::is_integral_v<TX> && !std::is_same_v<TX, bool>) {
      const TX* xd = x.data<TX>();
      visit_dtype(out, [&](auto ytag) {
        using TY = decltype(ytag);
        if constexpr (std::is_same_v<TY, float> || std::is_same_v<TY, Half> ||
                      std::is_same_v<TY, BFloat16>) {
          TY* yd = y->data<TY>();
          ctx.parallel_for(
              q.outer * q.axis_dim, std::max<int64_t>(1, 4096 / q.inner),
              [&](int64_t begin, int64_t end) {
                for (int64_t od = begin; od < end; ++od) {
                  const int64_t o = od / q.axis_dim, d = od % q.axis_dim;
                  for (int64_t i = 0; i < q.inner; ++i) {
                    const int64_t e = od * q.inner + i;
                    const int64_t si = q.index(o, d, i);
                    // (x - zp) in float (exact for 8/16-bit x), times the scale rounded to float.
                    const float dx = static_cast<float>(static_cast<int64_t>(xd[e]) - zps[si]);
                    const float v = static_cast<float>(static_cast<double>(dx) * sc[si]);
                    yd[e] = from_compute<TY>(v);
                  }
                }
              });
        }
      });
    }
  });
  return Status::ok();
}

// ---- DynamicQuantizeLinear ---------------------------------------------------------------------

Status dynamic_quantize_linear_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input x is required");
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32)
    return ctx.invalid(std::string("x must be float32, got ") + dtype_name(x.dtype()));
  const float* xd = x.data<float>();
  const int64_t n = x.numel();
  const bool fast = fast_qgemm_enabled();
  // The range is adjusted to include 0 (NaNs are ignored).
  float mn = 0.0f, mx = 0.0f;
  if (fast) {
    dynamic_minmax(ctx, xd, n, &mn, &mx);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (xd[i] < mn) mn = xd[i];
      if (xd[i] > mx) mx = xd[i];
    }
  }
  constexpr float qmin = 0.0f, qmax = 255.0f;
  // All zeros: the spec's range is empty; scale 1 gives zero point 0 and y = 0.
  const float scale = mx == mn ? 1.0f : (mx - mn) / (qmax - qmin);
  const float initial_zp = qmin - mn / scale;
  const float zp = std::nearbyint(std::clamp(initial_zp, qmin, qmax));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kUInt8, x.shape()));
  uint8_t* yd = y->data<uint8_t>();
  if (fast) {
    // NaN quotients give qmin (0), as quantize_value does.
    dynamic_quantize_u8(ctx, xd, n, scale, static_cast<int32_t>(zp), 0, yd);
  } else {
    ctx.parallel_for(n, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        yd[i] =
            static_cast<uint8_t>(quantize_value(xd[i] / scale, static_cast<int64_t>(zp), 0, 255));
    });
  }
  if (ctx.num_outputs() > 1) {
    KILN_ASSIGN_OR_RETURN(Tensor * ys, ctx.allocate_output(1, DType::kFloat32, {}));
    *ys->data<float>() = scale;
  }
  if (ctx.num_outputs() > 2) {
    KILN_ASSIGN_OR_RETURN(Tensor * yz, ctx.allocate_output(2, DType::kUInt8, {}));
    *yz->data<uint8_t>() = static_cast<uint8_t>(zp);
  }
  return Status::ok();
}

}  // namespace

void register_quant_kernels(KernelRegistry& r) {
  r.add("", "QuantizeLinear", quantize_linear_kernel, 10);
  r.add("", "DequantizeLinear", dequantize_linear_kernel, 10);
  r.add("", "DynamicQuantizeLinear", dynamic_quantize_linear_kernel, 11);
  r.add("", "MatMulInteger", matmul_integer_kernel, 10);
  r.add("", "QLinearMatMul", qlinear_matmul_kernel, 10);
}

}  // namespace kiln::cpu
