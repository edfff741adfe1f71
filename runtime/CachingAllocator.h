//===- CachingAllocator.h - reuse device memory between invocations -*- C++ -*-===//
//
// In the spirit of PyTorch's CUDA caching allocator: freed blocks are kept,
// by size, and handed out again instead of going back to the driver, which
// is slow and synchronizing. Requests are rounded to 512 bytes (2 MiB above
// 1 MiB) so blocks fit many requests; a cached block is reused for a request
// of at most its size and at least half of it. releaseCached() returns the
// cache to the backing allocator (e.g. before reporting memory to a user, or
// when an allocation fails). Callers free blocks only after the work using
// them has finished (the runtime synchronizes at the end of an invocation).
// Thread-safe.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_RUNTIME_CACHINGALLOCATOR_H
#define UBE_RUNTIME_CACHINGALLOCATOR_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

namespace ube::runtime {

class CachingAllocator {
public:
  /// Returns null when out of memory.
  using BackingAlloc = std::function<void *(size_t bytes)>;
  using BackingFree = std::function<void(void *ptr)>;

  struct Stats {
    uint64_t allocatedBytes = 0;  ///< In blocks handed out (rounded sizes).
    uint64_t reservedBytes = 0;   ///< Held from the backing allocator.
    uint64_t peakAllocatedBytes = 0;
    uint64_t peakReservedBytes = 0;
    uint64_t cacheHits = 0, backingAllocations = 0;
    /// Share of reserved memory sitting unused in the cache.
    double fragmentation() const {
      return reservedBytes ? 1.0 - double(allocatedBytes) / double(reservedBytes) : 0.0;
    }
  };

  CachingAllocator(BackingAlloc alloc, BackingFree free)
      : alloc_(std::move(alloc)), free_(std::move(free)) {}
  ~CachingAllocator() { releaseCached(); }

  static size_t roundSize(size_t bytes);

  /// Null when the backing allocator fails even after the cache is released.
  void *allocate(size_t bytes);
  void deallocate(void *ptr);
  void releaseCached();
  Stats stats() const;

private:
  BackingAlloc alloc_;
  BackingFree free_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void *> cached_;       ///< size -> free block
  std::unordered_map<void *, size_t> inUse_;   ///< block -> size
  Stats stats_;
};

} // namespace ube::runtime

#endif // UBE_RUNTIME_CACHINGALLOCATOR_H
