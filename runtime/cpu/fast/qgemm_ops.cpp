// The glue between the CPU quantized-matmul kernels and the fast int8 GEMM (see qgemm_ops.h).
#include "runtime/cpu/fast/qgemm_ops.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "runtime/cpu/fast/qgemm.h"
#include "runtime/cpu/ops/packed_weights.h"

namespace kiln::cpu {

namespace {

fast::QZeroPoint zp_at(const QMatMulZeroPoint& z, int64_t bi) {
  fast::QZeroPoint out;
  if (!z.values) return out;
  out.values = z.values + (z.batch_off.empty() ? 0 : z.batch_off[static_cast<size_t>(bi)]);
  out.stride = z.stride;
  return out;
}

bool batch_invariant(const QMatMulZeroPoint& z) {
  return std::all_of(z.batch_off.begin(), z.batch_off.end(), [](int64_t o) { return o == 0; });
}

}  // namespace

bool fast_qgemm_enabled() {
  static const bool on = [] {
    for (const char* name : {"KILN_CPU_GEMM", "KILN_CPU_QGEMM"}) {
      const char* v = std::getenv(name);
      if (v && std::string(v) == "ref") return false;
    }
    return true;
  }();
  return on;
}

namespace {

// qmatmul_i32 (y32) or qmatmul_f32 (yf with scale / bias): one of y32 and yf is set.
Status qmatmul_impl(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                    size_t b_index, const QMatMulZeroPoint& a_zp, const QMatMulZeroPoint& b_zp,
                    int32_t* y32, float* yf, const float* scale, const float* bias) {
  const int64_t M = p.M, N = p.N, K = p.K;
  const std::vector<int64_t> a_off = batch_offsets(p.batch, p.a_batch, M * K);
  const std::vector<int64_t> b_off = batch_offsets(p.batch, p.b_batch, K * N);
  const int64_t batches = p.batch_count;
  bool b_shared = true, a_contiguous = true;
  for (int64_t i = 0; i < batches; ++i) {
    b_shared = b_shared && b_off[i] == 0;
    a_contiguous = a_contiguous && a_off[i] == i * M * K;
  }
  const uint8_t* ad = static_cast<const uint8_t*>(a.raw_data());
  const uint8_t* bd = static_cast<const uint8_t*>(b.raw_data());
  fast::QOperand qa;
  qa.is_signed = a.dtype() == DType::kInt8;
  qa.rs = K;
  qa.cs = 1;
  fast::QOperand qb;
  qb.is_signed = b.dtype() == DType::kInt8;
  qb.rs = N;
  qb.cs = 1;
  ThreadPool* pool = &ctx.pool();
  bool ok = true;
  if (b_shared) {
    std::shared_ptr<const fast::PackedQB> packed =
        constant_packed_qb(ctx, b_index, K, N, /*trans_b=*/false);
    qb.data = bd;
    // Output rows from `row0` on.
    auto run = [&](int64_t rows, int64_t a_at, int64_t bi, int64_t row0) {
      qa.data = ad + a_at;
      const fast::QZeroPoint az = zp_at(a_zp, bi), bz = zp_at(b_zp, bi);
      if (yf) {
        const fast::QFloatOutput out{yf + row0 * N, N, scale, bias};
        ok = ok && (packed ? fast::qgemm_packed_f32(rows, qa, az, *packed, bz, out, pool)
                           : fast::qgemm_f32(rows, N, K, qa, az, qb, bz, out, pool));
      } else if (packed) {
        ok = ok && fast::qgemm_packed(rows, qa, az, *packed, bz, y32 + row0 * N, N, pool);
      } else {
        ok = ok && fast::qgemm(rows, N, K, qa, az, qb, bz, y32 + row0 * N, N, pool);
      }
    };
    if (a_contiguous && batch_invariant(a_zp) && batch_invariant(b_zp) &&
        (a_zp.stride == 0 || batches == 1)) {
      // [batch..., M, K] x [K, N]: one GEMM with batch * M rows.
      run(batches * M, 0, 0, 0);
    } else {
      for (int64_t i = 0; i < batches; ++i) run(M, a_off[i], i, i * M);
    }
  } else {
    for (int64_t i = 0; i < batches; ++i) {
      qa.data = ad + a_off[i];
      qb.data = bd + b_off[i];
      const fast::QZeroPoint az = zp_at(a_zp, i), bz = zp_at(b_zp, i);
      if (yf) {
        const fast::QFloatOutput out{yf + i * M * N, N, scale, bias};
        ok = ok && fast::qgemm_f32(M, N, K, qa, az, qb, bz, out, pool);
      } else {
        ok = ok && fast::qgemm(M, N, K, qa, az, qb, bz, y32 + i * M * N, N, pool);
      }
    }
  }
  if (!ok) return ctx.runtime("out of memory for the int8 GEMM's packing buffers");
  return Status::ok();
}

}  // namespace

Status qmatmul_i32(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                   size_t b_index, const QMatMulZeroPoint& a_zp, const QMatMulZeroPoint& b_zp,
                   int32_t* y) {
  return qmatmul_impl(ctx, p, a, b, b_index, a_zp, b_zp, y, nullptr, nullptr, nullptr);
}

Status qmatmul_f32(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                   size_t b_index, const QMatMulZeroPoint& a_zp, const QMatMulZeroPoint& b_zp,
                   const float* scale, const float* bias, float* y) {
  return qmatmul_impl(ctx, p, a, b, b_index, a_zp, b_zp, nullptr, y, scale, bias);
}

void dynamic_minmax(const OpContext& ctx, const float* x, int64_t n, float* mn, float* mx) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) {
    fast::minmax_with_zero(x, n, mn, mx);
    return;
  }
  // Min and max are exact, so the chunks combine to the reference's result in any order.
  std::vector<float> lo(static_cast<size_t>(chunks)), hi(static_cast<size_t>(chunks));
  ctx.parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
      fast::minmax_with_zero(x + begin, len, &lo[c], &hi[c]);
    }
  });
  float l = 0.0f, h = 0.0f;
  for (int64_t c = 0; c < chunks; ++c) {
    if (lo[c] < l) l = lo[c];
    if (hi[c] > h) h = hi[c];
  }
  *mn = l;
  *mx = h;
}

void dynamic_quantize_u8(const OpContext& ctx, const float* x, int64_t n, float scale, int32_t zp,
                         uint8_t nan_value, uint8_t* y) {
  ctx.parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    fast::quantize_u8(x + b, e - b, scale, zp, nan_value, y + b);
  });
}

}  // namespace kiln::cpu
