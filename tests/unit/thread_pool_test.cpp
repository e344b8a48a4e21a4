// ThreadPool: every index of every parallel_for is visited exactly once, chunks are the same
// for a given range and thread count, across thousands of back-to-back calls (the spinning
// hand-off between calls) and with spinning off (KILN_POOL_SPIN_US=0: condition variables only).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/thread_pool.h"

namespace kiln {
namespace {

void check_pool(int threads) {
  ThreadPool pool(threads);
  for (int call = 0; call < 3000; ++call) {
    const int64_t n = 1 + call % 97;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (auto& h : hits) h.store(0);
    pool.parallel_for(n, 1 + call % 5, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "call " << call << " index " << i;
  }
  // Deterministic chunks: the same (begin, end) pairs for the same range on every call.
  std::vector<std::pair<int64_t, int64_t>> first, again;
  std::mutex mu;
  for (auto* out : {&first, &again}) {
    pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(mu);
      out->push_back({b, e});
    });
    std::sort(out->begin(), out->end());
  }
  EXPECT_EQ(first, again);
  EXPECT_EQ(static_cast<int>(first.size()), threads);
}

TEST(ThreadPool, EveryIndexOnceWithSpinning) {
  for (int t : {2, 3, 4}) check_pool(t);
}

TEST(ThreadPool, EveryIndexOnceWithoutSpinning) {
  const char* old = std::getenv("KILN_POOL_SPIN_US");
  std::string saved = old ? old : "";
  setenv("KILN_POOL_SPIN_US", "0", 1);
  for (int t : {2, 3}) check_pool(t);
  if (old)
    setenv("KILN_POOL_SPIN_US", saved.c_str(), 1);
  else
    unsetenv("KILN_POOL_SPIN_US");
}

}  // namespace
}  // namespace kiln
