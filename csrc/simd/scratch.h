// A grow-only, 64-byte aligned scratch buffer for the code of one SIMD target.
// Target code avoids std::vector on purpose: its inline members are emitted into every
// target's objects and the linker keeps one copy, which could be the one compiled with
// AVX-512 flags and then run on a CPU without it. This class lives in the target's own
// namespace, so each target has its own.
#pragma once
#include <cstddef>
#include <new>

#ifndef PYRNN_TARGET_NS
#error "compile with -DPYRNN_TARGET_NS=<target>"
#endif

namespace pyrnn {
namespace PYRNN_TARGET_NS {

template <typename T>
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { free(); }

  // At least n elements, 64-byte aligned; contents are unspecified after growing.
  T* get(size_t n) {
    if (n > size_) {
      free();
      p_ = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
      size_ = n;
    }
    return p_;
  }

 private:
  void free() {
    if (p_) ::operator delete(p_, std::align_val_t(64));
    p_ = nullptr;
    size_ = 0;
  }
  T* p_ = nullptr;
  size_t size_ = 0;
};

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
