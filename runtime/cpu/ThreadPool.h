//===- ThreadPool.h - the cpu device's worker threads ----------*- C++ -*-===//
//
// Generated host code hands each parallel loop to the runtime as
// task(ctx, begin, end) over [0, count) (ube_host_parallel_for,
// docs/runtime-abi.md). The calling thread and the workers take shares of
// [0, count) from an atomic counter until none are left, and the call
// returns when all are done. Which thread runs an iteration never changes
// what the iteration computes, so results are identical for any thread
// count. Waiting threads spin briefly before they sleep: a model runs
// hundreds of loops per invocation, and a futex wake-up per loop cost
// MiniLM at batch 1 a third of its time (24 → 15.5 ms per 128 tokens).
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CPU_THREADPOOL_H
#define UBE_RUNTIME_CPU_THREADPOOL_H

#include <atomic>
#include <chrono>
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
  void workerLoop();
  void runShares();

  /// Guided shares: a thread takes 1/(kSharesPerThread × threads) of the
  /// iterations left (at least one), large shares first and single
  /// iterations at the end, so the threads end within one iteration of each
  /// other with few atomic operations. (Fixed shares of 1/4 of a thread's
  /// even share left 2048³'s 44 tasks split 24 : 20 between two threads,
  /// 0.88 → 1.0× PyTorch's time.)
  static constexpr int64_t kSharesPerThread = 2;
  /// How long a waiting thread spins before it sleeps: longer than the gap
  /// between two calls from Python (tens of µs), so that a worker woken
  /// for one call is still awake for the next, as OpenMP runtimes keep
  /// theirs (libgomp spins a few ms). Waking a sleeping worker costs far
  /// more in a VM, where its idle vCPU must be woken too: 512³ in bursts
  /// of 20 calls from Python, 2 threads on Emerald Rapids, ran at 140
  /// GFLOP/s with 25 µs of spinning (2000 pauses of 12.5 ns), 227 with 250
  /// µs or 2.5 ms. Measured in time, as a pause takes 10 to 140 cycles
  /// from one x86 core to another.
  static constexpr std::chrono::microseconds kSpinTime{500};
  /// Spins until `ready()` or kSpinTime has passed; whether it is ready.
  template <typename Ready> static bool spinFor(Ready ready);

  std::vector<std::thread> workers_;
  std::mutex busy_; ///< Held by the thread whose loop runs on the pool.
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0}; ///< Bumped for each loop.
  std::atomic<size_t> pending_{0};      ///< Workers not done with the loop.
  size_t sleeping_ = 0;                 ///< Workers waiting on wake_.
  std::atomic<bool> stopping_{false};   ///< Set (with a new generation) to end.
  // The loop being run: set before generation_ is bumped.
  Task task_ = nullptr;
  void *ctx_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0}; ///< The first iteration nobody has taken.
};

} // namespace ube::runtime

#endif // UBE_RUNTIME_CPU_THREADPOOL_H
