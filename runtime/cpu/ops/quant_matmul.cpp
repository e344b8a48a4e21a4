// CPU kernels: quantized matrix products (MatMulInteger, QLinearMatMul), numpy matmul geometry
// with int32 accumulation and per-tensor / per-row / per-column quantization parameters. The
// int32 products run on the fast int8 GEMM (runtime/cpu/fast/qgemm.h, constant B packed once);
// KILN_CPU_GEMM=ref selects the reference loops of gemm_ref.h, which the fast path is tested
// against (bit-exact).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "runtime/cpu/fast/qgemm_ops.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/gemm_ref.h"

namespace kiln::cpu {

namespace {

// Where a quantization parameter (scale or zero point) applies for output element
// (batch bi, row m, column n): values[at(bi, m, n)].
struct ParamMap {
  std::vector<int64_t> batch_off;  // per batch index; empty: 0
  int64_t row_stride = 0, col_stride = 0;
  int64_t at(int64_t bi, int64_t m, int64_t n) const {
    return (batch_off.empty() ? 0 : batch_off[bi]) + m * row_stride + n * col_stride;
  }
};

enum class Side { kA, kB, kY };

// Maps a parameter of shape `ps` for side A (per row: scalar, [M] or [..., M, 1]), B (per column:
// scalar, [N] or [..., 1, N]) or Y (scalar or anything numpy-broadcastable to the output).
Expected<ParamMap> map_param(const OpContext& ctx, const std::string& name, const Shape& ps,
                             const MatMulPlan& p, Side side) {
  ParamMap map;
  if (numel_of(ps) == 1) return map;  // per tensor
  if (ps.size() == 1 && side == Side::kA && ps[0] == p.M && !p.a_vector) {
    map.row_stride = 1;
    return map;
  }
  if (ps.size() == 1 && side == Side::kB && ps[0] == p.N && !p.b_vector) {
    map.col_stride = 1;
    return map;
  }
  // Target shape and the positions of its row / column dims.
  Shape target = p.batch;
  int row_pos = -1, col_pos = -1;
  if (side == Side::kY) {
    if (!p.a_vector) row_pos = static_cast<int>(target.size()), target.push_back(p.M);
    if (!p.b_vector) col_pos = static_cast<int>(target.size()), target.push_back(p.N);
  } else {
    row_pos = static_cast<int>(target.size());
    target.push_back(side == Side::kA ? p.M : 1);
    col_pos = static_cast<int>(target.size());
    target.push_back(side == Side::kA ? 1 : p.N);
  }
  bool ok = ps.size() <= target.size() && (side == Side::kY || ps.size() >= 2);
  for (size_t i = 0; ok && i < ps.size(); ++i) {
    const int64_t t = target[target.size() - ps.size() + i];
    ok = ps[i] == t || ps[i] == 1;
  }
  if (!ok) {
    const char* what = side == Side::kA   ? "a scalar, [M] or [..., M, 1] (per row of a)"
                       : side == Side::kB ? "a scalar, [N] or [..., 1, N] (per column of b)"
                                          : "a scalar or broadcastable to the output";
    return ctx.invalid(name + " has shape " + shape_to_string(ps) + "; it must be " + what +
                       " for a matmul of " + shape_to_string(p.out_shape));
  }
  const std::vector<int64_t> st = broadcast_strides(ps, target);
  if (row_pos >= 0) map.row_stride = st[row_pos];
  if (col_pos >= 0) map.col_stride = st[col_pos];
  const size_t nb = p.batch.size();
  bool batched = false;
  for (size_t d = 0; d < nb; ++d) batched |= st[d] != 0;
  if (batched && p.batch_count > 0) {
    map.batch_off.resize(static_cast<size_t>(p.batch_count));
    std::vector<int64_t> idx(nb, 0);
    int64_t off = 0;
    for (int64_t b = 0; b < p.batch_count; ++b) {
      map.batch_off[b] = off;
      for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
        if (++idx[d] < p.batch[d]) {
          off += st[d];
          break;
        }
        off -= st[d] * (p.batch[d] - 1);
        idx[d] = 0;
      }
    }
  }
  return map;
}

std::vector<int32_t> values_i32(const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int32_t>(t.get_as_double(i));
  return v;
}

bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}

// Calls f(TA{}, TB{}) for 8-bit A and B dtypes.
template <typename F>
void visit_8bit_pair(DType a, DType b, F&& f) {
  auto with_b = [&](auto ta) {
    if (b == DType::kUInt8)
      f(ta, uint8_t{});
    else
      f(ta, int8_t{});
  };
  if (a == DType::kUInt8)
    with_b(uint8_t{});
  else
    with_b(int8_t{});
}

QMatMulZeroPoint fast_zp(const std::vector<int32_t>& values, const ParamMap& map, Side side) {
  QMatMulZeroPoint z;
  if (values.empty()) return z;
  z.values = values.data();
  z.stride = side == Side::kA ? map.row_stride : map.col_stride;
  z.batch_off = map.batch_off;
  return z;
}

