// LSTM (gates i, f, g, o): forward over a sequence and BPTT, for one SIMD target.
// Mirrors reference.lstm_forward / reference.lstm_backward.
#include "common.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

// forward: biases (2, 4H) + h, c (B,H) + hh (B,4H), plus the input projection (T,B,4H)
// when no gates cache is kept to hold it.  backward: dh, dc, dh_rec (B,H) + step (B,4H).
int64_t lstm_workspace_size(const SeqDims& d, bool training) {
  const int64_t BH = d.B * d.H;
  return 8 * d.H + (training ? 7 * BH + masked_x_size(d) : 6 * BH + 4 * d.T * BH);
}

template <typename T>
void lstm_forward(const SeqDims& d, const CellWeights<T>& w, const T* x, const T* h0,
                  const T* c0, T* out, T* h_n, T* c_n, T* gates, T* c_all, T* work) {
  const int64_t B = d.B, H = d.H, G = 4 * H, steps = max_length(d);
  T* bias = work;           // (4H) b_ih + b_hh
  T* h = bias + 2 * G;      // (B, H)
  T* c = h + B * H;         // (B, H)
  T* hh = c + B * H;        // (B, 4H) W_hh h
  copy_biases(w, G, bias);
  for (int64_t k = 0; k < G; ++k) bias[k] += bias[G + k];
  // Input projection of all steps in one GEMM; with a cache it lands in `gates` and is
  // overwritten in place by the activated gates.
  T* xp = gates ? gates : hh + B * G;  // (T, B, 4H)
  gemm<T>(false, true, d.T * B, G, d.I, T(1), x, d.I, w.W_ih, d.I, T(0), xp, G);
  std::memcpy(h, h0, B * H * sizeof(T));
  std::memcpy(c, c0, B * H * sizeof(T));
  using VT = Vec<T>;
  const int nt = get_num_threads();
  for (int64_t s = 0; s < steps; ++s) {
    gemm<T>(false, true, B, G, H, T(1), h, H, w.W_hh, H, T(0), hh, G);
#pragma omp parallel for num_threads(nt) if (B * G >= kParallelMin)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = step_time(d, b, s);
      if (t < 0) continue;
      T* a = xp + (t * B + b) * G;
      const T* r = hh + b * G;
      T* hb = h + b * H;
      T* cb = c + b * H;
      T* ob = out + (t * B + b) * H;
      T* cs = gates ? c_all + (t * B + b) * H : nullptr;
      for_lanes<T>(H, [&](int64_t j, int n) {
        auto pre = [&](int64_t q) {  // pre-activation of gate block q
          return VT::add(VT::add(VT::load(a + q * H + j, n), VT::load(r + q * H + j, n)),
                         VT::load(bias + q * H + j, n));
        };
        const auto i = VT::sigmoid(pre(0)), f = VT::sigmoid(pre(1));
        const auto g = VT::tanh(pre(2)), o = VT::sigmoid(pre(3));
        const auto cn = VT::fma(f, VT::load(cb + j, n), VT::mul(i, g));
        const auto hn = VT::mul(o, VT::tanh(cn));
        VT::store(cb + j, cn, n);
        VT::store(hb + j, hn, n);
        VT::store(ob + j, hn, n);
        if (cs) {
          VT::store(a + j, i, n), VT::store(a + H + j, f, n);
          VT::store(a + 2 * H + j, g, n), VT::store(a + 3 * H + j, o, n);
          VT::store(cs + j, cn, n);
        }
      });
    }
  }
  zero_padding(d, out, H, H);
  if (gates) {
    zero_padding(d, gates, G, G);
    zero_padding(d, c_all, H, H);
  }
  std::memcpy(h_n, h, B * H * sizeof(T));
  std::memcpy(c_n, c, B * H * sizeof(T));
}

