// CPU reference kernels: the broadcasting elementwise ops. Arithmetic (Add Sub Mul Div Pow Mod),
// comparisons, logical and bitwise ops, BitShift, PRelu, Where and the variadic Sum Mean Min Max.
// Integer arithmetic wraps (two's complement) instead of overflowing; integer division or
// modulo by zero is a runtime error. Float32 Add/Sub/Mul/Div run their contiguous and
// scalar-broadcast chunks through the vectorised loops of runtime/cpu/fast/vec_math.h (bit-equal
// to the reference loops) unless KILN_CPU_ELEMENTWISE=ref.
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<T> || is_half_v<T>;
template <typename T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// Unsigned type at least as wide as unsigned int, so that arithmetic never promotes to int.
template <typename T>
using wide_unsigned_t =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <typename T>
T wrap_add(T a, T b) {
  using U = wide_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
}
template <typename T>
T wrap_sub(T a, T b) {
  using U = wide_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
}
template <typename T>
T wrap_mul(T a, T b) {
  using U = wide_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
}

// double -> integer T: truncation toward zero, NaN -> 0, saturating out of range.
template <typename T>
T double_to_int(double d) {
  if (std::isnan(d)) return 0;
  d = std::trunc(d);
  const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);  // max + 1
  if (d >= limit) return std::numeric_limits<T>::max();
  if (d < static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  return static_cast<T>(d);
}

// double -> T (any numeric T).
template <typename T>
T from_double(double d) {
  if constexpr (is_int_v<T>)
    return double_to_int<T>(d);
  else if constexpr (is_half_v<T>)
    return T(static_cast<float>(d));
  else
    return static_cast<T>(d);
}

Status require_inputs(const OpContext& ctx, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
  return Status::ok();
}

// Inputs 0 and 1 are present and have the same dtype.
Status require_same_dtype_pair(const OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_inputs(ctx, 2));
  const DType a = ctx.input(0).dtype(), b = ctx.input(1).dtype();
  if (a != b)
    return ctx.invalid(std::string("input dtypes differ: ") + dtype_name(a) + " and " +
                       dtype_name(b));
  return Status::ok();
}

Status bad_dtype(const OpContext& ctx, DType t) {
  return ctx.invalid(std::string("does not accept inputs of dtype ") + dtype_name(t));
}

// Calls fn(out_offset, count, offsets, steps) over chunks of the output, where input k's element
// for output out_offset + i is at offsets[k] + i * steps[k]. Chunks run in parallel.
template <size_t K, typename F>
void broadcast_run(const OpContext& ctx, const Shape& out, const std::array<Shape, K>& ins,
                   F&& fn) {
  const int64_t total = numel_of(out);
  if (total == 0) return;
  bool same = true;
  for (const auto& s : ins) same = same && s == out;
  if (same) {
    ctx.parallel_for(total, kGrain, [&](int64_t b, int64_t e) {
      std::array<int64_t, K> off, step;
      off.fill(b);
      step.fill(1);
      fn(b, e - b, off, step);
    });
    return;
  }
  const size_t rank = out.size();  // >= 1: a rank-0 output means every input has rank 0
  const int64_t inner = out[rank - 1];
  const int64_t rows = total / inner;
  std::array<std::vector<int64_t>, K> st;
  for (size_t k = 0; k < K; ++k) st[k] = broadcast_strides(ins[k], out);
  ctx.parallel_for(rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      std::array<int64_t, K> off{}, step;
      int64_t rem = r;
      for (size_t d = rank - 1; d-- > 0;) {
        const int64_t i = rem % out[d];
        rem /= out[d];
        for (size_t k = 0; k < K; ++k) off[k] += i * st[k][d];
      }
      for (size_t k = 0; k < K; ++k) step[k] = st[k][rank - 1];
      fn(r * inner, inner, off, step);
    }
  });
}

Expected<Shape> out_shape(const OpContext& ctx, const std::vector<Shape>& shapes) {
  auto s = broadcast_shapes(shapes);
  if (!s) return ctx.invalid(s.status().message());
  return s;
}

