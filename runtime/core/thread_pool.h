// A fixed pool of worker threads with a deterministic parallel_for: the range is split into
// equal contiguous chunks, so each chunk's work (and any per-chunk accumulation order) depends
// only on the range and the thread count.
//
// Waiting spins briefly before it sleeps: a kernel such as the packed GEMM calls parallel_for
// dozens of times per node (per K block and column block), and a worker that went to sleep on a
// condition variable takes tens of microseconds to wake, which made two threads no faster than
// one on BERT-sized GEMMs. Workers spin for up to kSpinMicros after their last job (and the
// caller for the workers' completion) before blocking; KILN_POOL_SPIN_US overrides it (0: never
// spin, for oversubscribed machines).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
 public:
  // threads <= 0: one per hardware thread.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }
  // Calls fn(begin, end) over [0, n) in chunks of at least `grain` items, on up to
  // num_threads() threads, and returns when all are done. Runs inline for small n.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker(int index);

  int num_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  std::atomic<int64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  int64_t spin_ns_ = 0;
  std::mutex run_mu_;  // one parallel_for at a time
};

}  // namespace kiln
