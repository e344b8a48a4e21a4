// The fast int8 GEMM (runtime/cpu/fast/qgemm.h) against the reference loops of gemm_ref.h, bit
// for bit (tolerance: none, integer results must be identical), for every micro-kernel this CPU
// runs (each forced explicitly: generic, AVX2, AVX512-VNNI, AMX): odd sizes (M, N, K in 1, 3,
// 13, 127, 130, 257), zero points 0, 128, 255 and per column / per row, u8 x s8 values that
// saturate vpmaddubsw (A = 255, B = -128) with a K large enough to wrap int32, s8 x s8, u8 x u8,
// s8 x u8, strided B, prepacked B, and 1 vs 2 threads; the float output stage; the vectorised
// DynamicQuantizeLinear loops against the scalar ones (NaN, infinities, -0, ties); and
// MatMulInteger / DynamicQuantizeLinear / DynamicQuantizeMatMul nodes through the executor against
// the reference computed here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/thread_pool.h"
#include "runtime/cpu/executor.h"
#include "runtime/cpu/fast/qgemm.h"
#include "runtime/cpu/ops/gemm_ref.h"

namespace kiln::cpu {
namespace {

using fast::QgemmIsa;

std::vector<QgemmIsa> isas() {
  std::vector<QgemmIsa> out{QgemmIsa::kGeneric};
  if (fast::qgemm_isa_supported(QgemmIsa::kAvx2)) out.push_back(QgemmIsa::kAvx2);
  if (fast::qgemm_isa_supported(QgemmIsa::kAvx512Vnni)) out.push_back(QgemmIsa::kAvx512Vnni);
  if (fast::qgemm_isa_supported(QgemmIsa::kAmx)) out.push_back(QgemmIsa::kAmx);
  return out;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, 255);
  std::vector<uint8_t> v(n);
  for (uint8_t& x : v) x = static_cast<uint8_t>(d(rng));
  return v;
}

// One problem: A M x K (row-major, lda = K + a_pad), B K x N (row-major with ldb = N + b_pad, or
// transposed: column-major), with zero points (empty: none; one value; or per row / column).
struct Problem {
  Problem(int64_t m, int64_t n, int64_t k) : M(m), N(n), K(k) {}
  int64_t M, N, K;
  bool a_signed = false, b_signed = true;
  std::vector<int32_t> a_zp, b_zp;
  bool b_trans = false;
  int64_t a_pad = 0, b_pad = 0;
};

struct Operands {
  Problem p;
  int64_t lda, b_rs, b_cs;
  std::vector<uint8_t> a, b;
  Operands(const Problem& pr, uint32_t seed) : p(pr) {
    lda = p.K + p.a_pad;
    const int64_t ldb = (p.b_trans ? p.K : p.N) + p.b_pad;
    b_rs = p.b_trans ? 1 : ldb;
    b_cs = p.b_trans ? ldb : 1;
    a = random_bytes(static_cast<size_t>(p.M * lda), seed);
    b = random_bytes(static_cast<size_t>((p.b_trans ? p.N : p.K) * ldb), seed + 1);
  }
  fast::QOperand qa() const { return {a.data(), p.a_signed, lda, 1}; }
  fast::QOperand qb() const { return {b.data(), p.b_signed, b_rs, b_cs}; }
  fast::QZeroPoint azp() const {
    return {p.a_zp.empty() ? nullptr : p.a_zp.data(), p.a_zp.size() > 1 ? 1 : 0};
  }
  fast::QZeroPoint bzp() const {
    return {p.b_zp.empty() ? nullptr : p.b_zp.data(), p.b_zp.size() > 1 ? 1 : 0};
  }
  std::vector<int32_t> reference() const {
    std::vector<int32_t> c(static_cast<size_t>(p.M * p.N));
    const int32_t* az = p.a_zp.empty() ? nullptr : p.a_zp.data();
    const int32_t* bz = p.b_zp.empty() ? nullptr : p.b_zp.data();
    const int64_t azs = p.a_zp.size() > 1 ? 1 : 0, bzs = p.b_zp.size() > 1 ? 1 : 0;
    auto run = [&](auto ta, auto tb) {
      using TA = decltype(ta);
      using TB = decltype(tb);
      gemm_ref_i32<TA, TB>(p.M, p.N, p.K, reinterpret_cast<const TA*>(a.data()), lda, 1, az, azs,
                           reinterpret_cast<const TB*>(b.data()), b_rs, b_cs, bz, bzs, c.data(),
                           p.N);
    };
    if (p.a_signed && p.b_signed) run(int8_t{}, int8_t{});
    if (p.a_signed && !p.b_signed) run(int8_t{}, uint8_t{});
    if (!p.a_signed && p.b_signed) run(uint8_t{}, int8_t{});
    if (!p.a_signed && !p.b_signed) run(uint8_t{}, uint8_t{});
    return c;
  }
  std::vector<int32_t> run(QgemmIsa isa, ThreadPool* pool) const {
    std::vector<int32_t> c(static_cast<size_t>(p.M * p.N), 12345);
    EXPECT_TRUE(fast::qgemm(p.M, p.N, p.K, qa(), azp(), qb(), bzp(), c.data(), p.N, pool, isa));
    return c;
  }
  std::vector<int32_t> run_packed(QgemmIsa isa, ThreadPool* pool) const {
    std::vector<int32_t> c(static_cast<size_t>(p.M * p.N), -7);
    auto packed = fast::qgemm_prepack_b(p.K, p.N, qb(), isa);
    EXPECT_TRUE(packed != nullptr);
    if (!packed) return c;
    EXPECT_EQ(packed->isa, isa);
    EXPECT_TRUE(fast::qgemm_packed(p.M, qa(), azp(), *packed, bzp(), c.data(), p.N, pool));
    return c;
  }
};

std::string describe(const Problem& p, QgemmIsa isa) {
  return std::string(fast::qgemm_isa_name(isa)) + " M=" + std::to_string(p.M) +
         " N=" + std::to_string(p.N) + " K=" + std::to_string(p.K) + (p.a_signed ? " s8" : " u8") +
         (p.b_signed ? "xs8" : "xu8") + " azp=" + std::to_string(p.a_zp.size()) +
         " bzp=" + std::to_string(p.b_zp.size()) + (p.b_trans ? " bT" : "");
}

// Every isa, unpacked and prepacked, 1 and 2 threads: identical to the reference.
void check(const Problem& p, uint32_t seed, ThreadPool& pool2) {
  const Operands o(p, seed);
  const std::vector<int32_t> ref = o.reference();
  for (QgemmIsa isa : isas()) {
    SCOPED_TRACE(describe(p, isa));
    ASSERT_EQ(o.run(isa, nullptr), ref);
    ASSERT_EQ(o.run(isa, &pool2), ref);
    ASSERT_EQ(o.run_packed(isa, nullptr), ref);
    ASSERT_EQ(o.run_packed(isa, &pool2), ref);
  }
}

std::vector<int32_t> per_index(int64_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& x : v) x = d(rng);
  return v;
}

