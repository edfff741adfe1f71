// The caching allocator on a fake backing allocator (no GPU needed).
#include "CachingAllocator.h"

#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <mutex>
#include <random>
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
  std::unique_ptr<CachingAllocator> make() {
    return std::make_unique<CachingAllocator>(
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

constexpr size_t MiB = size_t(1) << 20;
char *at(void *p) { return static_cast<char *>(p); }

TEST(CachingAllocator, RoundsToSizeClasses) {
  EXPECT_EQ(CachingAllocator::roundSize(0), 512u);
  EXPECT_EQ(CachingAllocator::roundSize(1), 512u);
  EXPECT_EQ(CachingAllocator::roundSize(513), 1024u);
  EXPECT_EQ(CachingAllocator::roundSize(MiB), MiB);
  EXPECT_EQ(CachingAllocator::roundSize(MiB + 1), 2 * MiB);
  EXPECT_EQ(CachingAllocator::roundSize(3 * MiB + 1), 4 * MiB);
  EXPECT_EQ(CachingAllocator::segmentSize(1000), 2 * MiB);
  EXPECT_EQ(CachingAllocator::segmentSize(3 * MiB), 20 * MiB);
  EXPECT_EQ(CachingAllocator::segmentSize(12 * MiB), 12 * MiB);
}

TEST(CachingAllocator, SmallRequestsSplitOneSegment) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *a = allocator->allocate(1000);
  void *b = allocator->allocate(3000);
  EXPECT_EQ(at(b), at(a) + 1024);
  EXPECT_EQ(backing.calls, 1u);
  EXPECT_EQ(backing.sizes[a], 2 * MiB);
  auto stats = allocator->stats();
  EXPECT_EQ(stats.allocatedBytes, 1024u + 3072u);
  EXPECT_EQ(stats.reservedBytes, 2 * MiB);
  EXPECT_EQ(stats.splits, 2u);
  EXPECT_EQ(stats.cacheHits, 1u);
  allocator->deallocate(a);
  allocator->deallocate(b);
}

TEST(CachingAllocator, ReusesFreedBlocksBestFit) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *a = allocator->allocate(1000);
  void *keep = allocator->allocate(512);
  allocator->deallocate(a);
  void *b = allocator->allocate(900); // the freed 1 KiB block is the best fit
  EXPECT_EQ(a, b);
  EXPECT_EQ(backing.calls, 1u);
  allocator->deallocate(b);
  allocator->deallocate(keep);
}

TEST(CachingAllocator, FreedNeighboursMergeAndSegmentsAreReleased) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *a = allocator->allocate(4096);
  void *b = allocator->allocate(4096);
  void *c = allocator->allocate(4096);
  allocator->deallocate(a);
  allocator->deallocate(c); // merges with the free rest of the segment
  allocator->releaseCached();
  EXPECT_EQ(allocator->stats().reservedBytes, 2 * MiB); // b still pins the segment
  allocator->deallocate(b); // merges with both neighbours: one free block again
  EXPECT_EQ(allocator->stats().merges, 3u);
  void *whole = allocator->allocate(MiB);
  EXPECT_EQ(whole, a);
  allocator->deallocate(whole);
  allocator->releaseCached();
  auto stats = allocator->stats();
  EXPECT_EQ(stats.reservedBytes, 0u);
  EXPECT_EQ(stats.segments, 0u);
  EXPECT_EQ(stats.peakReservedBytes, 2 * MiB);
  EXPECT_TRUE(backing.live.empty());
}

TEST(CachingAllocator, SplitsLargeBlocks) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *big = allocator->allocate(12 * MiB);
  EXPECT_EQ(backing.sizes[big], 12 * MiB);
  allocator->deallocate(big);
  void *a = allocator->allocate(4 * MiB);
  void *b = allocator->allocate(7 * MiB); // rounds to 8 MiB: the rest of the segment
  EXPECT_EQ(a, big);
  EXPECT_EQ(at(b), at(big) + 4 * MiB);
  EXPECT_EQ(backing.calls, 1u);
  EXPECT_DOUBLE_EQ(allocator->stats().fragmentation(), 0.0);
  allocator->deallocate(a);
  EXPECT_GT(allocator->stats().fragmentation(), 0.0);
  allocator->deallocate(b);
}