// y = f(a, b) with numpy broadcasting; a is read as `as`, b as `bs` (same element counts).
template <typename Out, typename A, typename B, typename F>
Status binary_apply(OpContext& ctx, const Tensor& a, const Shape& as, const Tensor& b,
                    const Shape& bs, F f) {
  KILN_ASSIGN_OR_RETURN(Shape shape, out_shape(ctx, {as, bs}));
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, dtype_of<Out>(), shape));
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  Out* py = y->data<Out>();
  broadcast_run<2>(ctx, shape, {as, bs},
                   [&](int64_t o, int64_t n, const auto& off, const auto& step) {
                     const A* xa = pa + off[0];
                     const B* xb = pb + off[1];
                     Out* xy = py + o;
                     if (step[0] == 1 && step[1] == 1) {
                       for (int64_t i = 0; i < n; ++i) xy[i] = f(xa[i], xb[i]);
                     } else if (step[0] == 1 && step[1] == 0) {
                       const B v = xb[0];
                       for (int64_t i = 0; i < n; ++i) xy[i] = f(xa[i], v);
                     } else {
                       for (int64_t i = 0; i < n; ++i) xy[i] = f(xa[i * step[0]], xb[i * step[1]]);
                     }
                   });
  return Status::ok();
}

// The shape B is read with: numpy broadcasting from opset 7; before it, the legacy `broadcast` /
// `axis` attributes (B equal to A, or B matching a contiguous run of A's dims from `axis`).
Expected<Shape> b_shape_for(const OpContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset() >= 7) return b.shape();
  const int64_t broadcast = ctx.attr_int("broadcast", 0);
  if (broadcast == 0) {
    if (a.shape() != b.shape())
      return ctx.invalid("input shapes " + shape_to_string(a.shape()) + " and " +
                         shape_to_string(b.shape()) + " differ and attribute 'broadcast' is 0");
    return b.shape();
  }
  if (broadcast != 1) return ctx.invalid("attribute 'broadcast' must be 0 or 1");
  const int64_t ra = a.rank(), rb = b.rank();
  if (rb > ra) return ctx.invalid("input B has a higher rank than input A");
  const int64_t axis = ctx.attr_int("axis", ra - rb);
  if (axis < 0 || axis > ra - rb)
    return ctx.invalid("attribute 'axis' " + std::to_string(axis) + " is out of range");
  Shape s(ra, 1);
  for (int64_t i = 0; i < rb; ++i) s[axis + i] = b.shape()[i];
  return s;
}

// --- Add Sub Mul Div ----------------------------------------------------------------------------

enum class Arith { kAdd, kSub, kMul, kDiv };

template <Arith op, typename T>
T arith(T a, T b) {
  if constexpr (is_int_v<T>) {
    if constexpr (op == Arith::kAdd)
      return wrap_add(a, b);
    else if constexpr (op == Arith::kSub)
      return wrap_sub(a, b);
    else if constexpr (op == Arith::kMul)
      return wrap_mul(a, b);
    else if constexpr (op == Arith::kDiv) {
      if constexpr (std::is_signed_v<T>)
        if (b == -1) return wrap_sub(T(0), a);  // avoids min / -1
      return static_cast<T>(a / b);             // b != 0 was checked before
    }
  } else {
    const auto x = to_compute(a), y = to_compute(b);
    if constexpr (op == Arith::kAdd)
      return from_compute<T>(x + y);
    else if constexpr (op == Arith::kSub)
      return from_compute<T>(x - y);
    else if constexpr (op == Arith::kMul)
      return from_compute<T>(x * y);
    else if constexpr (op == Arith::kDiv)
      return from_compute<T>(x / y);
  }
}

// Integer division or modulo (`what`) of a non-empty `a` by a `b` holding a zero is a runtime
// error.
template <typename T>
Status check_divisor(const OpContext& ctx, const Tensor& a, const Tensor& b, const char* what) {
  if (a.numel() == 0) return Status::ok();
  const T* p = b.data<T>();
  for (int64_t i = 0; i < b.numel(); ++i)
    if (p[i] == 0) return ctx.runtime(std::string("integer ") + what + " by zero");
  return Status::ok();
}

