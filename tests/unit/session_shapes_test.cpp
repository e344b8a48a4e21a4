// Dynamic shapes in one session (issue 7): one Session runs a zoo BERT export at several batch
// sizes and sequence lengths, in an order that repeats a shape, and every result equals a fresh
// session's that only ever saw that shape. On a device, a repeated shape builds no new kernel or
// memory plan, and the device results equal the CPU's within the zoo's fp32 tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/device/hybrid_executor.h"
#include "runtime/session.h"

namespace kiln {
namespace {

const std::string kBert = std::string(KILN_SOURCE_DIR) + "/tests/models/zoo/bert_op14.onnx";

// input_ids in [3, 500), attention_mask with the last `pad` positions of row 0 masked,
// token_type_ids all zero.
std::map<std::string, Tensor> bert_feeds(int64_t batch, int64_t seq, int64_t pad, unsigned seed) {
  std::mt19937 rng(seed);
  Tensor ids = Tensor::create(DType::kInt64, {batch, seq}).value();
  Tensor mask = Tensor::create(DType::kInt64, {batch, seq}).value();
  Tensor types = Tensor::create(DType::kInt64, {batch, seq}).value();
  for (int64_t i = 0; i < batch * seq; ++i) {
    ids.data<int64_t>()[i] = 3 + static_cast<int64_t>(rng() % 497);
    mask.data<int64_t>()[i] = (i < seq && i % seq >= seq - pad) ? 0 : 1;
    types.data<int64_t>()[i] = 0;
  }
  return {{"input_ids", ids}, {"attention_mask", mask}, {"token_type_ids", types}};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return INFINITY;
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a.data<float>()[i]) -
                                      static_cast<double>(b.data<float>()[i])));
  return worst;
}

struct Shape2 {
  int64_t batch, seq, pad;
};
const std::vector<Shape2> kShapes = {{1, 5, 0}, {3, 13, 4}, {2, 7, 2},
                                     {1, 5, 0}, {3, 13, 4}, {2, 1, 0}};

// Results of `device` running every shape of kShapes in one session, in order.
std::vector<std::vector<Tensor>> run_all(const std::string& device, Session** keep = nullptr) {
  SessionOptions o;
  o.device = device;
  o.threads = 1;
  static std::vector<std::unique_ptr<Session>> alive;
  auto s = Session::load(kBert, o);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  if (!s.has_value()) return {};
  std::vector<std::vector<Tensor>> out;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    const Shape2& sh = kShapes[i];
    auto r = (*s)->run(bert_feeds(sh.batch, sh.seq, sh.pad, static_cast<unsigned>(sh.seq)));
    EXPECT_TRUE(r.has_value()) << device << " shape " << i << ": " << r.status().to_string();
    if (!r.has_value()) return {};
    out.push_back(std::move(*r));
  }
  if (keep) {
    alive.push_back(std::move(*s));
    *keep = alive.back().get();
  }
  return out;
}

TEST(SessionShapes, CpuOneSessionEqualsFreshSessions) {
  auto all = run_all("cpu");
  ASSERT_EQ(all.size(), kShapes.size());
  for (size_t i = 0; i < kShapes.size(); ++i) {
    SessionOptions o;
    o.device = "cpu";
    o.threads = 1;
    auto fresh = Session::load(kBert, o);
    ASSERT_TRUE(fresh.has_value());
    const Shape2& sh = kShapes[i];
    auto r = (*fresh)->run(bert_feeds(sh.batch, sh.seq, sh.pad, static_cast<unsigned>(sh.seq)));
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    ASSERT_EQ(r->size(), all[i].size());
    for (size_t k = 0; k < r->size(); ++k) {
      EXPECT_EQ((*r)[k].shape()[0], sh.batch);
      // Same kernels, same thread count: bit-identical.
      EXPECT_EQ(max_abs_diff((*r)[k], all[i][k]), 0.0) << "shape " << i << " output " << k;
    }
  }
}

class SessionShapesDevice : public ::testing::TestWithParam<std::string> {};

TEST_P(SessionShapesDevice, EqualsCpuAndCachesPlans) {
  SessionOptions probe;
  probe.device = GetParam();
  if (!Session::load(kBert, probe).has_value()) GTEST_SKIP() << "no " << GetParam() << " device";
  auto cpu = run_all("cpu");
  Session* dev_session = nullptr;
  auto dev = run_all(GetParam(), &dev_session);
  ASSERT_EQ(cpu.size(), kShapes.size());
  ASSERT_EQ(dev.size(), kShapes.size());
  for (size_t i = 0; i < kShapes.size(); ++i)
    for (size_t k = 0; k < cpu[i].size(); ++k)
      EXPECT_LE(max_abs_diff(cpu[i][k], dev[i][k]), 1e-4)
          << GetParam() << " shape " << i << " output " << k;
  ASSERT_NE(dev_session, nullptr);
  const device::HybridExecutor* ex = dev_session->device_executor();
  ASSERT_NE(ex, nullptr);
  // Four distinct shapes among six runs: four memory plans, and the repeats built none.
  EXPECT_EQ(ex->plans_built(), 4u);
  const size_t kernels = ex->kernels_prepared();
  const Shape2& sh = kShapes[1];
  ASSERT_TRUE(dev_session->run(bert_feeds(sh.batch, sh.seq, sh.pad, 13)).has_value());
  EXPECT_EQ(ex->kernels_prepared(), kernels);
  EXPECT_EQ(ex->plans_built(), 4u);
}

INSTANTIATE_TEST_SUITE_P(Devices, SessionShapesDevice, ::testing::Values("opencl", "vulkan"));

}  // namespace
}  // namespace kiln
