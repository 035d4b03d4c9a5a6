// GRU (gates r, z, n) in PyTorch's reset-after form and Cho's reset-before form:
// forward over a sequence and BPTT, for one SIMD target. Mirrors reference.gru_*.
//
// gates cache, per (t, b) row of 4H:  forward [r, z, n, e]  with e = W_hn h + b_hn
// (reset_after) or e = r * h_{t-1} (Cho).  After backward the row holds
// [da_r, da_z, da_n, x] where da_* are pre-activation gradients of the input
// projection and x is da_n * r (reset_after: the gradient of W_hn h + b_hn) or e
// unchanged (Cho, whose dW_hn needs r * h_{t-1}).
#include "common.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

// forward: biases (2, 3H) + h (B,H) + hh (B,3H) + rh (B,H) [+ input projection (T,B,3H)
// without cache].  backward: dh, dh_rec, direct (B,H) + step (B,3H)
int64_t gru_workspace_size(const SeqDims& d, bool training) {
  const int64_t BH = d.B * d.H;
  return 6 * d.H + (training ? 6 * BH + masked_x_size(d) : 5 * BH + 3 * d.T * BH);
}

template <typename T>
void gru_forward(const SeqDims& d, bool reset_after, const CellWeights<T>& w, const T* x,
                 const T* h0, T* out, T* h_n, T* gates, T* work) {
  const int64_t B = d.B, H = d.H, G = 3 * H, steps = max_length(d);
  T* bias = work;       // (2, 3H) b_ih, b_hh
  T* h = bias + 2 * G;  // (B, H)
  T* hh = h + B * H;    // (B, 3H) recurrent projections (Cho: [W_hr h, W_hz h, W_hn (r*h)])
  T* rh = hh + B * G;   // (B, H) r * h (Cho only)
  copy_biases(w, G, bias);
  const T* bi = bias;
  const T* bh = bias + G;
  const int64_t ldx = gates ? 4 * H : G;
  T* xp = gates ? gates : rh + B * H;  // (T, B, ldx) input projection, first 3H columns
  gemm<T>(false, true, d.T * B, G, d.I, T(1), x, d.I, w.W_ih, d.I, T(0), xp, ldx);
  std::memcpy(h, h0, B * H * sizeof(T));
  using VT = Vec<T>;
  const int nt = get_num_threads();
  const bool par = B * G >= kParallelMin;
  // sigmoid of r or z (block q): x part + recurrent part + both biases
  auto gate = [&](const T* a, const T* q, int64_t k, int64_t j, int n) {
    return VT::sigmoid(VT::add(VT::add(VT::load(a + k * H + j, n), VT::load(q + k * H + j, n)),
                               VT::add(VT::load(bi + k * H + j, n), VT::load(bh + k * H + j, n))));
  };
  for (int64_t s = 0; s < steps; ++s) {
    if (reset_after) {
      gemm<T>(false, true, B, G, H, T(1), h, H, w.W_hh, H, T(0), hh, G);
    } else {
      // r needs W_hr h first; W_hn then acts on r * h.
      gemm<T>(false, true, B, 2 * H, H, T(1), h, H, w.W_hh, H, T(0), hh, G);
#pragma omp parallel for num_threads(nt) if (par)
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = step_time(d, b, s);
        const T* a = xp + ((t < 0 ? 0 : t) * B + b) * ldx;
        for_lanes<T>(H, [&](int64_t j, int n) {
          VT::store(rh + b * H + j, VT::mul(gate(a, hh + b * G, 0, j, n), VT::load(h + b * H + j, n)), n);
        });
      }
      gemm<T>(false, true, B, H, H, T(1), rh, H, w.W_hh + 2 * H * H, H, T(0), hh + 2 * H, G);
    }
#pragma omp parallel for num_threads(nt) if (par)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = step_time(d, b, s);
      if (t < 0) continue;
      T* a = xp + (t * B + b) * ldx;
      const T* q = hh + b * G;
      T* hb = h + b * H;
      T* ob = out + (t * B + b) * H;
      for_lanes<T>(H, [&](int64_t j, int n) {
        const auto r = gate(a, q, 0, j, n), z = gate(a, q, 1, j, n);
        const auto xn = VT::add(VT::load(a + 2 * H + j, n), VT::load(bi + 2 * H + j, n));
        const auto qn = VT::add(VT::load(q + 2 * H + j, n), VT::load(bh + 2 * H + j, n));
        // reset_after: e = W_hn h + b_hn, n = tanh(xn + r e).  Cho: e = r h, n = tanh(xn + qn)
        const auto e = reset_after ? qn : VT::load(rh + b * H + j, n);
        const auto nn = VT::tanh(reset_after ? VT::fma(r, e, xn) : VT::add(xn, qn));
        const auto hp = VT::load(hb + j, n);
        const auto hn = VT::fma(z, VT::sub(hp, nn), nn);  // (1 - z) n + z h
        VT::store(hb + j, hn, n);
        VT::store(ob + j, hn, n);
        if (gates) {
          VT::store(a + j, r, n), VT::store(a + H + j, z, n);
          VT::store(a + 2 * H + j, nn, n), VT::store(a + 3 * H + j, e, n);
        }
      });
    }
  }
  zero_padding(d, out, H, H);
  if (gates) zero_padding(d, gates, 4 * H, 4 * H);
  std::memcpy(h_n, h, B * H * sizeof(T));
}