TEST(CpuFastQgemm, IsaNames) {
  EXPECT_TRUE(fast::qgemm_isa_supported(QgemmIsa::kGeneric));
  EXPECT_NE(fast::qgemm_best_isa(), QgemmIsa::kAuto);
  EXPECT_STREQ(fast::qgemm_isa_name(QgemmIsa::kAvx512Vnni), "avx512vnni");
  EXPECT_STREQ(fast::qgemm_isa_name(QgemmIsa::kAmx), "amx");
}

TEST(CpuFastQgemm, AllOddSizesU8xS8) {
  ThreadPool pool(2);
  const int64_t sizes[] = {1, 3, 13, 127, 130, 257};
  uint32_t seed = 1;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : sizes) {
        Problem p(M, N, K);
        p.a_zp = {128};
        p.b_zp = per_index(N, seed, -128, 127);
        check(p, seed++, pool);
      }
}

TEST(CpuFastQgemm, DtypesAndZeroPoints) {
  ThreadPool pool(2);
  const int64_t shapes[][3] = {{13, 127, 130}, {130, 257, 257}, {1, 257, 127},
                               {3, 13, 1},     {127, 3, 13},    {257, 130, 3}};
  uint32_t seed = 100;
  for (const auto& s : shapes) {
    for (int dt = 0; dt < 4; ++dt) {
      const bool as = dt & 1, bs = dt & 2;
      const int alo = as ? -128 : 0, ahi = as ? 127 : 255;
      const int blo = bs ? -128 : 0, bhi = bs ? 127 : 255;
      // no zero points; 0; the range ends; one per row of A / column of B.
      const std::vector<std::vector<int32_t>> azps = {
          {}, {0}, {alo}, {ahi}, {as ? 0 : 128}, per_index(s[0], seed, alo, ahi)};
      const std::vector<std::vector<int32_t>> bzps = {
          {}, {0}, {blo}, {bhi}, {bs ? 0 : 128}, per_index(s[1], seed + 1, blo, bhi)};
      for (size_t zi = 0; zi < azps.size(); ++zi) {
        Problem p(s[0], s[1], s[2]);
        p.a_signed = as;
        p.b_signed = bs;
        p.a_zp = azps[zi];
        p.b_zp = bzps[(zi * 5 + 3) % bzps.size()];
        check(p, seed++, pool);
        p.b_zp = bzps[zi];
        p.b_trans = zi % 2 == 1;
        p.a_pad = 5;
        p.b_pad = 3;
        check(p, seed++, pool);
      }
    }
  }
}

