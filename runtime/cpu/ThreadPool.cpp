//===- ThreadPool.cpp - the cpu device's worker threads -------------------===//

#include "ThreadPool.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace ube::runtime {
namespace {
/// Set on pool workers and on a caller while its loop runs: a parallel loop
/// inside a task runs serially instead of waiting for the busy pool.
thread_local bool insideTask = false;

inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
} // namespace

template <typename Ready> bool ThreadPool::spinFor(Ready ready) {
  // The clock read once per 64 pauses (about a µs), not per pause.
  auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready())
        return true;
      pause();
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return ready();
  }
}

ThreadPool::ThreadPool(size_t threads) {
  for (size_t i = 1; i < threads; ++i)
    workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread &worker : workers_)
    worker.join();
}

size_t ThreadPool::defaultThreads() {
  if (const char *env = std::getenv("UBE_NUM_THREADS")) {
    char *end = nullptr;
    unsigned long value = std::strtoul(env, &end, 10);
    if (end != env && *end == '\0' && value > 0 && value <= 4096)
      return value;
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware ? hardware : 1;
}

void ThreadPool::runShares() {
  // Dynamic: each thread takes a share of what is left until none is, so a
  // thread that started late or got cheap iterations takes more.
  const int64_t divisor = int64_t(threads()) * kSharesPerThread;
  int64_t begin = next_.load(std::memory_order_relaxed);
  for (;;) {
    if (begin >= count_)
      return;
    int64_t share = std::max<int64_t>(1, (count_ - begin) / divisor);
    if (!next_.compare_exchange_weak(begin, begin + share, std::memory_order_relaxed))
      continue;
    task_(ctx_, begin, begin + share);
    begin = next_.load(std::memory_order_relaxed);
  }
}

void ThreadPool::parallelFor(Task task, void *ctx, int64_t count) {
  if (count <= 0)
    return;
  std::unique_lock<std::mutex> busy(busy_, std::defer_lock);
  if (workers_.empty() || count == 1 || insideTask || !busy.try_lock()) {
    task(ctx, 0, count);
    return;
  }
  task_ = task;
  ctx_ = ctx;
  count_ = count;
  next_.store(0, std::memory_order_relaxed);
  pending_.store(workers_.size(), std::memory_order_relaxed);
  {
    // Under the mutex, so a worker about to sleep sees the new generation.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
    if (sleeping_)
      wake_.notify_all();
  }
  insideTask = true;
  runShares();
  insideTask = false;
  // The workers finish within microseconds of the caller unless the loop is
  // uneven: spin a while before sleeping.
  auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spinFor(done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, done);
  }
}

void ThreadPool::workerLoop() {
  insideTask = true;
  uint64_t seen = 0;
  for (;;) {
    // Spin a while for the next loop (a model's layers come in quick
    // succession), then sleep.
    uint64_t current = seen;
    spinFor([&] { return (current = generation_.load(std::memory_order_acquire)) != seen; });
    if (current == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      ++sleeping_;
      wake_.wait(lock, [&] {
        return generation_.load(std::memory_order_acquire) != seen;
      });
      --sleeping_;
      current = generation_.load(std::memory_order_acquire);
    }
    if (stopping_.load(std::memory_order_acquire))
      return;
    seen = current;
    runShares();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

} // namespace ube::runtime
