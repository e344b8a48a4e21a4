// CPU reference kernels: Softmax, LogSoftmax and Hardmax. Before opset 13 the input is coerced
// to 2-D at `axis` (default 1) and the op works on each row; from opset 13 it works along one
// axis (default -1). Softmax and LogSoftmax subtract the row maximum and sum in double. Float32
// rows along a contiguous axis take the vectorised path of runtime/cpu/fast/vec_math.h (a few ulp
// from these loops) unless KILN_CPU_ELEMENTWISE=ref.
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

namespace {

enum class SoftKind { kSoftmax, kLogSoftmax, kHardmax };

// The input seen as [outer, n, inner] rows, with the op applied along n.
struct Rows {
  int64_t outer = 1, n = 1, inner = 1;
};

Expected<Rows> softmax_rows(const OpContext& ctx, const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return ctx.invalid("input must have rank >= 1");
  const bool coerce_2d = ctx.opset() < 13;
  int64_t axis = ctx.attr_int("axis", coerce_2d ? 1 : -1);
  // Opset 1 coerces [a0..ak-1] x [ak..]; it names no range, and its default 1 is legal for a 1-D
  // input (rows of one element). Opset 11 and 13 accept [-r, r-1].
  const int64_t lo = ctx.opset() >= 11 ? -rank : 0;
  const int64_t hi = ctx.opset() >= 11 ? rank - 1 : rank;
  if (axis < lo || axis > hi)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  Rows r;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis)
      r.outer *= shape[d];
    else if (d == axis || coerce_2d)
      r.n *= shape[d];
    else
      r.inner *= shape[d];
  }
  return r;
}

template <SoftKind K, typename T>
void soft_typed(OpContext& ctx, const Rows& rw, const Tensor& x, Tensor& y) {
  const T* xd = x.data<T>();
  T* yd = y.data<T>();
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, float> && K != SoftKind::kHardmax) {
    if (rw.inner == 1 && rw.n > 0 && fast::elementwise_fast_enabled()) {
      ctx.parallel_for(rw.outer, std::max<int64_t>(1, 8192 / rw.n), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r)
          fast::vec_softmax_row(xd + r * rw.n, yd + r * rw.n, rw.n, K == SoftKind::kLogSoftmax);
      });
      return;
    }
  }
  ctx.parallel_for(rw.outer * rw.inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(rw.n, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       const int64_t base = (r / rw.inner) * rw.n * rw.inner + r % rw.inner;
                       const int64_t s = rw.inner;
                       if (rw.n == 0) continue;
                       if constexpr (K == SoftKind::kHardmax) {
                         // 1 at the first maximum (NaN counts as the maximum, like numpy's argmax).
                         C best = to_compute(xd[base]);
                         int64_t bi = 0;
                         for (int64_t i = 1; i < rw.n; ++i) {
                           C v = to_compute(xd[base + i * s]);
                           if constexpr (std::is_floating_point_v<C>) {
                             if (std::isnan(best)) break;
                             if (std::isnan(v)) {
                               bi = i;
                               break;
                             }
                           }
                           if (v > best) {
                             best = v;
                             bi = i;
                           }
                         }
                         for (int64_t i = 0; i < rw.n; ++i)
                           yd[base + i * s] = from_compute<T>(static_cast<C>(i == bi ? 1 : 0));
                       } else {
                         double m = -std::numeric_limits<double>::infinity();
                         for (int64_t i = 0; i < rw.n; ++i) {
                           double v = static_cast<double>(to_compute(xd[base + i * s]));
                           if (v > m || std::isnan(v)) m = v;
                           if (std::isnan(m)) break;
                         }
                         double sum = 0;
                         for (int64_t i = 0; i < rw.n; ++i)
                           sum += std::exp(static_cast<double>(to_compute(xd[base + i * s])) - m);
                         const double log_sum = std::log(sum);
                         for (int64_t i = 0; i < rw.n; ++i) {
                           double d = static_cast<double>(to_compute(xd[base + i * s])) - m;
                           double out = K == SoftKind::kSoftmax ? std::exp(d) / sum : d - log_sum;
                           yd[base + i * s] = from_compute<T>(static_cast<C>(out));
                         }
                       }
                     }
                   });
}

template <SoftKind K>
Status soft_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'input'");
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Rows rw, softmax_rows(ctx, x.shape()));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      soft_typed<K, T>(ctx, rw, x, *y);
      ok = true;
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

}  // namespace

Status softmax_kernel(OpContext& ctx) {
  return soft_kernel<SoftKind::kSoftmax>(ctx);
}
Status log_softmax_kernel(OpContext& ctx) {
  return soft_kernel<SoftKind::kLogSoftmax>(ctx);
}
Status hardmax_kernel(OpContext& ctx) {
  return soft_kernel<SoftKind::kHardmax>(ctx);
}

}  // namespace kiln::cpu