// A = 255 and B = -128 everywhere (pair sums that saturate vpmaddubsw), and the other corners of
// each dtype pair, with a K large enough that the int32 sum wraps (255 * 128 * 70001 > 2^31).
TEST(CpuFastQgemm, SaturationAndWrapping) {
  ThreadPool pool(2);
  struct Corner {
    bool as, bs;
    uint8_t a, b;
    std::vector<int32_t> azp, bzp;
  };
  const Corner corners[] = {
      {false, true, 255, 0x80, {}, {}},        // 255 x -128
      {false, true, 255, 0x80, {0}, {127}},    // 255 x -255
      {false, true, 0, 0x7f, {255}, {-128}},   // -255 x 255
      {true, true, 0x80, 0x80, {127}, {127}},  // -255 x -255
      {false, false, 255, 255, {0}, {0}},      // 255 x 255
      {false, false, 0, 0, {255}, {255}},      // -255 x -255
      {true, false, 0x7f, 0, {-128}, {255}},   // 255 x -255
      {true, true, 0x80, 0x7f, {}, {}},        // -128 x 127
  };
  for (const Corner& c : corners) {
    for (int64_t K : {int64_t{4099}, int64_t{70001}}) {
      {
        const int64_t M = K > 5000 ? 3 : 13;
        Problem p(M, 19, K);
        p.a_signed = c.as;
        p.b_signed = c.bs;
        p.a_zp = c.azp;
        p.b_zp = c.bzp;
        Operands o(p, 7);
        std::fill(o.a.begin(), o.a.end(), c.a);
        std::fill(o.b.begin(), o.b.end(), c.b);
        const std::vector<int32_t> ref = o.reference();
        for (QgemmIsa isa : isas()) {
          SCOPED_TRACE(describe(p, isa));
          ASSERT_EQ(o.run(isa, &pool), ref);
          ASSERT_EQ(o.run_packed(isa, nullptr), ref);
        }
      }
    }
  }
}

TEST(CpuFastQgemm, EmptyShapes) {
  for (QgemmIsa isa : isas()) {
    std::vector<int32_t> c(6, 99);
    const uint8_t a = 1;
    const int8_t b = 1;
    // K == 0: all zeros.
    ASSERT_TRUE(fast::qgemm(2, 3, 0, {&a, false, 0, 1}, {}, {&b, true, 3, 1}, {}, c.data(), 3,
                            nullptr, isa));
    for (int32_t v : c) EXPECT_EQ(v, 0);
    // M == 0 / N == 0: nothing written.
    c.assign(6, 99);
    ASSERT_TRUE(fast::qgemm(0, 3, 4, {&a, false, 4, 1}, {}, {&b, true, 3, 1}, {}, c.data(), 3,
                            nullptr, isa));
    for (int32_t v : c) EXPECT_EQ(v, 99);
  }
}