template <typename T>
void gru_backward(const SeqDims& d, bool reset_after, const CellWeights<T>& w, const T* x,
                  const T* h0, const T* out, T* gates, const T* dout, const T* dh_n, T* dx,
                  T* dh0, T* dh_all, const CellGrads<T>& g, T* work) {
  const int64_t B = d.B, H = d.H, G = 3 * H, L = 4 * H, BH = B * H, steps = max_length(d);
  T* dh = work;           // (B, H) gradient flowing into h of the current step
  T* dh_rec = dh + BH;    // (B, H)
  T* direct = dh_rec + BH;  // (B, H) dh_{t-1} terms that bypass the W_hh GEMM
  T* step = direct + BH;  // (B, 3H) gradients of the recurrent pre-activations
  std::memcpy(dh, dh_n, BH * sizeof(T));
  const T* W_hn = w.W_hh + 2 * H * H;
  using VT = Vec<T>;
  const int nt = get_num_threads();
  const bool par = B * G >= kParallelMin;
  for (int64_t s = steps - 1; s >= 0; --s) {
    // Phase 1: everything that does not need W_hn^T da_n (reset_after: all of it).
#pragma omp parallel for num_threads(nt) if (par)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = step_time(d, b, s);
      T* st = step + b * G;
      if (t < 0) {
        std::fill_n(st, G, T(0));
        continue;
      }
      const int64_t off = (t * B + b) * H;
      const T* hp = s == 0 ? h0 + b * H : out + (prev_time(d, t) * B + b) * H;
      T* gt = gates + (t * B + b) * L;
      const auto one = VT::set1(T(1));
      for_lanes<T>(H, [&](int64_t j, int n) {
        const auto r = VT::load(gt + j, n), z = VT::load(gt + H + j, n);
        const auto nn = VT::load(gt + 2 * H + j, n), e = VT::load(gt + 3 * H + j, n);
        const auto dht = VT::add(VT::load(dh + b * H + j, n), VT::load(dout + off + j, n));
        if (dh_all) VT::store(dh_all + off + j, dht, n);
        // h_t = (1 - z) n + z h_{t-1}
        const auto dan = VT::mul(VT::mul(dht, VT::sub(one, z)), VT::fnma(nn, nn, one));
        const auto daz = VT::mul(VT::mul(dht, VT::sub(VT::load(hp + j, n), nn)),
                                 VT::mul(z, VT::sub(one, z)));
        VT::store(direct + b * H + j, VT::mul(dht, z), n);
        VT::store(gt + H + j, daz, n), VT::store(st + H + j, daz, n);
        VT::store(gt + 2 * H + j, dan, n);
        if (reset_after) {
          // n = tanh(x_n + r * e), e = W_hn h + b_hn
          const auto dar = VT::mul(VT::mul(dan, e), VT::mul(r, VT::sub(one, r)));
          VT::store(gt + j, dar, n), VT::store(st + j, dar, n);
          const auto de = VT::mul(dan, r);
          VT::store(gt + 3 * H + j, de, n), VT::store(st + 2 * H + j, de, n);
        } else {
          VT::store(st + 2 * H + j, dan, n);  // r's gradient needs W_hn^T da_n: phase 2
        }
      });
    }
    if (!reset_after) {
      // n = tanh(x_n + W_hn (r * h) + b_hn): d(r * h) = W_hn^T da_n
      gemm<T>(false, false, B, H, H, T(1), step + 2 * H, G, W_hn, H, T(0), dh_rec, H);
#pragma omp parallel for num_threads(nt) if (par)
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = step_time(d, b, s);
        if (t < 0) continue;
        const T* hp = s == 0 ? h0 + b * H : out + (prev_time(d, t) * B + b) * H;
        T* gt = gates + (t * B + b) * L;
        for_lanes<T>(H, [&](int64_t j, int n) {
          const auto r = VT::load(gt + j, n), drh = VT::load(dh_rec + b * H + j, n);
          VT::store(direct + b * H + j, VT::fma(drh, r, VT::load(direct + b * H + j, n)), n);
          const auto dar = VT::mul(VT::mul(drh, VT::load(hp + j, n)),
                                   VT::mul(r, VT::sub(VT::set1(T(1)), r)));
          VT::store(gt + j, dar, n), VT::store(step + b * G + j, dar, n);
        });
      }
    }
    // h_{t-1} feeds the recurrent pre-activations through W_hh (Cho: r and z rows only)
    const int64_t K = reset_after ? G : 2 * H;
    gemm<T>(false, false, B, H, K, T(1), step, G, w.W_hh, H, T(0), dh_rec, H);
    for (int64_t b = 0; b < B; ++b) {
      if (step_time(d, b, s) < 0) continue;
      for (int64_t j = 0; j < H; ++j) dh[b * H + j] = dh_rec[b * H + j] + direct[b * H + j];
    }
  }
  std::memcpy(dh0, dh, BH * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  const int64_t TB = d.T * B;
  input_projection_backward(d, G, gates, L, x, w.W_ih, dx, g.dW_ih, g.db_ih, step + B * G);
  // r and z rows of W_hh see h_{t-1}
  add_recurrent_weight_grad(d, gates, L, 2 * H, out, h0, g.dW_hh, step);
  if (g.db_hh) add_column_sums(gates, TB, 2 * H, L, g.db_hh);
  if (reset_after) {
    // e = W_hn h_{t-1} + b_hn received da_n * r, stored in column block 3
    add_recurrent_weight_grad(d, gates + 3 * H, L, H, out, h0, g.dW_hh + 2 * H * H, step);
    if (g.db_hh) add_column_sums(gates + 3 * H, TB, H, L, g.db_hh + 2 * H);
  } else {
    // W_hn acts on r * h_{t-1}, kept in column block 3
    gemm<T>(true, false, H, H, TB, T(1), gates + 2 * H, L, gates + 3 * H, L, T(1),
            g.dW_hh + 2 * H * H, H);
    if (g.db_hh) add_column_sums(gates + 2 * H, TB, H, L, g.db_hh + 2 * H);
  }
}

template void gru_forward<float>(const SeqDims&, bool, const CellWeights<float>&, const float*,
                                 const float*, float*, float*, float*, float*);
template void gru_forward<double>(const SeqDims&, bool, const CellWeights<double>&,
                                  const double*, const double*, double*, double*, double*,
                                  double*);
template void gru_backward<float>(const SeqDims&, bool, const CellWeights<float>&, const float*,
                                  const float*, const float*, float*, const float*,
                                  const float*, float*, float*, float*, const CellGrads<float>&,
                                  float*);
template void gru_backward<double>(const SeqDims&, bool, const CellWeights<double>&,
                                   const double*, const double*, const double*, double*,
                                   const double*, const double*, double*, double*, double*,
                                   const CellGrads<double>&, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
