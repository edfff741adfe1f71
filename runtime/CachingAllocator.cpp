//===- CachingAllocator.cpp - reuse device memory between invocations -----===//

#include "CachingAllocator.h"

#include <algorithm>
#include <vector>

namespace ube::runtime {

size_t CachingAllocator::roundSize(size_t bytes) {
  constexpr size_t kSmallUnit = 512, kLargeUnit = size_t(2) << 20;
  size_t unit = bytes > kSmallLimit ? kLargeUnit : kSmallUnit;
  return (std::max<size_t>(bytes, 1) + unit - 1) / unit * unit;
}

size_t CachingAllocator::segmentSize(size_t bytes) {
  size_t size = roundSize(bytes);
  if (size <= kSmallLimit)
    return kSmallSegment;
  return size < kLargeSegmentFor ? kLargeSegment : size;
}

// Segments with blocks still handed out are left to the owner (a device frees
// all of its memory when its context goes).
CachingAllocator::~CachingAllocator() { releaseFreeSegments(); }

CachingAllocator::Block *CachingAllocator::takeFreeBlock(size_t size, bool small) {
  FreePool &pool = poolOf(small);
  Block key{nullptr, size, small};
  auto it = pool.lower_bound(&key);
  if (it == pool.end())
    return nullptr;
  Block *block = *it;
  pool.erase(it);
  // Split off the rest; in the large pool only when a large request could use it.
  size_t rest = block->size - size;
  if (rest >= (small ? roundSize(1) : roundSize(kSmallLimit + 1))) {
    auto tail = std::make_unique<Block>(Block{block->ptr + size, rest, small});
    tail->prev = block;
    tail->next = block->next;
    if (block->next)
      block->next->prev = tail.get();
    block->next = tail.get();
    block->size = size;
    pool.insert(tail.get());
    blocks_.emplace(tail->ptr, std::move(tail));
    ++stats_.splits;
  }
  return block;
}

CachingAllocator::Block *CachingAllocator::newSegment(size_t size, bool small) {
  void *ptr = alloc_(size);
  if (!ptr)
    return nullptr;
  ++stats_.backingAllocations;
  ++stats_.segments;
  stats_.reservedBytes += size;
  stats_.peakReservedBytes = std::max(stats_.peakReservedBytes, stats_.reservedBytes);
  auto block = std::make_unique<Block>(Block{static_cast<char *>(ptr), size, small});
  Block *raw = block.get();
  blocks_.emplace(ptr, std::move(block));
  poolOf(small).insert(raw);
  return raw;
}

void *CachingAllocator::allocate(size_t bytes) {
  size_t size = roundSize(bytes);
  bool small = size <= kSmallLimit;
  std::lock_guard<std::mutex> lock(mutex_);
  Block *block = takeFreeBlock(size, small);
  if (block) {
    ++stats_.cacheHits;
  } else {
    size_t segment = segmentSize(bytes);
    bool grown = newSegment(segment, small);
    if (!grown) {
      // Out of memory: give the cache back, then settle for an exact fit.
      releaseFreeSegments();
      grown = newSegment(segment, small) || (segment > size && newSegment(size, small));
    }
    if (!grown)
      return nullptr;
    block = takeFreeBlock(size, small);
  }
  block->allocated = true;
  stats_.allocatedBytes += block->size;
  stats_.peakAllocatedBytes = std::max(stats_.peakAllocatedBytes, stats_.allocatedBytes);
  return block->ptr;
}

void CachingAllocator::deallocate(void *ptr) {
  if (!ptr)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = blocks_.find(ptr);
  if (it == blocks_.end() || !it->second->allocated)
    return; // Not ours, or already free: ignore rather than corrupt the cache.
  Block *block = it->second.get();
  block->allocated = false;
  stats_.allocatedBytes -= block->size;
  FreePool &pool = poolOf(block->small);
  // Absorb a free right neighbour, then let a free left neighbour absorb us.
  auto absorbNext = [&](Block *left) {
    Block *right = left->next;
    pool.erase(right);
    left->size += right->size;
    left->next = right->next;
    if (right->next)
      right->next->prev = left;
    blocks_.erase(right->ptr);
    ++stats_.merges;
  };
  if (block->next && !block->next->allocated)
    absorbNext(block);
  if (block->prev && !block->prev->allocated) {
    Block *left = block->prev;
    pool.erase(left); // its size changes, so re-insert below
    absorbNext(left);
    block = left;
  }
  pool.insert(block);
}

void CachingAllocator::releaseFreeSegments() {
  for (FreePool *pool : {&smallFree_, &largeFree_}) {
    std::vector<Block *> whole;
    for (Block *block : *pool)
      if (!block->prev && !block->next)
        whole.push_back(block);
    for (Block *block : whole) {
      pool->erase(block);
      free_(block->ptr);
      ++stats_.backingFrees;
      --stats_.segments;
      stats_.reservedBytes -= block->size;
      blocks_.erase(block->ptr);
    }
  }
}

void CachingAllocator::releaseCached() {
  std::lock_guard<std::mutex> lock(mutex_);
  releaseFreeSegments();
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

} // namespace ube::runtime
