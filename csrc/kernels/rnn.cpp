// Elman RNN (tanh or ReLU): forward over a sequence and BPTT, for one SIMD target.
// Mirrors reference.rnn_forward / reference.rnn_backward. Time loops use fused.h; with a
// single gate, a block of units is two vectors wide so that a tile still has 12 accumulators
// (24 on AVX-512, whose tiles take twice the rows).
#include "fused.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

namespace {
constexpr int kRows = 6 * kTileRows;  // register-tile rows (x 2 vectors)

struct RnnForwardLayout {  // workspace offsets, in elements
  int64_t bias, wih, whh, xp, h, end;
  RnnForwardLayout(const SeqDims& d) {
    const int64_t Hp = padded_units(d.H);
    bias = 0;
    wih = cache_line(bias + 2 * d.H);  // fused: the [W_ih; W_hh] panels, from here on
    whh = cache_line(wih + Hp * d.I);
    // xp: the chunk's projections, or with the projection fused, the two [x | h] row sets
    xp = cache_line(whh + Hp * d.H);
    h = cache_line(xp + projection_room(d, 1));
    end = cache_line(h + 2 * d.B * d.H);
  }
};

struct RnnBackwardLayout {
  int64_t wb, dA, dh, db, scratch, end;
  RnnBackwardLayout(const SeqDims& d) {
    wb = 0;
    dA = cache_line(wb + d.H * padded_units(d.H));
    // dA: pre-activation gradients of every step, for the GEMMs after the loop
    dh = cache_line(dA + d.T * d.B * tile_row_room(d.H));
    db = cache_line(dh + d.B * d.H);
    scratch = cache_line(db + d.H);
    end = cache_line(scratch + std::max(d.B * d.H, masked_x_size(d)));
  }
};
}  // namespace

int64_t rnn_workspace_size(const SeqDims& d, bool training) {
  const int64_t f = RnnForwardLayout(d).end;
  return training ? std::max(f, RnnBackwardLayout(d).end) : f;
}

// The forward time loop; each thread first packs its own unit blocks (W_ih into wih, W_hh
// into whh, or with the projection fused one [W_ih; W_hh] panel per block from wih on,
// its rows staged in xp). At the end hbuf + (steps % 2) * B * H holds the last h.
template <typename T>
static void rnn_loop(const SeqDims& d, Activation act, const CellWeights<T>& w, const T* bias,
                     T* wih, T* whh, const T* x, T* hbuf, T* xp, T* out) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  const bool is_tanh = act == Activation::tanh;
  const bool fused = fuse_projection(d, 1, kRows);
  const UnitBlocks ub(H, 2 * Wv);
  const int nt = loop_threads(B * H * (fused ? d.I + H : H), ub.count, steps);
  // Row b's update of block u at step s from the recurrent sums acc and the projection +
  // bias a (2 vectors); hp, hn: row b's old and new h.
  auto update = [&](int64_t b, int64_t s, int64_t u, const V* acc, const T* a, const T* hp,
                    T* hn) {
    const int64_t t = step_time(d, b, s);
    for (int v = 0; v < 2; ++v) {
      const int64_t j = u * ub.width + v * Wv;
      if (j >= H) break;
      const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
      if (t < 0) {  // ended rows keep their state
        VT::store(hn + j, VT::load(hp + j, m), m);
        continue;
      }
      const auto pre = VT::add(acc[v], VT::load(a + v * Wv));
      const auto hv = is_tanh ? VT::tanh(pre) : VT::relu(pre);
      VT::store(hn + j, hv, m);
      VT::store(out + (t * B + b) * H + j, hv, m);
    }
  };
  StepBarrier bar;  // the team's step barrier
#pragma omp parallel num_threads(nt)
  {
    const int p = thread_id(), q = team_size();
    const int64_t u0 = ub.begin(p, q), u1 = ub.end(p, q);
    if (fused)
      fused_steps<T, kRows, 2>(d, x, w.W_ih, w.W_hh, bias, 1, 2, p, q, bar, u0, u1, wih, xp, hbuf,
                               hbuf + (steps % 2) * B * H, update);
    else
      chunked_steps<T, kRows, 2>(d, x, w.W_ih, w.W_hh, bias, 1, 2, nt, q, bar, u0, u1, wih, whh,
                                 xp, hbuf, update);
  }
}

template <typename T>
void rnn_forward(const SeqDims& d, Activation act, const CellWeights<T>& w, const T* x,
                 const T* h0, T* out, T* h_n, T* work) {
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  const RnnForwardLayout L(d);
  T* bias = work + L.bias;  // (H) b_ih + b_hh: in the projection, or (fused) the update
  T* hbuf = work + L.h;     // (2, B, H)
  copy_biases(w, H, bias);
  for (int64_t k = 0; k < H; ++k) bias[k] += bias[H + k];
  std::memcpy(hbuf, h0, B * H * sizeof(T));
  rnn_loop(d, act, w, bias, work + L.wih, work + L.whh, x, hbuf, work + L.xp, out);
  zero_padding(d, out, H, H);
  std::memcpy(h_n, hbuf + (steps % 2) * B * H, B * H * sizeof(T));
}