// Float32 Add/Sub/Mul/Div: broadcast_run's chunks whose input steps are 0 or 1 (same shape,
// scalar, [..., N] against [N], [B, 1, 1, T] masks) go to the vectorised loops.
template <Arith op>
Status arith_fast_f32(OpContext& ctx, const Tensor& a, const Tensor& b, const Shape& bs) {
  constexpr fast::VecBinOp vop = op == Arith::kAdd   ? fast::VecBinOp::kAdd
                                 : op == Arith::kSub ? fast::VecBinOp::kSub
                                 : op == Arith::kMul ? fast::VecBinOp::kMul
                                                     : fast::VecBinOp::kDiv;
  KILN_ASSIGN_OR_RETURN(Shape shape, out_shape(ctx, {a.shape(), bs}));
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, DType::kFloat32, shape));
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = y->data<float>();
  broadcast_run<2>(ctx, shape, {a.shape(), bs},
                   [&](int64_t o, int64_t n, const auto& off, const auto& step) {
                     const float* xa = pa + off[0];
                     const float* xb = pb + off[1];
                     float* xy = py + o;
                     if ((step[0] == 0 || step[0] == 1) && (step[1] == 0 || step[1] == 1)) {
                       fast::vec_binary(vop, xa, step[0], xb, step[1], xy, n);
                     } else {
                       for (int64_t i = 0; i < n; ++i)
                         xy[i] = arith<op, float>(xa[i * step[0]], xb[i * step[1]]);
                     }
                   });
  return Status::ok();
}

template <Arith op>
Status arith_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype_pair(ctx));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  KILN_ASSIGN_OR_RETURN(Shape bs, b_shape_for(ctx, a, b));
  if (a.dtype() == DType::kFloat32 && fast::elementwise_fast_enabled())
    return arith_fast_f32<op>(ctx, a, b, bs);
  Status st = bad_dtype(ctx, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      if constexpr (op == Arith::kDiv && is_int_v<T>) {
        st = check_divisor<T>(ctx, a, b, "division");
        if (!st) return;
      }
      st = binary_apply<T, T, T>(ctx, a, a.shape(), b, bs, arith<op, T>);
    }
  });
  return st;
}

// --- Mod ----------------------------------------------------------------------------------------

template <typename T>
T int_mod(T a, T b) {  // b != 0; the result has the sign of the divisor (Python %)
  if constexpr (std::is_signed_v<T>) {
    if (b == -1) return 0;
    T r = static_cast<T>(a % b);
    if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    return r;
  } else {
    return static_cast<T>(a % b);
  }
}

template <typename T>
T int_fmod(T a, T b) {  // b != 0; the result has the sign of the dividend (C++ %)
  if constexpr (std::is_signed_v<T>)
    if (b == -1) return 0;
  return static_cast<T>(a % b);
}

Status mod_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype_pair(ctx));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const int64_t fmod = ctx.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.invalid("attribute 'fmod' must be 0 or 1");
  if (is_float(a.dtype()) && fmod == 0)
    return ctx.invalid("attribute 'fmod' must be 1 for floating-point inputs");
  Status st = bad_dtype(ctx, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_int_v<T>) {
      st = check_divisor<T>(ctx, a, b, "modulo");
      if (!st) return;
      st = fmod ? binary_apply<T, T, T>(ctx, a, a.shape(), b, b.shape(), int_fmod<T>)
                : binary_apply<T, T, T>(ctx, a, a.shape(), b, b.shape(), int_mod<T>);
    } else if constexpr (is_float_v<T>) {
      st = binary_apply<T, T, T>(ctx, a, a.shape(), b, b.shape(), [](T x, T y) {
        return from_compute<T>(std::fmod(to_compute(x), to_compute(y)));
      });
    }
  });
  return st;
}

// --- Pow ----------------------------------------------------------------------------------------

template <typename T>
T pow_int_exp(T x, int64_t e) {
  if constexpr (is_int_v<T>) {
    if (e < 0) return double_to_int<T>(std::pow(static_cast<double>(x), static_cast<double>(e)));
    T r = 1, base = x;
    for (uint64_t n = static_cast<uint64_t>(e); n; n >>= 1) {
      if (n & 1) r = wrap_mul(r, base);
      base = wrap_mul(base, base);
    }
    return r;
  } else {
    return from_double<T>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  }
}

template <typename T>
T pow_float_exp(T x, double e) {
  return from_double<T>(std::pow(static_cast<double>(x), e));
}

