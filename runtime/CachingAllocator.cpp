//===- CachingAllocator.cpp - reuse device memory between invocations -----===//

#include "CachingAllocator.h"

#include <algorithm>

namespace ube::runtime {

size_t CachingAllocator::roundSize(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kLargeFrom = size_t(1) << 20;
  size_t unit = bytes >= kLargeFrom ? kLarge : kSmall;
  return (std::max<size_t>(bytes, 1) + unit - 1) / unit * unit;
}

void *CachingAllocator::allocate(size_t bytes) {
  size_t size = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void *ptr = nullptr;
  auto it = cached_.lower_bound(size);
  if (it != cached_.end() && it->first <= 2 * size) {
    size = it->first;
    ptr = it->second;
    cached_.erase(it);
    ++stats_.cacheHits;
  } else {
    ptr = alloc_(size);
    if (!ptr && !cached_.empty()) {
      // Out of memory: give the cache back and try once more.
      for (auto &[s, p] : cached_) {
        free_(p);
        stats_.reservedBytes -= s;
      }
      cached_.clear();
      ptr = alloc_(size);
    }
    if (!ptr)
      return nullptr;
    ++stats_.backingAllocations;
    stats_.reservedBytes += size;
    stats_.peakReservedBytes = std::max(stats_.peakReservedBytes, stats_.reservedBytes);
  }
  inUse_[ptr] = size;
  stats_.allocatedBytes += size;
  stats_.peakAllocatedBytes = std::max(stats_.peakAllocatedBytes, stats_.allocatedBytes);
  return ptr;
}

void CachingAllocator::deallocate(void *ptr) {
  if (!ptr)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = inUse_.find(ptr);
  if (it == inUse_.end())
    return; // Not ours: ignore rather than corrupt the cache.
  stats_.allocatedBytes -= it->second;
  cached_.emplace(it->second, ptr);
  inUse_.erase(it);
}

void CachingAllocator::releaseCached() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &[size, ptr] : cached_) {
    free_(ptr);
    stats_.reservedBytes -= size;
  }
  cached_.clear();
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

} // namespace ube::runtime