TEST(CachingAllocator, SmallAndLargePoolsAreSeparate) {
  FakeBacking backing;
  auto allocator = backing.make();
  void *small = allocator->allocate(512);
  allocator->deallocate(small); // 2 MiB free in the small pool
  void *large = allocator->allocate(2 * MiB);
  EXPECT_EQ(backing.calls, 2u);
  EXPECT_EQ(backing.sizes[large], 20 * MiB);
  void *small2 = allocator->allocate(512);
  EXPECT_EQ(small2, small);
  allocator->deallocate(large);
  allocator->deallocate(small2);
}

TEST(CachingAllocator, ReleasesCacheWhenOutOfMemory) {
  FakeBacking backing;
  backing.limit = 24 * MiB;
  auto allocator = backing.make();
  allocator->deallocate(allocator->allocate(512)); // a 2 MiB small segment, cached
  // 24 MiB does not fit beside the cache; the cache is given back.
  void *c = allocator->allocate(23 * MiB);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(backing.live.size(), 1u);
  EXPECT_EQ(allocator->stats().backingFrees, 1u);
  allocator->deallocate(c);
  allocator->releaseCached();
  void *x = allocator->allocate(22 * MiB);
  // A 20 MiB segment no longer fits, so a 2 MiB request gets an exact one.
  void *d = allocator->allocate(MiB + 1);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(backing.sizes[d], 2 * MiB);
  EXPECT_EQ(allocator->allocate(16 * MiB), nullptr); // really out of memory
  allocator->deallocate(x);
  allocator->deallocate(d);
}

TEST(CachingAllocator, IgnoresForeignPointersDoubleFreesAndNull) {
  FakeBacking backing;
  auto allocator = backing.make();
  int local;
  allocator->deallocate(&local);
  allocator->deallocate(nullptr);
  void *a = allocator->allocate(100);
  void *b = allocator->allocate(100);
  allocator->deallocate(a);
  allocator->deallocate(a);
  EXPECT_EQ(allocator->stats().allocatedBytes, 512u);
  EXPECT_EQ(allocator->allocate(100), a);
  allocator->deallocate(a);
  allocator->deallocate(b);
  EXPECT_EQ(allocator->stats().allocatedBytes, 0u);
}

// Random traffic against a model: live blocks never overlap, stay inside a
// live segment, and everything returns to the backing allocator at the end.
TEST(CachingAllocator, RandomTrafficKeepsInvariants) {
  FakeBacking backing;
  auto allocator = backing.make();
  std::mt19937 rng(7);
  std::map<char *, size_t> live; // start -> rounded size
  std::uniform_int_distribution<int> pick(0, 99);
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || pick(rng) < 55) {
      size_t bytes = pick(rng) < 90 ? 1 + rng() % (256 << 10) : 1 + rng() % (24 * MiB);
      char *p = at(allocator->allocate(bytes));
      ASSERT_NE(p, nullptr);
      size_t size = CachingAllocator::roundSize(bytes);
      auto next = live.lower_bound(p);
      ASSERT_TRUE(next == live.end() || p + size <= next->first) << "overlaps the next block";
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second, p) << "overlaps the previous block";
      }
      auto seg = backing.sizes.upper_bound(p);
      ASSERT_NE(seg, backing.sizes.begin());
      --seg;
      ASSERT_TRUE(backing.live.count(seg->first));
      ASSERT_LE(p + size, at(seg->first) + seg->second) << "outside its segment";
      live.emplace(p, size);
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      allocator->deallocate(it->first);
      live.erase(it);
    }
    if (step % 5000 == 0)
      allocator->releaseCached();
    size_t total = 0;
    for (auto &[p, size] : live)
      total += size;
    ASSERT_EQ(allocator->stats().allocatedBytes, total);
  }
  for (auto &[p, size] : live)
    allocator->deallocate(p);
  allocator->releaseCached();
  EXPECT_TRUE(backing.live.empty());
  EXPECT_EQ(allocator->stats().reservedBytes, 0u);
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
  // At most 8 blocks of 2 KiB are live at once: one small segment holds them.
  EXPECT_EQ(allocator.stats().reservedBytes, 2 * MiB);
}