// The float output stage (qgemm_f32 / qgemm_packed_f32): Y = float(C) * scale[n] (+ bias[n]) with
// the bits of that scalar expression (tolerance: none) for every isa, unpacked and prepacked, 1
// and 2 threads, odd sizes, and K past one packed slice (1030, 2049: partial sums in scratch).
TEST(CpuFastQgemm, FloatOutputStageBitExact) {
  ThreadPool pool(2);
  uint32_t seed = 900;
  const int64_t ms[] = {1, 13, 127, 130}, ns[] = {1, 13, 127, 257}, ks[] = {1, 13, 127, 1030, 2049};
  for (int64_t M : ms)
    for (int64_t N : ns)
      for (int64_t K : ks) {
        if (M * N * K > 130 * 257 * 1030) continue;  // keeps the test short
        Problem p(M, N, K);
        p.a_zp = {static_cast<int32_t>(seed % 256)};
        p.b_signed = seed % 3 != 0;
        p.b_zp = p.b_signed ? std::vector<int32_t>{} : per_index(N, seed, 0, 255);
        const Operands o(p, seed);
        std::mt19937 rng(seed++);
        std::uniform_real_distribution<float> d(-1.0f, 1.0f);
        std::vector<float> scale(static_cast<size_t>(N)), bias(static_cast<size_t>(N));
        for (float& v : scale) v = d(rng) * 1e-3f;
        for (float& v : bias) v = d(rng);
        const std::vector<int32_t> c = o.reference();
        for (bool with_bias : {false, true}) {
          std::vector<float> ref(static_cast<size_t>(M * N));
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
              float f = static_cast<float>(c[m * N + n]) * scale[n];
              if (with_bias) f += bias[n];
              ref[m * N + n] = f;
            }
          const fast::QFloatOutput base{nullptr, N + 2, scale.data(),
                                        with_bias ? bias.data() : nullptr};
          for (QgemmIsa isa : isas()) {
            SCOPED_TRACE(describe(p, isa) + (with_bias ? " bias" : ""));
            auto packed = fast::qgemm_prepack_b(K, N, o.qb(), isa);
            ASSERT_TRUE(packed != nullptr);
            for (int variant = 0; variant < 4; ++variant) {
              ThreadPool* tp = variant % 2 ? &pool : nullptr;
              // ldy = N + 2: the two padding floats per row must stay untouched.
              std::vector<float> y(static_cast<size_t>(M * (N + 2)), -3.5f);
              fast::QFloatOutput out = base;
              out.y = y.data();
              ASSERT_TRUE(
                  variant < 2
                      ? fast::qgemm_f32(M, N, K, o.qa(), o.azp(), o.qb(), o.bzp(), out, tp, isa)
                      : fast::qgemm_packed_f32(M, o.qa(), o.azp(), *packed, o.bzp(), out, tp));
              for (int64_t m = 0; m < M; ++m) {
                for (int64_t n = 0; n < N; ++n)
                  ASSERT_EQ(std::memcmp(&y[m * (N + 2) + n], &ref[m * N + n], sizeof(float)), 0)
                      << "variant " << variant << " at " << m << ", " << n << ": "
                      << y[m * (N + 2) + n] << " vs " << ref[m * N + n];
                ASSERT_EQ(y[m * (N + 2) + N], -3.5f);
                ASSERT_EQ(y[m * (N + 2) + N + 1], -3.5f);
              }
            }
          }
        }
      }
}

// ---- Dynamic quantization loops -----------------------------------------------------------------

