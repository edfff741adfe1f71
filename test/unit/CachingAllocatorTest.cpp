// The caching allocator on a fake backing allocator (no GPU needed).
#include "CachingAllocator.h"

#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using ube::runtime::CachingAllocator;

namespace {
/// Hands out fake addresses and records what is live; can be made to fail.
struct FakeBacking {
  uintptr_t next = 0x10000;
  std::set<void *> live;
  size_t calls = 0, frees = 0, limit = SIZE_MAX, used = 0;
  std::map<void *, size_t> sizes;
  CachingAllocator make() {
    return CachingAllocator(
        [this](size_t bytes) -> void * {
          ++calls;
          if (used + bytes > limit)
            return nullptr;
          void *p = reinterpret_cast<void *>(next);
          next += bytes + 4096;
          live.insert(p);
          sizes[p] = bytes;
          used += bytes;
          return p;
        },
        [this](void *p) {
          ++frees;
          live.erase(p);
          used -= sizes[p];
        });
  }
};
} // namespace

TEST(CachingAllocator, RoundsToSizeClasses) {
  EXPECT_EQ(CachingAllocator::roundSize(0), 512u);
  EXPECT_EQ(CachingAllocator::roundSize(1), 512u);
  EXPECT_EQ(CachingAllocator::roundSize(513), 1024u);
  EXPECT_EQ(CachingAllocator::roundSize(1 << 20), size_t(2) << 20);
  EXPECT_EQ(CachingAllocator::roundSize((3 << 20) + 1), size_t(4) << 20);
}

TEST(CachingAllocator, ReusesFreedBlocks) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *a = allocator.allocate(1000);
  allocator.deallocate(a);
  void *b = allocator.allocate(900); // same 1024-byte class
  EXPECT_EQ(a, b);
  EXPECT_EQ(backing.calls, 1u);
  auto stats = allocator.stats();
  EXPECT_EQ(stats.cacheHits, 1u);
  EXPECT_EQ(stats.allocatedBytes, 1024u);
  EXPECT_EQ(stats.reservedBytes, 1024u);
  allocator.deallocate(b);
}

TEST(CachingAllocator, DoesNotWasteLargeBlocksOnSmallRequests) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *big = allocator.allocate(64 << 10);
  allocator.deallocate(big);
  void *small = allocator.allocate(1000);
  EXPECT_NE(small, big); // 64 KiB is more than twice the request
  void *half = allocator.allocate(40 << 10);
  EXPECT_EQ(half, big);
  auto stats = allocator.stats();
  EXPECT_EQ(stats.reservedBytes, (64u << 10) + 1024u);
  EXPECT_DOUBLE_EQ(stats.fragmentation(), 0.0);
  allocator.deallocate(small);
  EXPECT_GT(allocator.stats().fragmentation(), 0.0);
}

TEST(CachingAllocator, StatsAndRelease) {
  FakeBacking backing;
  auto allocator = backing.make();
  std::vector<void *> blocks;
  for (int i = 0; i < 4; ++i)
    blocks.push_back(allocator.allocate(2048));
  EXPECT_EQ(allocator.stats().peakAllocatedBytes, 4u * 2048);
  for (void *p : blocks)
    allocator.deallocate(p);
  EXPECT_EQ(allocator.stats().allocatedBytes, 0u);
  EXPECT_EQ(allocator.stats().reservedBytes, 4u * 2048);
  allocator.releaseCached();
  EXPECT_EQ(allocator.stats().reservedBytes, 0u);
  EXPECT_TRUE(backing.live.empty());
  EXPECT_EQ(allocator.stats().peakReservedBytes, 4u * 2048);
}

TEST(CachingAllocator, ReleasesCacheWhenOutOfMemory) {
  FakeBacking backing;
  backing.limit = 8192;
  auto allocator = backing.make();
  void *a = allocator.allocate(4096);
  void *b = allocator.allocate(4096);
  allocator.deallocate(a);
  allocator.deallocate(b);
  // 8 KiB does not fit beside the 8 KiB cache; the cache is given back.
  void *c = allocator.allocate(8192);
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(backing.live.size(), 1u);
  EXPECT_EQ(allocator.allocate(8192), nullptr); // really out of memory
  allocator.deallocate(c);
}

TEST(CachingAllocator, IgnoresForeignPointersAndNull) {
  FakeBacking backing;
  auto allocator = backing.make();
  int local;
  allocator.deallocate(&local);
  allocator.deallocate(nullptr);
  EXPECT_EQ(allocator.stats().reservedBytes, 0u);
}

TEST(CachingAllocator, ThreadSafe) {
  FakeBacking backing;
  std::mutex backingMutex;
  CachingAllocator allocator(
      [&](size_t bytes) {
        std::lock_guard<std::mutex> lock(backingMutex);
        return reinterpret_cast<void *>(backing.next += bytes + 4096);
      },
      [](void *) {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        allocator.deallocate(allocator.allocate(512 * (1 + i % 4)));
    });
  for (auto &thread : threads)
    thread.join();
  EXPECT_EQ(allocator.stats().allocatedBytes, 0u);
  EXPECT_LE(allocator.stats().reservedBytes, 8u * 4 * 2048);
}