template <typename T>
void lstm_backward(const SeqDims& d, const CellWeights<T>& w, const T* x, const T* h0,
                   const T* c0, const T* out, T* gates, const T* c_all, const T* dout,
                   const T* dh_n, const T* dc_n, T* dx, T* dh0, T* dc0,
                   T* dh_all, const CellGrads<T>& g, T* work) {
  const int64_t B = d.B, H = d.H, G = 4 * H, BH = B * H, steps = max_length(d);
  T* dh = work;          // (B, H) gradient flowing into h of the current step
  T* dc = dh + BH;       // (B, H) gradient flowing into c of the current step
  T* dh_rec = dc + BH;   // (B, H)
  T* step = dh_rec + BH; // (B, 4H) this step's gate gradients, zero for ended rows
  using VT = Vec<T>;
  std::memcpy(dh, dh_n, BH * sizeof(T));
  std::memcpy(dc, dc_n, BH * sizeof(T));
  const int nt = get_num_threads();
  for (int64_t s = steps - 1; s >= 0; --s) {
#pragma omp parallel for num_threads(nt) if (B * G >= kParallelMin)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = step_time(d, b, s);
      T* st = step + b * G;
      if (t < 0) {
        std::fill_n(st, G, T(0));
        continue;
      }
      const int64_t off = (t * B + b) * H;
      const T* c_prev = s == 0 ? c0 + b * H : c_all + (prev_time(d, t) * B + b) * H;
      T* gt = gates + (t * B + b) * G;
      const auto one = VT::set1(T(1));
      for_lanes<T>(H, [&](int64_t j, int n) {
        const auto i = VT::load(gt + j, n), f = VT::load(gt + H + j, n);
        const auto g = VT::load(gt + 2 * H + j, n), o = VT::load(gt + 3 * H + j, n);
        const auto tc = VT::tanh(VT::load(c_all + off + j, n));
        const auto dht = VT::add(VT::load(dh + b * H + j, n), VT::load(dout + off + j, n));
        if (dh_all) VT::store(dh_all + off + j, dht, n);
        // h_t = o * tanh(c_t)
        const auto d_o = VT::mul(dht, tc);
        const auto dct = VT::fma(VT::mul(dht, o), VT::fnma(tc, tc, one), VT::load(dc + b * H + j, n));
        // c_t = f * c_{t-1} + i * g
        const auto di = VT::mul(dct, g), df = VT::mul(dct, VT::load(c_prev + j, n));
        const auto dg = VT::mul(dct, i);
        VT::store(dc + b * H + j, VT::mul(dct, f), n);
        // gate activations: sigmoid' = s(1-s), tanh' = 1-g^2
        VT::store(st + j, VT::mul(VT::mul(di, i), VT::sub(one, i)), n);
        VT::store(st + H + j, VT::mul(VT::mul(df, f), VT::sub(one, f)), n);
        VT::store(st + 2 * H + j, VT::mul(dg, VT::fnma(g, g, one)), n);
        VT::store(st + 3 * H + j, VT::mul(VT::mul(d_o, o), VT::sub(one, o)), n);
      });
      std::memcpy(gt, st, G * sizeof(T));  // the cache row now holds its gradient
    }
    // h_{t-1} feeds the gates through W_hh
    gemm<T>(false, false, B, H, G, T(1), step, G, w.W_hh, H, T(0), dh_rec, H);
    copy_active_rows(d, s, dh_rec, dh, H);
  }
  std::memcpy(dh0, dh, BH * sizeof(T));
  std::memcpy(dc0, dc, BH * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  input_projection_backward(d, G, gates, G, x, w.W_ih, dx, g.dW_ih, g.db_ih, step + B * G);
  add_recurrent_weight_grad(d, gates, G, G, out, h0, g.dW_hh, step);
  add_column_sums(gates, d.T * B, G, G, g.db_hh);
}

template void lstm_forward<float>(const SeqDims&, const CellWeights<float>&, const float*,
                                  const float*, const float*, float*, float*, float*, float*,
                                  float*, float*);
template void lstm_forward<double>(const SeqDims&, const CellWeights<double>&, const double*,
                                   const double*, const double*, double*, double*, double*,
                                   double*, double*, double*);
template void lstm_backward<float>(const SeqDims&, const CellWeights<float>&, const float*,
                                   const float*, const float*, const float*, float*,
                                   const float*, const float*, const float*, const float*,
                                   float*, float*, float*, float*, const CellGrads<float>&,
                                   float*);
template void lstm_backward<double>(const SeqDims&, const CellWeights<double>&, const double*,
                                    const double*, const double*, const double*, double*,
                                    const double*, const double*, const double*, const double*,
                                    double*, double*, double*, double*,
                                    const CellGrads<double>&, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
