// Memory for the arrays and workspaces the bindings hand to the kernels: cache-line
// aligned, large blocks on transparent huge pages and kept for reuse.
//
// Why a cache: a training step allocates its cache (gates, c, outputs: LSTM shape (a) about
// 40 MB) afresh each call, and memory fresh from the OS costs a page fault and a zeroing
// per page on first touch; under a hypervisor the first touch of a guest page costs more
// again. Kept blocks are reused with their pages mapped. Only blocks of 4 MB and more are
// kept (smaller ones are cheap for malloc), at most kMaxBlocks of them and kMaxBytes in
// all; release_cached() frees them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

namespace pyrnn_bindings {

class BufferPool {
 public:
  static constexpr size_t kLine = 64;
  static constexpr size_t kHuge = size_t(2) << 20;  // a transparent huge page
  static constexpr size_t kMinCached = 2 * kHuge;
  static constexpr size_t kMaxBlocks = 16;
  static constexpr size_t kMaxBytes = size_t(1) << 30;

  static BufferPool& instance() {
    // Never destroyed: arrays may be freed during interpreter shutdown, after statics die.
    static BufferPool* pool = new BufferPool;
    return *pool;
  }

  // `count` elements of `size` bytes; throws std::bad_alloc (also when the size overflows).
  void* allocate(size_t count, size_t size) {
    if (count == 0) count = 1;
    if (count > (SIZE_MAX - kHuge) / size) throw std::bad_alloc();
    size_t bytes = count * size;
    if (bytes < kMinCached) return raw(bytes, kLine);
    bytes = (bytes + kHuge - 1) / kHuge * kHuge;
    std::lock_guard<std::mutex> lock(mu_);
    live_.reserve(live_.size() + 1);  // may throw before anything changes hands
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].bytes == bytes) {
        void* p = free_[i].p;
        cached_ -= bytes;
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
        live_.emplace(p, bytes);
        return p;
      }
    void* p;
    try {
      p = raw(bytes, kHuge);
    } catch (const std::bad_alloc&) {
      drop_cached_locked();  // what we keep may be what the OS lacks
      p = raw(bytes, kHuge);
    }
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
    live_.emplace(p, bytes);
    return p;
  }

  // Runs from capsule destructors (CPython's deallocators): never throws.
  void release(void* p) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = live_.find(p);
    if (it == live_.end()) {  // a small block
      ::operator delete(p, std::align_val_t(kLine));
      return;
    }
    const size_t bytes = it->second;
    live_.erase(it);
    if (bytes > kMaxBytes) {
      ::operator delete(p, std::align_val_t(kHuge));
      return;
    }
    // free_ has room for kMaxBlocks + 1 (reserved at construction): push_back cannot
    // reallocate, hence cannot throw.
    free_.push_back({p, bytes});
    cached_ += bytes;
    while (free_.size() > kMaxBlocks || cached_ > kMaxBytes) {  // oldest first out
      ::operator delete(free_.front().p, std::align_val_t(kHuge));
      cached_ -= free_.front().bytes;
      free_.erase(free_.begin());
    }
  }

  // Frees every kept block; returns the bytes freed.
  size_t release_cached() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    return drop_cached_locked();
  }

  size_t cached_bytes() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  struct Block {
    void* p;
    size_t bytes;
  };

  BufferPool() { free_.reserve(kMaxBlocks + 1); }

  static void* raw(size_t bytes, size_t align) {
    return ::operator new(bytes, std::align_val_t(align));
  }

  size_t drop_cached_locked() noexcept {
    const size_t n = cached_;
    for (const Block& b : free_) ::operator delete(b.p, std::align_val_t(kHuge));
    free_.clear();  // keeps the capacity
    cached_ = 0;
    return n;
  }

  std::mutex mu_;
  std::vector<Block> free_;                  // kept for reuse, oldest first
  std::unordered_map<void*, size_t> live_;  // large blocks handed out, with their size
  size_t cached_ = 0;
};

template <typename T>
T* aligned_new(long long n) {
  return static_cast<T*>(BufferPool::instance().allocate(n < 1 ? 1 : size_t(n), sizeof(T)));
}

inline void aligned_delete(void* p) noexcept { BufferPool::instance().release(p); }

}  // namespace pyrnn_bindings