template <typename T>
void rnn_backward(const SeqDims& d, Activation act, const CellWeights<T>& w, const T* x,
                  const T* h0, const T* out, const T* dout, const T* dh_n, T* dx, T* dh0,
                  T* dh_all, const CellGrads<T>& g, T* work) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  const RnnBackwardLayout L(d);
  T* wb = work + L.wb;
  T* dA = work + L.dA;  // (T, B, H) in rows of lda, zero at padded steps
  const int64_t lda = tile_row_stride<T>(H);
  T* dh = work + L.dh;
  T* scratch = work + L.scratch;
  T* db = g.db_ih || g.db_hh ? work + L.db : nullptr;  // (H) sum of the pre-activation gradients
  if (db) std::fill_n(db, H, T(0));
  std::fill_n(dA, d.T * B * lda, T(0));
  std::memcpy(dh, dh_n, B * H * sizeof(T));
  const bool is_tanh = act == Activation::tanh;
  const UnitBlocks ub(H, 2 * Wv);
  const int nt = loop_threads(B * H * H, ub.count, steps);
  StepBarrier bar;  // the team's step barrier
#pragma omp parallel num_threads(nt)
  {
    const int p = thread_id(), q = team_size();
    const int64_t u0 = ub.begin(p, q), u1 = ub.end(p, q);
    const int64_t j0 = u0 * ub.width, j1 = std::min(H, u1 * ub.width);
    pack_unit_columns(w.W_hh, H, H, H, 2, u0, u1, wb);
    for (int64_t s = steps - 1; s >= 0; --s) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = step_time(d, b, s);
        if (t < 0) continue;
        const int64_t off = (t * B + b) * H, row = (t * B + b) * lda;
        for (int64_t j = j0; j < j1; j += Wv) {
          const int m = static_cast<int>(std::min<int64_t>(Wv, j1 - j));
          // h_t = act(a): tanh' = 1 - h^2, relu' = [h > 0]
          const auto ht = VT::load(out + off + j, m);
          const auto gj = VT::add(VT::load(dh + b * H + j, m), VT::load(dout + off + j, m));
          if (dh_all) VT::store(dh_all + off + j, gj, m);
          const auto a = is_tanh ? VT::mul(gj, VT::fnma(ht, ht, VT::set1(T(1)))) : VT::step(ht, gj);
          VT::store(dA + row + j, a, m);
          if (db) VT::store(db + j, VT::add(VT::load(db + j, m), a), m);  // own units
        }
      }
      bar.wait(q);
      // h_{t-1} feeds a through W_hh: dh = dA W_hh for own units; rows read dA in place.
      for (int64_t u = u0; u < u1; ++u) {
        tile_rows<T, kRows, 2>(
            B, H, wb + u * H * ub.width,
            [&](int64_t b) {
              const int64_t t = step_time(d, b, s);
              return dA + ((t < 0 ? 0 : t) * B + b) * lda;  // ended rows: result dropped
            },
            [&](int64_t b, const V* acc) {
              if (step_time(d, b, s) < 0) return;
              for (int v = 0; v < 2; ++v) {
                const int64_t j = u * ub.width + v * Wv;
                if (j >= H) break;
                VT::store(dh + b * H + j, acc[v], static_cast<int>(std::min<int64_t>(Wv, H - j)));
              }
            });
      }
    }
  }
  std::memcpy(dh0, dh, B * H * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  input_projection_backward(d, H, dA, lda, x, w.W_ih, dx, g.dW_ih, scratch);
  add_recurrent_weight_grad(d, dA, lda, H, out, h0, g.dW_hh, scratch);
  if (db) add_bias_sums(db, H, g.db_ih, g.db_hh);
}

// ---- streaming: weights packed once, then one step at a time ----
// packed: [bias (H, padded to a cache line) | per block of 2 vectors of units, W_ih rows
// then W_hh rows (pack_step_panels, K = I + H)]: a step is one tile pass over [x | h].
int64_t rnn_packed_size(int64_t I, int64_t H) {
  const int64_t Hp = padded_units(H);
  return cache_line(H) + Hp * I + Hp * H;
}

// xh (B, I + H) + pre-activations (B, Hp)
int64_t rnn_step_workspace_size(int64_t B, int64_t I, int64_t H) {
  return step_panels_workspace(B, I, H, 1);
}

template <typename T>
void rnn_pack(const CellWeights<T>& w, int64_t I, int64_t H, T* packed) {
  std::fill_n(packed, rnn_packed_size(I, H), T(0));  // gaps and padding: deterministic
  for (int64_t k = 0; k < H; ++k)
    packed[k] = (w.b_ih ? w.b_ih[k] : T(0)) + (w.b_hh ? w.b_hh[k] : T(0));
  pack_step_panels(w.W_ih, w.W_hh, 1, H, I, 2, packed + cache_line(H));
}

template <typename T>
void rnn_step(const T* packed, Activation act, int64_t B, int64_t I, int64_t H, const T* x, T* h,
              T* work) {
  using VT = Vec<T>;
  constexpr int Wv = VT::W;
  const bool is_tanh = act == Activation::tanh;
  const T* bias = packed;
  run_step_panels<T, kRows, 2>(
      B, I, H, 2, packed + cache_line(H), x, h, work, [&](int64_t b, int64_t u, const T* p) {
        for (int v = 0; v < 2; ++v) {
          const int64_t j = (2 * u + v) * Wv;
          if (j >= H) break;
          const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
          const auto pre = VT::add(VT::load(p + v * Wv), VT::load(bias + j, m));
          VT::store(h + b * H + j, is_tanh ? VT::tanh(pre) : VT::relu(pre), m);
        }
      });
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

template void rnn_pack<float>(const CellWeights<float>&, int64_t, int64_t, float*);
template void rnn_pack<double>(const CellWeights<double>&, int64_t, int64_t, double*);
template void rnn_step<float>(const float*, Activation, int64_t, int64_t, int64_t, const float*,
                              float*, float*);
template void rnn_step<double>(const double*, Activation, int64_t, int64_t, int64_t,
                               const double*, double*, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