TEST(CpuFastQgemm, MinMaxAndQuantizeMatchScalarLoops) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-3.0f, 5.0f);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{63}, int64_t{64},
                    int64_t{1003}}) {
    for (int variant = 0; variant < 5; ++variant) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = d(rng);
      if (variant == 1) x[n / 2] = nan;
      if (variant == 2) x[n - 1] = -inf, x[0] = nan;
      if (variant == 3)
        for (float& v : x) v = -0.0f;
      if (variant == 4)
        for (size_t i = 0; i < x.size(); ++i) x[i] = (static_cast<float>(i % 9) - 4.0f) * 0.5f;
      float mn_ref = 0, mx_ref = 0;
      for (float v : x) {
        if (v < mn_ref) mn_ref = v;
        if (v > mx_ref) mx_ref = v;
      }
      for (QgemmIsa isa : {QgemmIsa::kGeneric, QgemmIsa::kAuto}) {
        SCOPED_TRACE(std::to_string(n) + " variant " + std::to_string(variant) + " " +
                     fast::qgemm_isa_name(isa));
        float mn = 1, mx = -1;
        fast::minmax_with_zero(x.data(), n, &mn, &mx, isa);
        EXPECT_EQ(mn, mn_ref);
        EXPECT_EQ(mx, mx_ref);
        EXPECT_FALSE(std::signbit(mn) && mn == 0.0f);
        // Scales: the data's own, 1 (halves are ties: round half to even), and 0 (inf / NaN).
        const float range_scale = mx_ref == mn_ref ? 1.0f : (mx_ref - mn_ref) / 255.0f;
        for (float scale : {range_scale, 1.0f, 0.5f, 0.0f, inf}) {
          for (int32_t zp : {0, 3, 128, 255}) {
            std::vector<uint8_t> y(static_cast<size_t>(n), 77);
            fast::quantize_u8(x.data(), n, scale, zp, 200, y.data(), isa);
            for (int64_t i = 0; i < n; ++i) {
              const float q = x[i] / scale;
              uint8_t want;
              if (std::isnan(q)) {
                want = 200;
              } else {
                const double r = std::nearbyint(std::clamp(static_cast<double>(q), -1e12, 1e12));
                want = static_cast<uint8_t>(
                    std::clamp<int64_t>(static_cast<int64_t>(r) + zp, int64_t{0}, int64_t{255}));
              }
              ASSERT_EQ(y[i], want) << "x=" << x[i] << " scale=" << scale << " zp=" << zp;
            }
          }
        }
      }
    }
  }
}

// ---- Nodes through the executor -----------------------------------------------------------------

ir::Value* input(ir::Graph& g, const std::string& name, DType dt, const Shape& shape) {
  ir::ValueInfo info{dt, true, {}};
  for (int64_t d : shape) info.dims.push_back(ir::Dim{d, ""});
  ir::Value* v = g.add_value(name, info).value();
  g.add_input(v);
  return v;
}

Tensor run_graph(ir::Graph& g, const std::vector<std::pair<std::string, Tensor>>& feeds,
                 int threads, size_t out = 0) {
  Executor ex(g, threads);
  std::map<std::string, Tensor> f;
  for (const auto& [k, v] : feeds) f[k] = v;
  auto res = ex.run(f);
  EXPECT_TRUE(res.has_value()) << res.status().message();
  if (!res.has_value()) return Tensor();
  return (*res)[out];
}