// The exponent as int64 (integer exponents; uint64 above int64 max saturates) or double.
Expected<Tensor> exponent_as(const Tensor& b, bool integer) {
  KILN_ASSIGN_OR_RETURN(Tensor out,
                        Tensor::create(integer ? DType::kInt64 : DType::kFloat64, b.shape()));
  visit_dtype(b.dtype(), [&](auto tag) {
    using E = decltype(tag);
    const E* p = b.data<E>();
    for (int64_t i = 0; i < b.numel(); ++i) {
      if (integer) {
        int64_t v;
        if constexpr (std::is_same_v<E, uint64_t>)
          v = p[i] > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(p[i]);
        else if constexpr (is_int_v<E>)
          v = static_cast<int64_t>(p[i]);
        else
          v = 0;
        out.data<int64_t>()[i] = v;
      } else {
        out.data<double>()[i] = static_cast<double>(p[i]);
      }
    }
  });
  return out;
}

Status pow_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_inputs(ctx, 2));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() == DType::kBool || !is_storable(a.dtype())) return bad_dtype(ctx, a.dtype());
  if (b.dtype() == DType::kBool || !is_storable(b.dtype())) return bad_dtype(ctx, b.dtype());
  KILN_ASSIGN_OR_RETURN(Shape bs, b_shape_for(ctx, a, b));
  const bool int_exp = is_integer(b.dtype());
  Tensor e = b;
  if (b.dtype() != DType::kInt64 && b.dtype() != DType::kFloat64) {
    auto conv = exponent_as(b, int_exp);
    if (!conv) return conv.status().with_context(ctx.node().describe());
    e = std::move(*conv);
  }
  // Float32 x^2 (LayerNormalization's decomposition): x * x, bit-equal to the reference's
  // double pow rounded to float (the double square is exact, so both round it once).
  if (a.dtype() == DType::kFloat32 && e.numel() == 1 && e.get_as_double(0) == 2.0 &&
      fast::elementwise_fast_enabled()) {
    KILN_ASSIGN_OR_RETURN(Shape shape, out_shape(ctx, {a.shape(), bs}));
    KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, DType::kFloat32, shape));
    const float* x = a.data<float>();
    float* py = y->data<float>();
    ctx.parallel_for(a.numel(), kGrain, [&](int64_t rb, int64_t re) {
      fast::vec_binary(fast::VecBinOp::kMul, x + rb, 1, x + rb, 1, py + rb, re - rb);
    });
    return Status::ok();
  }
  Status st = bad_dtype(ctx, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      st = int_exp ? binary_apply<T, T, int64_t>(ctx, a, a.shape(), e, bs, pow_int_exp<T>)
                   : binary_apply<T, T, double>(ctx, a, a.shape(), e, bs, pow_float_exp<T>);
    }
  });
  return st;
}

// --- PRelu --------------------------------------------------------------------------------------

Status prelu_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype_pair(ctx));
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  auto s = broadcast_shapes({x.shape(), slope.shape()});
  if (!s || *s != x.shape())
    return ctx.invalid("slope of shape " + shape_to_string(slope.shape()) +
                       " cannot be broadcast to the input shape " + shape_to_string(x.shape()));
  Status st = bad_dtype(ctx, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_int_v<T>) {
      st = binary_apply<T, T, T>(ctx, x, x.shape(), slope, slope.shape(),
                                 [](T v, T a) { return v < 0 ? wrap_mul(v, a) : v; });
    } else if constexpr (is_float_v<T>) {
      st = binary_apply<T, T, T>(ctx, x, x.shape(), slope, slope.shape(), [](T v, T a) {
        const auto c = to_compute(v);
        return c < 0 ? from_compute<T>(c * to_compute(a)) : v;
      });
    }
  });
  return st;
}

// --- comparisons, logical and bitwise ops --------------------------------------------------------

enum class Cmp { kEq, kLt, kLe, kGt, kGe };

template <Cmp op>
Status compare_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype_pair(ctx));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  KILN_ASSIGN_OR_RETURN(Shape bs, b_shape_for(ctx, a, b));
  Status st = bad_dtype(ctx, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    st = binary_apply<bool, T, T>(ctx, a, a.shape(), b, bs, [](T x, T y) {
      const auto u = to_compute(x), v = to_compute(y);
      if constexpr (op == Cmp::kEq)
        return u == v;
      else if constexpr (op == Cmp::kLt)
        return u < v;
      else if constexpr (op == Cmp::kLe)
        return u <= v;
      else if constexpr (op == Cmp::kGt)
        return u > v;
      else if constexpr (op == Cmp::kGe)
        return u >= v;
    });
  });
  return st;
}

