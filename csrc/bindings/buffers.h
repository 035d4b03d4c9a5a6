// Memory for the arrays and workspaces the bindings hand to the kernels: cache-line
// aligned, large blocks on transparent huge pages and kept for reuse.
//
// Why a cache: a training step allocates its cache (gates, c, outputs: LSTM shape (a) about
// 40 MB) afresh each call, and memory fresh from the OS costs a page fault and a zeroing
// per page on first touch; under a hypervisor the first touch of a guest page costs more
// again. Kept blocks are reused with their pages mapped. Only blocks of 4 MB and more are
// kept (smaller ones are cheap for malloc), at most kMaxBlocks of them and kMaxBytes in
// all; release_cached_buffers() returns them to the OS.
#pragma once
#include <cstddef>
#include <cstdlib>
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
  static constexpr size_t kHuge = size_t(2) << 20;  // a transparent huge page
  static constexpr size_t kMinCached = 2 * kHuge;
  static constexpr size_t kMaxBlocks = 16;
  static constexpr size_t kMaxBytes = size_t(1) << 30;

  static BufferPool& instance() {
    // Never destroyed: arrays may be freed during interpreter shutdown, after statics die.
    static BufferPool* pool = new BufferPool;
    return *pool;
  }

  void* allocate(size_t bytes) {
    if (bytes < kMinCached) return raw(bytes < 64 ? 64 : bytes, 64);
    bytes = (bytes + kHuge - 1) / kHuge * kHuge;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < free_.size(); ++i)
        if (free_[i].bytes == bytes) {
          void* p = free_[i].p;
          cached_ -= bytes;
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
          live_[p] = bytes;
          return p;
        }
    }
    void* p = raw(bytes, kHuge);
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = bytes;
    return p;
  }

  void release(void* p) {
    if (!p) return;
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = live_.find(p);
      if (it == live_.end()) {  // a small block
        std::free(p);
        return;
      }
      const size_t bytes = it->second;
      live_.erase(it);
      free_.push_back({p, bytes});
      cached_ += bytes;
      // Oldest first out, until within bounds.
      while (free_.size() > kMaxBlocks || cached_ > kMaxBytes) {
        drop.push_back(free_.front().p);
        cached_ -= free_.front().bytes;
        free_.erase(free_.begin());
      }
    }
    for (void* q : drop) std::free(q);
  }

  // Frees every kept block; returns the bytes released.
  size_t release_cached() {
    std::vector<Block> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      drop.swap(free_);
      cached_ = 0;
    }
    size_t n = 0;
    for (const Block& b : drop) {
      n += b.bytes;
      std::free(b.p);
    }
    return n;
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  struct Block {
    void* p;
    size_t bytes;
  };

  static void* raw(size_t bytes, size_t align) {
    void* p = nullptr;
    if (posix_memalign(&p, align, bytes) != 0) throw std::bad_alloc();
    return p;
  }

  std::mutex mu_;
  std::vector<Block> free_;                  // kept for reuse, oldest first
  std::unordered_map<void*, size_t> live_;  // large blocks handed out, with their size
  size_t cached_ = 0;
};

template <typename T>
T* aligned_new(long long n) {
  return static_cast<T*>(BufferPool::instance().allocate(size_t(n < 1 ? 1 : n) * sizeof(T)));
}

inline void aligned_delete(void* p) { BufferPool::instance().release(p); }

}  // namespace pyrnn_bindings
