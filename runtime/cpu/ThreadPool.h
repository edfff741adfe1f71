//===- ThreadPool.h - the cpu device's worker threads ----------*- C++ -*-===//
//
// Generated host code hands each parallel loop to the runtime as
// task(ctx, begin, end) over [0, count) (ube_host_parallel_for,
// docs/runtime-abi.md). The pool splits [0, count) into one contiguous chunk
// per thread, runs chunk 0 on the calling thread and the others on its
// workers, and returns when all are done. Which thread runs an iteration
// never changes what the iteration computes, so results are identical for
// any thread count.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CPU_THREADPOOL_H
#define UBE_RUNTIME_CPU_THREADPOOL_H

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ube::runtime {

class ThreadPool {
public:
  using Task = void (*)(void *ctx, int64_t begin, int64_t end);

  /// A pool of `threads` threads in all: the caller and threads - 1 workers.
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  size_t threads() const { return workers_.size() + 1; }

  /// Runs `task` over [0, count). Serially when the pool has one thread,
  /// when called from inside a task, or while another thread's loop holds
  /// the pool (so concurrent invocations never wait on each other).
  void parallelFor(Task task, void *ctx, int64_t count);

  /// The thread count a new cpu device starts with: UBE_NUM_THREADS when it
  /// is a positive integer, else the number of hardware threads.
  static size_t defaultThreads();

private:
  void workerLoop(size_t index);
  void runChunk(size_t chunk);

  std::vector<std::thread> workers_;
  std::mutex busy_; ///< Held by the thread whose loop runs on the pool.
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  size_t pending_ = 0;
  bool stopping_ = false;
  // The loop being run.
  Task task_ = nullptr;
  void *ctx_ = nullptr;
  int64_t count_ = 0;
  size_t chunks_ = 0;
};

} // namespace ube::runtime

#endif // UBE_RUNTIME_CPU_THREADPOOL_H