enum class Logic { kAnd, kOr, kXor };

// And / Or / Xor: logical on bool, bitwise on integers.
template <Logic op, typename T>
T logic(T x, T y) {
  if constexpr (std::is_same_v<T, bool>) {
    if constexpr (op == Logic::kAnd)
      return x && y;
    else if constexpr (op == Logic::kOr)
      return x || y;
    else
      return x != y;
  } else {
    if constexpr (op == Logic::kAnd)
      return static_cast<T>(x & y);
    else if constexpr (op == Logic::kOr)
      return static_cast<T>(x | y);
    else
      return static_cast<T>(x ^ y);
  }
}

template <Logic op>
Status logical_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_inputs(ctx, 2));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != DType::kBool) return bad_dtype(ctx, a.dtype());
  if (b.dtype() != DType::kBool) return bad_dtype(ctx, b.dtype());
  KILN_ASSIGN_OR_RETURN(Shape bs, b_shape_for(ctx, a, b));
  return binary_apply<bool, bool, bool>(ctx, a, a.shape(), b, bs, logic<op, bool>);
}

template <Logic op>
Status bitwise_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype_pair(ctx));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Status st = bad_dtype(ctx, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_int_v<T>) {
      st = binary_apply<T, T, T>(ctx, a, a.shape(), b, b.shape(), logic<op, T>);
    }
  });
  return st;
}

Status bitshift_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype_pair(ctx));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!ctx.has_attr("direction")) return ctx.invalid("attribute 'direction' is required");
  const std::string dir = ctx.attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT")
    return ctx.invalid("attribute 'direction' must be LEFT or RIGHT, not '" + dir + "'");
  const bool left = dir == "LEFT";
  Status st = bad_dtype(ctx, a.dtype());
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_int_v<T> && std::is_unsigned_v<T>) {
      constexpr T kBits = sizeof(T) * 8;
      using U = wide_unsigned_t<T>;
      auto fn = [left](T x, T s) -> T {
        if (s >= kBits) return 0;  // shifting every bit out
        return left ? static_cast<T>(static_cast<U>(x) << s) : static_cast<T>(x >> s);
      };
      st = binary_apply<T, T, T>(ctx, a, a.shape(), b, b.shape(), fn);
    }
  });
  return st;
}

// --- Where --------------------------------------------------------------------------------------

Status where_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_inputs(ctx, 3));
  const Tensor& c = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  if (c.dtype() != DType::kBool)
    return ctx.invalid(std::string("condition must be bool, not ") + dtype_name(c.dtype()));
  if (x.dtype() != y.dtype())
    return ctx.invalid(std::string("X and Y dtypes differ: ") + dtype_name(x.dtype()) + " and " +
                       dtype_name(y.dtype()));
  KILN_ASSIGN_OR_RETURN(Shape shape, out_shape(ctx, {c.shape(), x.shape(), y.shape()}));
  Status st = bad_dtype(ctx, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto out = ctx.allocate_output(0, x.dtype(), shape);
    if (!out) {
      st = out.status();
      return;
    }
    const bool* pc = c.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = (*out)->template data<T>();
    broadcast_run<3>(ctx, shape, {c.shape(), x.shape(), y.shape()},
                     [&](int64_t o, int64_t n, const auto& off, const auto& step) {
                       for (int64_t i = 0; i < n; ++i)
                         po[o + i] = pc[off[0] + i * step[0]] ? px[off[1] + i * step[1]]
                                                              : py[off[2] + i * step[2]];
                     });
    st = Status::ok();
  });
  return st;
}

// --- Sum Mean Min Max ---------------------------------------------------------------------------

enum class Fold { kSum, kMean, kMin, kMax };

template <Fold op, typename T>
T fold(T a, T b) {
  if constexpr (is_int_v<T>) {
    if constexpr (op == Fold::kSum || op == Fold::kMean)
      return wrap_add(a, b);
    else if constexpr (op == Fold::kMin)
      return b < a ? b : a;
    else if constexpr (op == Fold::kMax)
      return a < b ? b : a;
  } else {
    const auto x = to_compute(a), y = to_compute(b);
    if constexpr (op == Fold::kSum || op == Fold::kMean) {
      return from_compute<T>(x + y);
    } else {
      if (std::isnan(x)) return a;  // NaN propagates, as numpy's minimum/maximum
      if (std::isnan(y)) return b;
      if constexpr (op == Fold::kMin)
        return y < x ? b : a;
      else
        return x < y ? b : a;
    }
  }
}

