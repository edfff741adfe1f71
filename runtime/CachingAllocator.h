//===- CachingAllocator.h - reuse device memory between invocations -*- C++ -*-===//
//
// In the spirit of PyTorch's CUDA caching allocator. Memory is taken from the
// backing allocator (cuMemAlloc, which is slow and synchronizing) in
// segments and carved into blocks:
//
//  - Requests are rounded to 512 bytes (small, up to 1 MiB) or 2 MiB (large).
//  - Small requests share 2 MiB segments; large requests under 10 MiB get a
//    20 MiB segment, bigger ones a segment of their own size. The two pools are
//    kept apart so small blocks do not fragment large segments.
//  - An allocation takes the smallest free block of its pool that fits and
//    splits off the rest as a new free block.
//  - A freed block merges with free neighbours in its segment, so a segment
//    whose blocks are all free is one block again and can be given back.
//  - releaseCached() returns every wholly free segment to the backing
//    allocator; an allocation that the backing allocator refuses does this and
//    tries again (then with an exact-size segment) before reporting failure.
//
// Frees are stream-ordered by contract: callers free a block only after the
// work using it has finished (the runtime synchronizes its single stream at
// the end of an invocation). Thread-safe.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CACHINGALLOCATOR_H
#define UBE_RUNTIME_CACHINGALLOCATOR_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

namespace ube::runtime {

class CachingAllocator {
public:
  /// Returns null when out of memory.
  using BackingAlloc = std::function<void *(size_t bytes)>;
  using BackingFree = std::function<void(void *ptr)>;

  static constexpr size_t kSmallLimit = size_t(1) << 20;   ///< Largest small request.
  static constexpr size_t kSmallSegment = size_t(2) << 20; ///< Segment for small requests.
  static constexpr size_t kLargeSegment = size_t(20) << 20;
  static constexpr size_t kLargeSegmentFor = size_t(10) << 20; ///< Requests below share one.

  struct Stats {
    uint64_t allocatedBytes = 0;  ///< In blocks handed out (rounded sizes).
    uint64_t reservedBytes = 0;   ///< Held from the backing allocator.
    uint64_t peakAllocatedBytes = 0;
    uint64_t peakReservedBytes = 0;
    uint64_t segments = 0;        ///< Live backing allocations.
    uint64_t cacheHits = 0;       ///< Allocations served without the backing allocator.
    uint64_t backingAllocations = 0, backingFrees = 0;
    uint64_t splits = 0, merges = 0;
    /// Share of reserved memory not handed out (cached, or the unused rest of a segment).
    double fragmentation() const {
      return reservedBytes ? 1.0 - double(allocatedBytes) / double(reservedBytes) : 0.0;
    }
  };

  CachingAllocator(BackingAlloc alloc, BackingFree free)
      : alloc_(std::move(alloc)), free_(std::move(free)) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator &) = delete;
  CachingAllocator &operator=(const CachingAllocator &) = delete;

  /// The size a request of `bytes` occupies.
  static size_t roundSize(size_t bytes);
  /// The backing allocation made for a request of `bytes` when no free block fits.
  static size_t segmentSize(size_t bytes);

  /// Null when the backing allocator fails even after the cache is released.
  void *allocate(size_t bytes);
  /// Pointers this allocator did not hand out (and null) are ignored.
  void deallocate(void *ptr);
  /// Gives every wholly free segment back to the backing allocator.
  void releaseCached();
  Stats stats() const;

private:
  /// A piece of a segment; blocks of one segment form an address-ordered list.
  struct Block {
    char *ptr;
    size_t size;
    bool small;
    bool allocated = false;
    Block *prev = nullptr, *next = nullptr;
  };
  struct BySizeThenAddress {
    bool operator()(const Block *a, const Block *b) const {
      return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
    }
  };
  using FreePool = std::set<Block *, BySizeThenAddress>;

  FreePool &poolOf(bool small) { return small ? smallFree_ : largeFree_; }
  Block *takeFreeBlock(size_t size, bool small);
  Block *newSegment(size_t size, bool small);
  void releaseFreeSegments();

  BackingAlloc alloc_;
  BackingFree free_;
  mutable std::mutex mutex_;
  FreePool smallFree_, largeFree_;
  std::unordered_map<void *, std::unique_ptr<Block>> blocks_; ///< Every block by address.
  Stats stats_;
};

} // namespace ube::runtime

#endif // UBE_RUNTIME_CACHINGALLOCATOR_H