// The int32 products C = (A - a_zp) x (B - b_zp) (B is the node's input `b_index`). With `direct`
// they are written there ([batch, M, N]); otherwise they are handed one output row at a time to
// `emit(bi, m, row)` (row has N values).
template <typename TA, typename TB, typename Emit>
Status int_matmul_rows(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                       size_t b_index, const std::vector<int32_t>& azp, const ParamMap& azp_map,
                       const std::vector<int32_t>& bzp, const ParamMap& bzp_map, int32_t* direct,
                       Emit&& emit) {
  const int64_t M = p.M, N = p.N, K = p.K;
  if (fast_qgemm_enabled()) {
    std::vector<int32_t> buf;
    int32_t* out = direct;
    if (!out) {
      buf.resize(static_cast<size_t>(p.batch_count * M * N));
      out = buf.data();
    }
    KILN_RETURN_IF_ERROR(qmatmul_i32(ctx, p, a, b, b_index, fast_zp(azp, azp_map, Side::kA),
                                     fast_zp(bzp, bzp_map, Side::kB), out));
    if (!direct)
      ctx.parallel_for(p.batch_count * M, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, N)),
                       [&](int64_t begin, int64_t end) {
                         for (int64_t r = begin; r < end; ++r) emit(r / M, r % M, out + r * N);
                       });
    return Status::ok();
  }
  const std::vector<int64_t> a_off = batch_offsets(p.batch, p.a_batch, M * K);
  const std::vector<int64_t> b_off = batch_offsets(p.batch, p.b_batch, K * N);
  const TA* ad = a.data<TA>();
  const TB* bd = b.data<TB>();
  ctx.parallel_for(p.batch_count * M, gemm_row_grain(N, K), [&](int64_t begin, int64_t end) {
    std::vector<int32_t> row(static_cast<size_t>(N));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t bi = r / M, m = r % M;
      const int32_t* az = azp.empty() ? nullptr : azp.data() + azp_map.at(bi, m, 0);
      const int32_t* bz = bzp.empty() ? nullptr : bzp.data() + bzp_map.at(bi, 0, 0);
      int32_t* dst = direct ? direct + r * N : row.data();
      gemm_ref_i32_rows<TA, TB>(0, 1, N, K, ad + a_off[bi] + m * K, K, 1, az, 0, bd + b_off[bi], N,
                                1, bz, bzp_map.col_stride, dst, N);
      if (!direct) emit(bi, m, dst);
    }
  });
  return Status::ok();
}

}  // namespace

// ---- MatMulInteger -----------------------------------------------------------------------------

Status matmul_integer_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("inputs A and B are required");
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* azp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const Tensor* bzp = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype()))
    return ctx.invalid(std::string("A and B must be uint8 or int8, got ") + dtype_name(a.dtype()) +
                       " and " + dtype_name(b.dtype()));
  if (azp && azp->dtype() != a.dtype()) return ctx.invalid("a_zero_point must have A's dtype");
  if (bzp && bzp->dtype() != b.dtype()) return ctx.invalid("b_zero_point must have B's dtype");
  auto plan = plan_matmul(a.shape(), b.shape());
  if (!plan) return ctx.invalid(plan.status().message());
  ParamMap amap, bmap;
  if (azp) {
    KILN_ASSIGN_OR_RETURN(amap, map_param(ctx, "a_zero_point", azp->shape(), *plan, Side::kA));
  }
  if (bzp) {
    KILN_ASSIGN_OR_RETURN(bmap, map_param(ctx, "b_zero_point", bzp->shape(), *plan, Side::kB));
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt32, plan->out_shape));
  if (y->numel() == 0) return Status::ok();
  const std::vector<int32_t> az = azp ? values_i32(*azp) : std::vector<int32_t>{};
  const std::vector<int32_t> bz = bzp ? values_i32(*bzp) : std::vector<int32_t>{};
  int32_t* yd = y->data<int32_t>();
  Status st;
  visit_8bit_pair(a.dtype(), b.dtype(), [&](auto ta, auto tb) {
    using TA = decltype(ta);
    using TB = decltype(tb);
    st = int_matmul_rows<TA, TB>(ctx, *plan, a, b, 1, az, amap, bz, bmap, yd,
                                 [](int64_t, int64_t, const int32_t*) {});
  });
  return st;
}

// ---- QLinearMatMul -----------------------------------------------------------------------------

