// LSTM (gates i, f, g, o): forward over a sequence and BPTT, for one SIMD target.
// Mirrors reference.lstm_forward / reference.lstm_backward.
#include "common.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

// forward: h, c (B,H) + hh (B,4H), plus the input projection (T,B,4H) when no gates
// cache is kept to hold it.  backward: dh, dc, dh_rec (B,H) + step (B,4H).
int64_t lstm_workspace_size(const SeqDims& d, bool training) {
  const int64_t BH = d.B * d.H;
  return training ? 6 * BH + 4 * BH : 6 * BH + 4 * d.T * BH;
}

template <typename T>
void lstm_forward(const SeqDims& d, const CellWeights<T>& w, const T* x, const T* h0,
                  const T* c0, T* out, T* h_n, T* c_n, T* gates, T* c_all, T* work) {
  const int64_t B = d.B, H = d.H, G = 4 * H, steps = max_length(d);
  T* h = work;              // (B, H)
  T* c = h + B * H;         // (B, H)
  T* hh = c + B * H;        // (B, 4H) W_hh h
  // Input projection of all steps in one GEMM; with a cache it lands in `gates` and is
  // overwritten in place by the activated gates.
  T* xp = gates ? gates : hh + B * G;  // (T, B, 4H)
  gemm<T>(false, true, d.T * B, G, d.I, T(1), x, d.I, w.W_ih, d.I, T(0), xp, G);
  std::memcpy(h, h0, B * H * sizeof(T));
  std::memcpy(c, c0, B * H * sizeof(T));
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
      for (int64_t j = 0; j < H; ++j) {
        T ai = a[j] + r[j], af = a[H + j] + r[H + j];
        T ag = a[2 * H + j] + r[2 * H + j], ao = a[3 * H + j] + r[3 * H + j];
        if (w.b_ih) ai += w.b_ih[j], af += w.b_ih[H + j], ag += w.b_ih[2 * H + j], ao += w.b_ih[3 * H + j];
        if (w.b_hh) ai += w.b_hh[j], af += w.b_hh[H + j], ag += w.b_hh[2 * H + j], ao += w.b_hh[3 * H + j];
        const T i = sigmoid(ai), f = sigmoid(af), gg = std::tanh(ag), o = sigmoid(ao);
        const T cn = f * cb[j] + i * gg;
        const T hn = o * std::tanh(cn);
        cb[j] = cn;
        hb[j] = ob[j] = hn;
        if (gates) {
          a[j] = i, a[H + j] = f, a[2 * H + j] = gg, a[3 * H + j] = o;
          c_all[(t * B + b) * H + j] = cn;
        }
      }
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
      for (int64_t j = 0; j < H; ++j) {
        const T i = gt[j], f = gt[H + j], gg = gt[2 * H + j], o = gt[3 * H + j];
        const T tc = std::tanh(c_all[off + j]);
        const T dht = dh[b * H + j] + dout[off + j];
        if (dh_all) dh_all[off + j] = dht;
        // h_t = o * tanh(c_t)
        const T d_o = dht * tc;
        const T dct = dc[b * H + j] + dht * o * (T(1) - tc * tc);
        // c_t = f * c_{t-1} + i * g
        const T di = dct * gg, df = dct * c_prev[j], dg = dct * i;
        dc[b * H + j] = dct * f;
        // gate activations: sigmoid' = s(1-s), tanh' = 1-g^2
        st[j] = di * i * (T(1) - i);
        st[H + j] = df * f * (T(1) - f);
        st[2 * H + j] = dg * (T(1) - gg * gg);
        st[3 * H + j] = d_o * o * (T(1) - o);
      }
      std::memcpy(gt, st, G * sizeof(T));  // the cache row now holds its gradient
    }
    // h_{t-1} feeds the gates through W_hh
    gemm<T>(false, false, B, H, G, T(1), step, G, w.W_hh, H, T(0), dh_rec, H);
    copy_active_rows(d, s, dh_rec, dh, H);
  }
  std::memcpy(dh0, dh, BH * sizeof(T));
  std::memcpy(dc0, dc, BH * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  input_projection_backward(d, G, gates, G, x, w.W_ih, dx, g.dW_ih, g.db_ih);
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