template <Fold op>
Status variadic_kernel(OpContext& ctx) {
  const size_t n = ctx.num_inputs();
  if (n == 0) return ctx.invalid("needs at least one input");
  KILN_RETURN_IF_ERROR(require_inputs(ctx, n));
  std::vector<Shape> shapes;
  for (size_t i = 0; i < n; ++i) {
    if (ctx.input(i).dtype() != ctx.input(0).dtype())
      return ctx.invalid("input " + std::to_string(i) + " has dtype " +
                         dtype_name(ctx.input(i).dtype()) + ", input 0 has " +
                         dtype_name(ctx.input(0).dtype()));
    shapes.push_back(ctx.input(i).shape());
  }
  // Before opset 8 the inputs must have equal shapes; broadcasting them anyway is harmless.
  KILN_ASSIGN_OR_RETURN(Shape shape, out_shape(ctx, shapes));
  const DType dt = ctx.input(0).dtype();
  Status st = bad_dtype(ctx, dt);
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool ok = op == Fold::kMean ? is_float_v<T> : !std::is_same_v<T, bool>;
    if constexpr (ok) {
      auto out = ctx.allocate_output(0, dt, shape);
      if (!out) {
        st = out.status();
        return;
      }
      T* py = (*out)->template data<T>();
      const T* p0 = ctx.input(0).data<T>();
      broadcast_run<1>(ctx, shape, {shapes[0]},
                       [&](int64_t o, int64_t cnt, const auto& off, const auto& step) {
                         for (int64_t i = 0; i < cnt; ++i) py[o + i] = p0[off[0] + i * step[0]];
                       });
      for (size_t k = 1; k < n; ++k) {
        const T* pk = ctx.input(k).data<T>();
        broadcast_run<1>(ctx, shape, {shapes[k]},
                         [&](int64_t o, int64_t cnt, const auto& off, const auto& step) {
                           for (int64_t i = 0; i < cnt; ++i)
                             py[o + i] = fold<op, T>(py[o + i], pk[off[0] + i * step[0]]);
                         });
      }
      if constexpr (op == Fold::kMean) {
        const auto div = static_cast<compute_t<T>>(n);
        ctx.parallel_for(numel_of(shape), kGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) py[i] = from_compute<T>(to_compute(py[i]) / div);
        });
      }
      st = Status::ok();
    }
  });
  return st;
}

}  // namespace

void register_elementwise_binary_kernels(KernelRegistry& r) {
  r.add("", "Add", arith_kernel<Arith::kAdd>);
  r.add("", "Sub", arith_kernel<Arith::kSub>);
  r.add("", "Mul", arith_kernel<Arith::kMul>);
  r.add("", "Div", arith_kernel<Arith::kDiv>);
  r.add("", "Mod", mod_kernel, 10);
  r.add("", "Pow", pow_kernel);
  r.add("", "PRelu", prelu_kernel);
  r.add("", "Equal", compare_kernel<Cmp::kEq>);
  r.add("", "Less", compare_kernel<Cmp::kLt>);
  r.add("", "LessOrEqual", compare_kernel<Cmp::kLe>, 12);
  r.add("", "Greater", compare_kernel<Cmp::kGt>);
  r.add("", "GreaterOrEqual", compare_kernel<Cmp::kGe>, 12);
  r.add("", "And", logical_kernel<Logic::kAnd>);
  r.add("", "Or", logical_kernel<Logic::kOr>);
  r.add("", "Xor", logical_kernel<Logic::kXor>);
  r.add("", "BitwiseAnd", bitwise_kernel<Logic::kAnd>, 18);
  r.add("", "BitwiseOr", bitwise_kernel<Logic::kOr>, 18);
  r.add("", "BitwiseXor", bitwise_kernel<Logic::kXor>, 18);
  r.add("", "BitShift", bitshift_kernel, 11);
  r.add("", "Where", where_kernel, 9);
  r.add("", "Sum", variadic_kernel<Fold::kSum>);
  r.add("", "Mean", variadic_kernel<Fold::kMean>);
  r.add("", "Min", variadic_kernel<Fold::kMin>);
  r.add("", "Max", variadic_kernel<Fold::kMax>);
}

}  // namespace kiln::cpu