// MatMulInteger with a batched uint8 A, a constant int8 B (packed once, cached) and a per-column
// B zero point; twice per thread count (the second run uses the cached packed weights).
TEST(CpuFastQgemm, MatMulIntegerNodeWithConstantWeights) {
  const int64_t B = 2, M = 37, K = 131, N = 45;
  const std::vector<uint8_t> av = random_bytes(static_cast<size_t>(B * M * K), 41);
  const std::vector<uint8_t> wb = random_bytes(static_cast<size_t>(K * N), 42);
  std::vector<int8_t> wv(wb.size());
  for (size_t i = 0; i < wb.size(); ++i) wv[i] = static_cast<int8_t>(wb[i]);
  std::vector<int8_t> bzp(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) bzp[n] = static_cast<int8_t>(n * 5 - 100);
  const int32_t azp = 131;
  std::vector<int32_t> bz32(bzp.begin(), bzp.end());
  std::vector<int32_t> ref(static_cast<size_t>(B * M * N));
  gemm_ref_i32<uint8_t, int8_t>(B * M, N, K, av.data(), K, 1, &azp, 0, wv.data(), N, 1, bz32.data(),
                                1, ref.data(), N);

  ir::Graph g;
  g.opsets()[""] = 13;
  ir::Value* in = input(g, "a", DType::kUInt8, {B, M, K});
  ir::Value* w = g.add_initializer("w", Tensor::from_vector<int8_t>({K, N}, wv)).value();
  ir::Value* az =
      g.add_initializer("az", Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(azp)}))
          .value();
  ir::Value* bz = g.add_initializer("bz", Tensor::from_vector<int8_t>({N}, bzp)).value();
  ir::Value* out = g.add_value("y").value();
  ASSERT_TRUE(g.add_node("MatMulInteger", "", {in, w, az, bz}, {out}, "mmi").has_value());
  g.add_output(out);
  const Tensor a = Tensor::from_vector<uint8_t>({B, M, K}, av);
  for (int threads : {1, 2, 2, 1}) {
    Tensor y = run_graph(g, {{"a", a}}, threads);
    ASSERT_TRUE(y.defined());
    ASSERT_EQ(y.shape(), (Shape{B, M, N}));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data<int32_t>()[i], ref[i]) << i;
  }
}

// MatMulInteger with int8 A, a batched uint8 B fed at run time (packed per call), and zero points
// that differ per batch and per row ([B, M, 1]) / per batch and column ([B, 1, N]).
TEST(CpuFastQgemm, MatMulIntegerNodeBatchedOperandsAndZeroPoints) {
  const int64_t B = 3, M = 13, K = 67, N = 29;
  const std::vector<uint8_t> ab = random_bytes(static_cast<size_t>(B * M * K), 51);
  const std::vector<int8_t> av(ab.begin(), ab.end());
  const std::vector<uint8_t> bv = random_bytes(static_cast<size_t>(B * K * N), 52);
  const std::vector<uint8_t> azb = random_bytes(static_cast<size_t>(B * M), 53);
  const std::vector<int8_t> azp(azb.begin(), azb.end());
  const std::vector<uint8_t> bzp = random_bytes(static_cast<size_t>(B * N), 54);
  std::vector<int32_t> ref(static_cast<size_t>(B * M * N));
  for (int64_t bi = 0; bi < B; ++bi) {
    std::vector<int32_t> az(azp.begin() + bi * M, azp.begin() + (bi + 1) * M);
    std::vector<int32_t> bz(bzp.begin() + bi * N, bzp.begin() + (bi + 1) * N);
    gemm_ref_i32<int8_t, uint8_t>(M, N, K, av.data() + bi * M * K, K, 1, az.data(), 1,
                                  bv.data() + bi * K * N, N, 1, bz.data(), 1,
                                  ref.data() + bi * M * N, N);
  }
  ir::Graph g;
  g.opsets()[""] = 13;
  ir::Value* a = input(g, "a", DType::kInt8, {B, M, K});
  ir::Value* b = input(g, "b", DType::kUInt8, {B, K, N});
  ir::Value* az = input(g, "az", DType::kInt8, {B, M, 1});
  ir::Value* bz = input(g, "bz", DType::kUInt8, {B, 1, N});
  ir::Value* out = g.add_value("y").value();
  ASSERT_TRUE(g.add_node("MatMulInteger", "", {a, b, az, bz}, {out}, "mmi").has_value());
  g.add_output(out);
  const std::vector<std::pair<std::string, Tensor>> feeds = {
      {"a", Tensor::from_vector<int8_t>({B, M, K}, av)},
      {"b", Tensor::from_vector<uint8_t>({B, K, N}, bv)},
      {"az", Tensor::from_vector<int8_t>({B, M, 1}, azp)},
      {"bz", Tensor::from_vector<uint8_t>({B, 1, N}, bzp)}};
  for (int threads : {1, 2}) {
    Tensor y = run_graph(g, feeds, threads);
    ASSERT_TRUE(y.defined());
    ASSERT_EQ(y.shape(), (Shape{B, M, N}));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data<int32_t>()[i], ref[i]) << i;
  }
}