Status qlinear_matmul_kernel(OpContext& ctx) {
  static const char* kNames[] = {"a",       "a_scale",      "a_zero_point", "b",
                                 "b_scale", "b_zero_point", "y_scale",      "y_zero_point"};
  for (size_t i = 0; i < 8; ++i)
    if (!ctx.has_input(i)) return ctx.invalid(std::string("input ") + kNames[i] + " is required");
  const Tensor& a = ctx.input(0);
  const Tensor& as = ctx.input(1);
  const Tensor& azp = ctx.input(2);
  const Tensor& b = ctx.input(3);
  const Tensor& bs = ctx.input(4);
  const Tensor& bzp = ctx.input(5);
  const Tensor& ys = ctx.input(6);
  const Tensor& yzp = ctx.input(7);
  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype()) || !is_8bit(yzp.dtype()))
    return ctx.unsupported_here(std::string("a, b and y must be uint8 or int8, got ") +
                                dtype_name(a.dtype()) + ", " + dtype_name(b.dtype()) + " and " +
                                dtype_name(yzp.dtype()));
  if (azp.dtype() != a.dtype() || bzp.dtype() != b.dtype())
    return ctx.invalid("a_zero_point / b_zero_point must have the dtype of a / b");
  const DType st = as.dtype();
  if (bs.dtype() != st || ys.dtype() != st)
    return ctx.invalid("a_scale, b_scale and y_scale must have the same dtype");
  if (ctx.opset() < 21
          ? st != DType::kFloat32
          : !(st == DType::kFloat32 || st == DType::kFloat16 || st == DType::kBFloat16))
    return ctx.invalid(std::string("scales of dtype ") + dtype_name(st) +
                       " are not allowed at this opset");
  auto same = [](const Tensor& s, const Tensor& z) {
    return s.shape() == z.shape() ||
           (s.rank() <= 1 && z.rank() <= 1 && s.numel() == 1 && z.numel() == 1);
  };
  if (!same(as, azp) || !same(bs, bzp) || !same(ys, yzp))
    return ctx.invalid("each scale must have the shape of its zero point");
  auto plan = plan_matmul(a.shape(), b.shape());
  if (!plan) return ctx.invalid(plan.status().message());
  KILN_ASSIGN_OR_RETURN(ParamMap amap, map_param(ctx, "a_scale", as.shape(), *plan, Side::kA));
  KILN_ASSIGN_OR_RETURN(ParamMap bmap, map_param(ctx, "b_scale", bs.shape(), *plan, Side::kB));
  KILN_ASSIGN_OR_RETURN(ParamMap ymap, map_param(ctx, "y_scale", ys.shape(), *plan, Side::kY));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yzp.dtype(), plan->out_shape));
  if (y->numel() == 0) return Status::ok();
  const std::vector<int32_t> az = values_i32(azp), bz = values_i32(bzp), yz = values_i32(yzp);
  std::vector<float> asv(as.numel()), bsv(bs.numel()), ysv(ys.numel());
  for (int64_t i = 0; i < as.numel(); ++i) asv[i] = static_cast<float>(as.get_as_double(i));
  for (int64_t i = 0; i < bs.numel(); ++i) bsv[i] = static_cast<float>(bs.get_as_double(i));
  for (int64_t i = 0; i < ys.numel(); ++i) ysv[i] = static_cast<float>(ys.get_as_double(i));
  // The multiplier a_scale * b_scale / y_scale is computed in the scales' precision (each
  // operation rounded, as numpy does for float16), the requantization in double.
  auto round_st = [st](float v) {
    if (st == DType::kFloat16) return static_cast<float>(Half(v));
    if (st == DType::kBFloat16) return static_cast<float>(BFloat16(v));
    return v;
  };
  const int64_t M = plan->M, N = plan->N;
  const bool y_signed = yzp.dtype() == DType::kInt8;
  const double lo = y_signed ? -128.0 : 0.0, hi = y_signed ? 127.0 : 255.0;
  uint8_t* yd = static_cast<uint8_t*>(y->raw_data());
  // Per-tensor a_scale and y_scale with b_scale the same for every batch: the multipliers
  // depend on the column only and are computed once (the same operations, in the same order).
  std::vector<float> col_mult;
  if (asv.size() == 1 && ysv.size() == 1 && bmap.batch_off.empty()) {
    col_mult.resize(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n)
      col_mult[n] = round_st(round_st(asv[0] * bsv[bmap.at(0, 0, n)]) / ysv[0]);
  }
  Status status;
  visit_8bit_pair(a.dtype(), b.dtype(), [&](auto ta, auto tb) {
    using TA = decltype(ta);
    using TB = decltype(tb);
    status = int_matmul_rows<TA, TB>(
        ctx, *plan, a, b, 3, az, amap, bz, bmap, nullptr,
        [&](int64_t bi, int64_t m, const int32_t* row) {
          uint8_t* out = yd + (bi * M + m) * N;
          const float a_s = asv[amap.at(bi, m, 0)];
          for (int64_t n = 0; n < N; ++n) {
            const int64_t yi = ymap.at(bi, m, n);
            const float mult = !col_mult.empty()
                                   ? col_mult[n]
                                   : round_st(round_st(a_s * bsv[bmap.at(bi, 0, n)]) / ysv[yi]);
            // saturate(round(C * multiplier) + y_zero_point), rounding half to even.
            double v = static_cast<double>(row[n]) * static_cast<double>(mult);
            v = std::isnan(v) ? lo : std::clamp(std::nearbyint(v) + yz[yi], lo, hi);
            const int iv = static_cast<int>(v);
            out[n] =
                y_signed ? static_cast<uint8_t>(static_cast<int8_t>(iv)) : static_cast<uint8_t>(iv);
          }
        });
  });
  return status;
}

}  // namespace kiln::cpu
