// Helpers shared by the cell kernels of one SIMD target: step geometry for variable
// lengths and reverse directions, activations, and the post-loop gradient GEMMs.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

#include "pyrnn/kernels.h"
#include "pyrnn/threads.h"
#include "vec.h"

#ifndef PYRNN_TARGET_NS
#error "compile cell kernels with -DPYRNN_TARGET_NS=<target>"
#endif

namespace pyrnn {
namespace PYRNN_TARGET_NS {

inline int64_t row_length(const SeqDims& d, int64_t b) { return d.lengths ? d.lengths[b] : d.T; }

inline int64_t max_length(const SeqDims& d) {
  if (!d.lengths) return d.T;
  int64_t m = 0;
  for (int64_t b = 0; b < d.B; ++b) m = std::max(m, d.lengths[b]);
  return m;
}

// Time index row b processes at step s, or -1 once the row has ended.
inline int64_t step_time(const SeqDims& d, int64_t b, int64_t s) {
  const int64_t len = row_length(d, b);
  if (s >= len) return -1;
  return d.reverse ? len - 1 - s : s;
}

// Time index row b processed at step s - 1 (s >= 1, row active at s).
inline int64_t prev_time(const SeqDims& d, int64_t t) { return d.reverse ? t + 1 : t - 1; }

template <typename T>
inline T sigmoid(T a) {
  // exp(-|a|) cannot overflow; both branches are the same function.
  const T e = std::exp(-std::abs(a));
  return a >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <typename T>
inline T relu(T a) {
  return a < T(0) ? T(0) : a;  // NaN passes through, as in PyTorch
}

// Iterate over a row of H values in vector-width pieces: f(j, n) with n lanes valid.
template <typename T, typename F>
inline void for_lanes(int64_t H, F&& f) {
  constexpr int W = Vec<T>::W;
  for (int64_t j = 0; j < H; j += W) f(j, static_cast<int>(std::min<int64_t>(W, H - j)));
}

// buf[0:GH] = b_ih (or 0), buf[GH:2GH] = b_hh (or 0): epilogues then need no null checks.
template <typename T>
void copy_biases(const CellWeights<T>& w, int64_t GH, T* buf) {
  for (int64_t k = 0; k < GH; ++k) {
    buf[k] = w.b_ih ? w.b_ih[k] : T(0);
    buf[GH + k] = w.b_hh ? w.b_hh[k] : T(0);
  }
}

// db_ih += sums[0:n] and db_hh += sums[0:n], either of them may be null: the bias gradients of
// cells whose two biases enter the pre-activations alike (RNN, LSTM). The backward loops sum
// the gate gradients as they make them, each thread over its own units, which spares the
// column sums' passes over the whole (T, B, G*H) array after the loop.
template <typename T>
void add_bias_sums(const T* sums, int64_t n, T* db_ih, T* db_hh) {
  for (T* db : {db_ih, db_hh})
    if (db)
      for (int64_t k = 0; k < n; ++k) db[k] += sums[k];
}

// Zero the entries of a (T, B, W) buffer (row stride ld) at steps past each row's end.
template <typename T>
void zero_padding(const SeqDims& d, T* buf, int64_t W, int64_t ld) {
  if (!d.lengths) return;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t t = d.lengths[b]; t < d.T; ++t) std::fill_n(buf + (t * d.B + b) * ld, W, T(0));
}

// dW (n, H) += sum_t dA[t]^T h_prev[t], where dA (T, B, n) has row stride lda and is zero
// at padded steps, and h_prev[t] is the state before step t: out[t-1] forwards, out[t+1]
// backwards, h0 at each row's first step. Since out is zero past each row's end, two
// shifted GEMMs over all rows plus one small GEMM for the first steps cover every term.
// scratch: (B, n) elements, used for reverse directions with lengths.
template <typename T>
void add_recurrent_weight_grad(const SeqDims& d, const T* dA, int64_t lda, int64_t n,
                               const T* out, const T* h0, T* dW, T* scratch) {
  const int64_t TB = d.T * d.B, B = d.B, H = d.H;
  if (!d.reverse) {
    if (d.T > 1) gemm<T>(true, false, n, H, TB - B, T(1), dA + B * lda, lda, out, H, T(1), dW, H);
    gemm<T>(true, false, n, H, B, T(1), dA, lda, h0, H, T(1), dW, H);
    return;
  }
  if (d.T > 1) gemm<T>(true, false, n, H, TB - B, T(1), dA, lda, out + B * H, H, T(1), dW, H);
  if (!d.lengths) {
    gemm<T>(true, false, n, H, B, T(1), dA + (TB - B) * lda, lda, h0, H, T(1), dW, H);
    return;
  }
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(scratch + b * n, dA + ((d.lengths[b] - 1) * B + b) * lda, n * sizeof(T));
  gemm<T>(true, false, n, H, B, T(1), scratch, n, h0, H, T(1), dW, H);
}

// Scratch input_projection_backward needs: with lengths, x is read a chunk of steps at a
// time with padded rows zeroed, because padding may hold anything (NaN included) and
// 0 * NaN would poison dW_ih.
constexpr int64_t kMaskedRows = 512;
inline int64_t masked_x_size(const SeqDims& d) {
  return d.lengths ? std::max<int64_t>(1, kMaskedRows / d.B) * d.B * d.I : 0;
}

// The post-loop half of every backward: given pre-activation gradients dA (T*B rows,
// stride lda, zero at padded steps) of the input projection, dx = dA W_ih,
// dW_ih += dA^T x (the bias gradients are summed in the loops: add_bias_sums).
// scratch: masked_x_size(d) elements.
template <typename T>
void input_projection_backward(const SeqDims& d, int64_t GH, const T* dA, int64_t lda,
                               const T* x, const T* W_ih, T* dx, T* dW_ih, T* scratch) {
  const int64_t TB = d.T * d.B, B = d.B, I = d.I;
  gemm<T>(false, false, TB, I, GH, T(1), dA, lda, W_ih, I, T(0), dx, I);
  if (!d.lengths) {
    gemm<T>(true, false, GH, I, TB, T(1), dA, lda, x, I, T(1), dW_ih, I);
  } else {
    const int64_t chunk = std::max<int64_t>(1, kMaskedRows / B);
    for (int64_t t0 = 0; t0 < d.T; t0 += chunk) {
      const int64_t n = std::min(chunk, d.T - t0);
      for (int64_t t = t0; t < t0 + n; ++t)
        for (int64_t b = 0; b < B; ++b) {
          T* dst = scratch + ((t - t0) * B + b) * I;
          if (t < d.lengths[b]) std::memcpy(dst, x + (t * B + b) * I, I * sizeof(T));
          else std::fill_n(dst, I, T(0));
        }
      gemm<T>(true, false, GH, I, n * B, T(1), dA + t0 * B * lda, lda, scratch, I, T(1), dW_ih, I);
    }
  }
}

// out = a (B, n, stride lda) for rows active at step s; other rows keep their value.
template <typename T>
void copy_active_rows(const SeqDims& d, int64_t s, const T* a, T* out, int64_t n) {
  for (int64_t b = 0; b < d.B; ++b)
    if (step_time(d, b, s) >= 0) std::memcpy(out + b * n, a + b * n, n * sizeof(T));
}

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