// DynamicQuantizeLinear then DynamicQuantizeMatMul (com.microsoft) on a float input with a NaN,
// against the scalar reference rules written out here.
TEST(CpuFastQgemm, DynamicQuantizeNodes) {
  const int64_t M = 19, K = 70, N = 33;
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> d(-2.0f, 3.0f);
  std::vector<float> xv(static_cast<size_t>(M * K));
  for (float& v : xv) v = d(rng);
  xv[5] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<uint8_t> wb = random_bytes(static_cast<size_t>(K * N), 43);
  std::vector<int8_t> wv(wb.begin(), wb.end());
  const std::vector<float> bscale = {0.02f};

  float mn = 0, mx = 0;
  for (float v : xv) {
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const float scale = (mx - mn) / 255.0f;
  const float zpf = std::nearbyint(std::clamp(0.0f - mn / scale, 0.0f, 255.0f));
  const int32_t zp = static_cast<int32_t>(zpf);
  auto quant = [&](float x, uint8_t nan_value) -> uint8_t {
    const float q = x / scale;
    if (std::isnan(q)) return nan_value;
    return static_cast<uint8_t>(std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(q)) + zp,
                                                    int64_t{0}, int64_t{255}));
  };

  ir::Graph g;
  g.opsets()[""] = 13;
  g.opsets()["com.microsoft"] = 1;
  ir::Value* x = input(g, "x", DType::kFloat32, {M, K});
  ir::Value* y = g.add_value("y").value();
  ir::Value* ys = g.add_value("ys").value();
  ir::Value* yz = g.add_value("yz").value();
  ASSERT_TRUE(g.add_node("DynamicQuantizeLinear", "", {x}, {y, ys, yz}, "dql").has_value());
  ir::Value* w = g.add_initializer("w", Tensor::from_vector<int8_t>({K, N}, wv)).value();
  ir::Value* s = g.add_initializer("s", Tensor::from_vector<float>({}, bscale)).value();
  ir::Value* mm = g.add_value("mm").value();
  ASSERT_TRUE(
      g.add_node("DynamicQuantizeMatMul", "com.microsoft", {x, w, s}, {mm}, "dqmm").has_value());
  g.add_output(y);
  g.add_output(ys);
  g.add_output(yz);
  g.add_output(mm);
  const Tensor xt = Tensor::from_vector<float>({M, K}, xv);

  // DynamicQuantizeMatMul quantizes NaN to the zero point; its product in float.
  std::vector<uint8_t> aq(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) aq[i] = quant(xv[i], static_cast<uint8_t>(zp));
  std::vector<int32_t> acc(static_cast<size_t>(M * N));
  gemm_ref_i32<uint8_t, int8_t>(M, N, K, aq.data(), K, 1, &zp, 0, wv.data(), N, 1, nullptr, 0,
                                acc.data(), N);
  for (int threads : {1, 2}) {
    const Tensor q = run_graph(g, {{"x", xt}}, threads, 0);
    ASSERT_TRUE(q.defined());
    for (size_t i = 0; i < xv.size(); ++i) ASSERT_EQ(q.data<uint8_t>()[i], quant(xv[i], 0)) << i;
    EXPECT_EQ(run_graph(g, {{"x", xt}}, threads, 1).data<float>()[0], scale);
    EXPECT_EQ(run_graph(g, {{"x", xt}}, threads, 2).data<uint8_t>()[0], zp);
    const Tensor r = run_graph(g, {{"x", xt}}, threads, 3);
    ASSERT_TRUE(r.defined());
    for (int64_t i = 0; i < M * N; ++i)
      ASSERT_EQ(r.data<float>()[i], static_cast<float>(acc[i]) * (scale * bscale[0])) << i;
  }
}

}  // namespace
}  // namespace kiln::cpu
