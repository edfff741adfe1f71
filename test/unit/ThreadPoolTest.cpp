//===- ThreadPoolTest.cpp - the cpu device's thread pool ------------------===//

#include "cpu/ThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using ube::runtime::ThreadPool;

namespace {

/// Records which thread ran each iteration (each iteration written once).
struct Record {
  std::vector<std::thread::id> owner;
  std::vector<std::atomic<int>> visits;
  explicit Record(size_t n) : owner(n), visits(n) {}
  static void task(void *ctx, int64_t begin, int64_t end) {
    auto *self = static_cast<Record *>(ctx);
    for (int64_t i = begin; i < end; ++i) {
      self->owner[i] = std::this_thread::get_id();
      self->visits[i]++;
    }
  }
};

TEST(ThreadPool, EveryIterationRunsOnce) {
  for (size_t threads : {1, 2, 3, 8})
    for (int64_t count : {1, 2, 5, 7, 64, 1001}) {
      ThreadPool pool(threads);
      Record record(count);
      pool.parallelFor(&Record::task, &record, count);
      for (int64_t i = 0; i < count; ++i)
        EXPECT_EQ(record.visits[i].load(), 1) << threads << " threads, " << count;
    }
}

/// Each iteration waits (up to 10 s) until `expected` distinct threads have
/// run one: passes only if that many run the loop at the same time.
struct Rendezvous {
  explicit Rendezvous(size_t expected) : expected(expected) {}
  size_t expected;
  std::mutex mutex;
  std::set<std::thread::id> arrived;
  static void task(void *ctx, int64_t begin, int64_t end) {
    auto *self = static_cast<Rendezvous *>(ctx);
    {
      std::lock_guard<std::mutex> lock(self->mutex);
      self->arrived.insert(std::this_thread::get_id());
    }
    for (int wait = 0; wait < 10000; ++wait) {
      {
        std::lock_guard<std::mutex> lock(self->mutex);
        if (self->arrived.size() >= self->expected)
          return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
};

TEST(ThreadPool, UsesItsWorkers) {
  ThreadPool pool(4);
  Rendezvous rendezvous(4);
  pool.parallelFor(&Rendezvous::task, &rendezvous, 64);
  EXPECT_EQ(rendezvous.arrived.size(), 4u);
  EXPECT_TRUE(rendezvous.arrived.count(std::this_thread::get_id())); // the caller too
}

TEST(ThreadPool, LoopsInQuickSuccession) {
  // Workers spinning between loops and sleeping after: every loop complete,
  // whatever state they were in when it began.
  ThreadPool pool(3);
  for (int repeat = 0; repeat < 2000; ++repeat) {
    Record record(37);
    pool.parallelFor(&Record::task, &record, 37);
    for (auto &visits : record.visits)
      ASSERT_EQ(visits.load(), 1) << "loop " << repeat;
    if (repeat % 500 == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(5)); // let them sleep
  }
}

struct Nested {
  ThreadPool *pool;
  std::atomic<int64_t> inner{0};
  static void inner_task(void *ctx, int64_t begin, int64_t end) {
    static_cast<Nested *>(ctx)->inner += end - begin;
  }
  static void outer_task(void *ctx, int64_t begin, int64_t end) {
    auto *self = static_cast<Nested *>(ctx);
    for (int64_t i = begin; i < end; ++i)
      self->pool->parallelFor(&Nested::inner_task, self, 10); // serial, no deadlock
  }
};

TEST(ThreadPool, NestedLoopsRunSerially) {
  ThreadPool pool(3);
  Nested nested{&pool};
  pool.parallelFor(&Nested::outer_task, &nested, 9);
  EXPECT_EQ(nested.inner.load(), 90);
}

TEST(ThreadPool, ConcurrentCallersNeverWaitOnEachOther) {
  ThreadPool pool(2);
  std::vector<std::thread> callers;
  std::vector<std::unique_ptr<Record>> records;
  for (int c = 0; c < 8; ++c)
    records.push_back(std::make_unique<Record>(257));
  for (int c = 0; c < 8; ++c)
    callers.emplace_back([&, c] {
      for (int repeat = 0; repeat < 50; ++repeat)
        pool.parallelFor(&Record::task, records[c].get(), 257);
    });
  for (std::thread &caller : callers)
    caller.join();
  for (auto &record : records)
    for (auto &visits : record->visits)
      EXPECT_EQ(visits.load(), 50);
}

TEST(ThreadPool, DefaultThreadsFollowsTheEnvironment) {
  setenv("UBE_NUM_THREADS", "3", 1);
  EXPECT_EQ(ThreadPool::defaultThreads(), 3u);
  setenv("UBE_NUM_THREADS", "zero", 1); // not a count: the hardware's
  EXPECT_GE(ThreadPool::defaultThreads(), 1u);
  EXPECT_NE(ThreadPool::defaultThreads(), 0u);
  unsetenv("UBE_NUM_THREADS");
}

} // namespace
