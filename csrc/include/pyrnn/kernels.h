// Cell kernels: forward over a whole sequence and BPTT, one layer, one direction.
// Raw pointers and sizes only; kernels never allocate: the caller passes `work`,
// sized by <cell>_workspace_size(). pyrnn/reference.py mirrors each function.
//
// Sizes: T steps, B batch, I input, H hidden, G gates (RNN 1, GRU 3, LSTM 4).
// Sequences are time-major: x is (T, B, I). Variable lengths have PyTorch's
// packed-sequence meaning: row b runs steps 0..len_b-1 (reverse: t = len_b-1 .. 0),
// outputs past len_b are written as zeros, h_n is the state after the last valid step.
//
// Backward accumulates (+=) into CellGrads and overwrites dx, dh0 (and dc0).
// It also overwrites the gates cache with gate gradients: a cache serves one backward.
#pragma once
#include <cstdint>

namespace pyrnn {

struct SeqDims {
  int64_t T, B, I, H;
  const int64_t* lengths;  // (B) valid steps per row, each in 1..T; nullptr = all T
  bool reverse;            // run each row from its last valid step down to step 0
};

template <typename T>
struct CellWeights {
  const T* W_ih;  // (G*H, I)
  const T* W_hh;  // (G*H, H)
  const T* b_ih;  // (G*H) or nullptr
  const T* b_hh;  // (G*H) or nullptr
};

template <typename T>
struct CellGrads {  // accumulated into (+=)
  T* dW_ih;  // (G*H, I)
  T* dW_hh;  // (G*H, H)
  T* db_ih;  // (G*H) or nullptr
  T* db_hh;  // (G*H) or nullptr
};

enum class Activation { tanh, relu };

// Every SIMD target implements the same kernels in its own namespace.
namespace generic {
#include "pyrnn/kernel_decls.inc"
}  // namespace generic
namespace avx2 {
#include "pyrnn/kernel_decls.inc"
}  // namespace avx2
namespace avx512 {
#include "pyrnn/kernel_decls.inc"
}  // namespace avx512

// The kernels of one target and one dtype; dispatch.cpp fills one table per target.
template <typename T>
struct KernelTable {
  decltype(&generic::rnn_workspace_size) rnn_workspace_size;
  decltype(&generic::lstm_workspace_size) lstm_workspace_size;
  decltype(&generic::gru_workspace_size) gru_workspace_size;
  decltype(&generic::rnn_forward<T>) rnn_forward;
  decltype(&generic::rnn_backward<T>) rnn_backward;
  decltype(&generic::lstm_forward<T>) lstm_forward;
  decltype(&generic::lstm_backward<T>) lstm_backward;
  decltype(&generic::gru_forward<T>) gru_forward;
  decltype(&generic::gru_backward<T>) gru_backward;
  decltype(&generic::activation<T>) activation;
  decltype(&generic::rnn_packed_size) rnn_packed_size;
  decltype(&generic::lstm_packed_size) lstm_packed_size;
  decltype(&generic::gru_packed_size) gru_packed_size;
  decltype(&generic::rnn_step_workspace_size) rnn_step_workspace_size;
  decltype(&generic::lstm_step_workspace_size) lstm_step_workspace_size;
  decltype(&generic::gru_step_workspace_size) gru_step_workspace_size;
  decltype(&generic::rnn_pack<T>) rnn_pack;
  decltype(&generic::lstm_pack<T>) lstm_pack;
  decltype(&generic::gru_pack<T>) gru_pack;
  decltype(&generic::rnn_step<T>) rnn_step;
  decltype(&generic::lstm_step<T>) lstm_step;
  decltype(&generic::gru_step<T>) gru_step;
};

// Slowest to fastest. avx512 is AVX-512 F/BW/DQ/VL; avx2 is AVX2 + FMA.
enum class SimdTarget { generic, avx2, avx512 };
constexpr SimdTarget kAllTargets[] = {SimdTarget::generic, SimdTarget::avx2, SimdTarget::avx512};

// The kernels of the active target. The target is picked once, on first use: the best
// one this CPU supports, unless PYRNN_SIMD=generic|avx2|avx512 names another.
template <typename T>
const KernelTable<T>& kernels();
// The kernels of target t, whatever is active (of the best supported one if this CPU
// lacks t). Packed weights (<cell>_pack) are laid out for the vector width of the target
// that packed them: step them with the same table.
template <typename T>
const KernelTable<T>& kernels(SimdTarget t);

SimdTarget active_target();
const char* target_name(SimdTarget t);
// Parse "generic" | "avx2" | "avx512"; false (leaving *t alone) for anything else.
bool parse_target_name(const char* name, SimdTarget* t);
bool target_supported(SimdTarget t);  // compiled in and supported by this CPU
// Switch targets at run time (tests cover each target in one process). Returns false,
// changing nothing, if the target is not supported.
bool set_active_target(SimdTarget t);

}  // namespace pyrnn
