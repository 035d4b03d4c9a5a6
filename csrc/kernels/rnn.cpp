// Elman RNN (tanh or ReLU): forward over a sequence and BPTT, for one SIMD target.
// Mirrors reference.rnn_forward / reference.rnn_backward.
#include "common.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

// forward: biases (2, H) + h (B,H) + hh (B,H).
// backward: dA (T,B,H) + dh (B,H) + dh_rec (B,H) + step (B,H)
int64_t rnn_workspace_size(const SeqDims& d, bool training) {
  const int64_t BH = d.B * d.H;
  return 2 * d.H + (training ? d.T * BH + 3 * BH + masked_x_size(d) : 2 * BH);
}

template <typename T>
void rnn_forward(const SeqDims& d, Activation act, const CellWeights<T>& w, const T* x,
                 const T* h0, T* out, T* h_n, T* work) {
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  T* bias = work;        // (H) b_ih + b_hh
  T* h = bias + 2 * H;   // (B, H) current state
  T* hh = h + B * H;     // (B, H) W_hh h
  copy_biases(w, H, bias);
  for (int64_t k = 0; k < H; ++k) bias[k] += bias[H + k];
  // Input projection for all steps at once, written straight into out and then
  // replaced step by step by the hidden states.
  gemm<T>(false, true, d.T * B, H, d.I, T(1), x, d.I, w.W_ih, d.I, T(0), out, H);
  std::memcpy(h, h0, B * H * sizeof(T));
  using VT = Vec<T>;
  const bool is_tanh = act == Activation::tanh;
  const int nt = get_num_threads();
  for (int64_t s = 0; s < steps; ++s) {
    gemm<T>(false, true, B, H, H, T(1), h, H, w.W_hh, H, T(0), hh, H);
#pragma omp parallel for num_threads(nt) if (B * H >= kParallelMin)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = step_time(d, b, s);
      if (t < 0) continue;
      T* o = out + (t * B + b) * H;
      const T* r = hh + b * H;
      T* hb = h + b * H;
      for_lanes<T>(H, [&](int64_t j, int n) {
        const auto a = VT::add(VT::add(VT::load(o + j, n), VT::load(r + j, n)), VT::load(bias + j, n));
        const auto hn = is_tanh ? VT::tanh(a) : VT::relu(a);
        VT::store(o + j, hn, n);
        VT::store(hb + j, hn, n);
      });
    }
  }
  zero_padding(d, out, H, H);
  std::memcpy(h_n, h, B * H * sizeof(T));
}

template <typename T>
void rnn_backward(const SeqDims& d, Activation act, const CellWeights<T>& w, const T* x,
                  const T* h0, const T* out, const T* dout, const T* dh_n, T* dx, T* dh0,
                  T* dh_all, const CellGrads<T>& g, T* work) {
  const int64_t B = d.B, H = d.H, BH = B * H, steps = max_length(d);
  T* dA = work;                   // (T, B, H) pre-activation gradients
  T* dh = dA + d.T * BH;          // (B, H) gradient flowing into the current state
  T* dh_rec = dh + BH;            // (B, H)
  T* step = dh_rec + BH;          // (B, H) this step's dA rows, zero for ended rows
  std::fill_n(dA, d.T * BH, T(0));
  using VT = Vec<T>;
  const bool is_tanh = act == Activation::tanh;
  std::memcpy(dh, dh_n, BH * sizeof(T));
  const int nt = get_num_threads();
  for (int64_t s = steps - 1; s >= 0; --s) {
#pragma omp parallel for num_threads(nt) if (BH >= kParallelMin)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = step_time(d, b, s);
      T* st = step + b * H;
      if (t < 0) {
        std::fill_n(st, H, T(0));
        continue;
      }
      const int64_t off = (t * B + b) * H;
      for_lanes<T>(H, [&](int64_t j, int n) {
        // h_t = act(a): tanh' = 1 - h^2, relu' = [h > 0]
        const auto ht = VT::load(out + off + j, n);
        const auto gj = VT::add(VT::load(dh + b * H + j, n), VT::load(dout + off + j, n));
        if (dh_all) VT::store(dh_all + off + j, gj, n);
        const auto da = is_tanh ? VT::mul(gj, VT::fnma(ht, ht, VT::set1(T(1)))) : VT::step(ht, gj);
        VT::store(st + j, da, n);
        VT::store(dA + off + j, da, n);
      });
    }
    // h_{t-1} feeds a through W_hh
    gemm<T>(false, false, B, H, H, T(1), step, H, w.W_hh, H, T(0), dh_rec, H);
    copy_active_rows(d, s, dh_rec, dh, H);
  }
  std::memcpy(dh0, dh, BH * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  input_projection_backward(d, H, dA, H, x, w.W_ih, dx, g.dW_ih, g.db_ih, step + BH);
  add_recurrent_weight_grad(d, dA, H, H, out, h0, g.dW_hh, step);
  add_column_sums(dA, d.T * B, H, H, g.db_hh);
}

template void rnn_forward<float>(const SeqDims&, Activation, const CellWeights<float>&,
                                 const float*, const float*, float*, float*, float*);
template void rnn_forward<double>(const SeqDims&, Activation, const CellWeights<double>&,
                                  const double*, const double*, double*, double*, double*);
template void rnn_backward<float>(const SeqDims&, Activation, const CellWeights<float>&,
                                  const float*, const float*, const float*, const float*,
                                  const float*, float*, float*, float*, const CellGrads<float>&,
                                  float*);
template void rnn_backward<double>(const SeqDims&, Activation, const CellWeights<double>&,
                                   const double*, const double*, const double*, const double*,
                                   const double*, double*, double*, double*,
                                   const CellGrads<double>&, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
