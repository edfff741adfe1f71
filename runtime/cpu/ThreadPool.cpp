//===- ThreadPool.cpp - the cpu device's worker threads -------------------===//

#include "ThreadPool.h"

#include <cstdlib>
#include <string>

namespace ube::runtime {
namespace {
/// Set on pool workers and on a caller while its loop runs: a parallel loop
/// inside a task runs serially instead of waiting for the busy pool.
thread_local bool insideTask = false;
} // namespace

ThreadPool::ThreadPool(size_t threads) {
  for (size_t i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
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

void ThreadPool::runChunk(size_t chunk) {
  // Contiguous, as equal as integers allow.
  int64_t begin = int64_t(chunk) * count_ / int64_t(chunks_);
  int64_t end = int64_t(chunk + 1) * count_ / int64_t(chunks_);
  if (begin < end)
    task_(ctx_, begin, end);
}

void ThreadPool::parallelFor(Task task, void *ctx, int64_t count) {
  if (count <= 0)
    return;
  std::unique_lock<std::mutex> busy(busy_, std::defer_lock);
  if (workers_.empty() || count == 1 || insideTask || !busy.try_lock()) {
    task(ctx, 0, count);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = task;
    ctx_ = ctx;
    count_ = count;
    chunks_ = std::min<size_t>(threads(), size_t(count));
    pending_ = chunks_ - 1;
    ++generation_;
  }
  wake_.notify_all();
  insideTask = true;
  runChunk(0);
  insideTask = false;
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
}

void ThreadPool::workerLoop(size_t index) {
  insideTask = true;
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_)
      return;
    seen = generation_;
    if (index >= chunks_)
      continue;
    lock.unlock();
    runChunk(index);
    lock.lock();
    if (--pending_ == 0)
      done_.notify_one();
  }
}

} // namespace ube::runtime
