// Session: the public API on each device; two sessions on one device, and one session shared
// by several threads, give the single-threaded CPU answer.
#include <gtest/gtest.h>

#include <thread>

#include "runtime/opencl/opencl_backend.h"
#include "runtime/session.h"
#include "runtime/tools/conformance.h"

namespace kiln {
namespace {

const std::string kModel = std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx";

std::map<std::string, Tensor> feeds_for(int64_t seq, int salt) {
  Tensor ids = Tensor::create(DType::kInt64, {1, seq}).value();
  Tensor mask = Tensor::create(DType::kInt64, {1, seq}).value();
  for (int64_t i = 0; i < seq; ++i) {
    ids.data<int64_t>()[i] = (i * 31 + salt * 7 + 3) % 1000;
    mask.data<int64_t>()[i] = 1;
  }
  return {{"input_ids", ids}, {"attention_mask", mask}};
}

std::vector<Tensor> cpu_reference(const std::map<std::string, Tensor>& feeds) {
  SessionOptions o;
  o.device = "cpu";
  o.threads = 1;
  auto s = Session::load(kModel, o);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  auto r = (*s)->run(feeds);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return *r;
}

void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    auto c = tools::compare_tensors(got[i], want[i], 1e-4, 1e-4);
    EXPECT_TRUE(c.ok) << "output " << i << ": " << c.message;
  }
}

TEST(Session, UnknownDeviceIsAClearError) {
  SessionOptions o;
  o.device = "tpu";
  auto s = Session::load(kModel, o);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("tpu"), std::string::npos);
  o.device = "opencl:99";
  auto t = Session::load(kModel, o);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.status().message().find("opencl:99"), std::string::npos);
}

TEST(Session, TwoSessionsOnOneDeviceAndManyThreads) {
  if (!opencl::OpenClBackend::create("opencl")) GTEST_SKIP() << "no OpenCL device";
  SessionOptions o;
  o.device = "opencl";
  auto a = Session::load(kModel, o);
  auto b = Session::load(kModel, o);
  ASSERT_TRUE(a.has_value()) << a.status().to_string();
  ASSERT_TRUE(b.has_value()) << b.status().to_string();
  std::vector<std::map<std::string, Tensor>> feeds;
  std::vector<std::vector<Tensor>> want;
  for (int k = 0; k < 4; ++k) {
    feeds.push_back(feeds_for(5 + 3 * k, k));
    want.push_back(cpu_reference(feeds.back()));
  }
  std::vector<std::vector<Tensor>> got_a(8), got_b(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = (*a)->run(feeds[t % 4]);
      if (r) got_a[t] = *r;
      auto q = (*b)->run(feeds[(t + 1) % 4]);
      if (q) got_b[t] = *q;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    expect_close(got_a[t], want[t % 4]);
    expect_close(got_b[t], want[(t + 1) % 4]);
  }
}

}  // namespace
}  // namespace kiln
