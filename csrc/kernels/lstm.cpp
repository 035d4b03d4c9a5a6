// LSTM (gates i, f, g, o): forward over a sequence and BPTT, for one SIMD target.
// Mirrors reference.lstm_forward / reference.lstm_backward. The time loops use fused.h:
// threads own blocks of hidden units; one barrier per step.
#include "fused.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

namespace {
constexpr int64_t G = 4;
// 3 rows x 4 gate vectors = 12 accumulators of 16 registers (AVX-512: 6 rows, 24 of 32)
constexpr int kMR = 3 * kTileRows;
constexpr int kRowsBack = 6 * kTileRows;  // dh = dA W_hh: 6 rows x 2 vectors (AVX-512: 12)

struct LstmForwardLayout {  // workspace offsets, in elements
  int64_t bias, wih, whh, xp, h, c, end;
  LstmForwardLayout(const SeqDims& d) {
    const int64_t Hp = padded_units(d.H);
    bias = 0;
    wih = cache_line(bias + 2 * G * d.H);  // fused: the [W_ih; W_hh] panels, from here on
    whh = cache_line(wih + G * Hp * d.I);
    // xp: the chunk's projections, or with the projection fused, the two [x | h] row sets
    xp = cache_line(whh + G * Hp * d.H);
    h = cache_line(xp + projection_room(d, G));
    c = cache_line(h + 2 * d.B * d.H);
    end = cache_line(c + d.B * d.H);
  }
};

struct LstmBackwardLayout {
  int64_t wb, dA, dh, dc, db, scratch, end;
  LstmBackwardLayout(const SeqDims& d) {
    wb = 0;
    dA = cache_line(wb + G * d.H * padded_units(d.H));
    dh = cache_line(dA + 2 * d.B * tile_row_room(G * d.H));
    dc = cache_line(dh + d.B * d.H);
    db = cache_line(dc + d.B * d.H);
    scratch = cache_line(db + G * d.H);
    end = cache_line(scratch + std::max(d.B * G * d.H, masked_x_size(d)));
  }
};
}  // namespace

int64_t lstm_workspace_size(const SeqDims& d, bool training) {
  const int64_t f = LstmForwardLayout(d).end;
  return training ? std::max(f, LstmBackwardLayout(d).end) : f;
}

// The forward time loop. Each thread first packs its own unit blocks: W_ih and W_hh into
// wih/whh, or with the projection fused (fuse_projection), one [W_ih; W_hh] panel per
// block from wih on, whose tile runs over the rows [x_t | h] staged in xp (two row sets,
// one per parity of the step). At the end hbuf + (steps % 2) * B * H holds the last h.
template <typename T>
static void lstm_loop(const SeqDims& d, const CellWeights<T>& w, const T* bias, T* wih,
                      T* whh, const T* x, T* hbuf, T* c, T* xp, T* out, T* gates, T* c_all) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, K = d.I + H, steps = max_length(d);
  const UnitBlocks ub(H, Wv);
  const bool fused = fuse_projection(d, G, kMR);
  const int nt = loop_threads(B * G * H * (fused ? K : H), ub.count, steps);
  // Row b's update of block u (units j = u * Wv on) at step s from the recurrent sums acc
  // and the projection + bias a[q * Wv] of gate q; hp, hn: row b's old and new h.
  auto update = [&](int64_t b, int64_t s, int64_t u, const V* acc, const T* a, const T* hp,
                    T* hn) {
    const int64_t j = u * Wv;
    const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
    const int64_t t = time_or_carry(d, b, s, j, m, hp, hn);
    if (t < 0) return;  // ended rows keep their state
    const auto i = VT::sigmoid(VT::add(acc[0], VT::load(a)));
    const auto f = VT::sigmoid(VT::add(acc[1], VT::load(a + Wv)));
    const auto g = VT::tanh(VT::add(acc[2], VT::load(a + 2 * Wv)));
    const auto o = VT::sigmoid(VT::add(acc[3], VT::load(a + 3 * Wv)));
    T* cb = c + b * H + j;
    const auto cn = VT::fma(f, VT::load(cb, m), VT::mul(i, g));
    const auto hv = VT::mul(o, VT::tanh(cn));
    const int64_t row = t * B + b;
    VT::store(cb, cn, m);
    VT::store(hn + j, hv, m);
    VT::store(out + row * H + j, hv, m);
    if (gates) {
      T* gr = gates + row * G * H + j;
      VT::store(gr, i, m), VT::store(gr + H, f, m);
      VT::store(gr + 2 * H, g, m), VT::store(gr + 3 * H, o, m);
      VT::store(c_all + row * H + j, cn, m);
    }
  };
  StepBarrier bar;  // the team's step barrier
#pragma omp parallel num_threads(nt)
  {
    const int p = thread_id(), q = team_size();
    const int64_t u0 = ub.begin(p, q), u1 = ub.end(p, q);
    if (fused)
      fused_steps<T, kMR, G>(d, x, w.W_ih, w.W_hh, bias, G, 1, p, q, bar, u0, u1, wih, xp, hbuf,
                             hbuf + (steps % 2) * B * H, update);
    else
      chunked_steps<T, kMR, G>(d, x, w.W_ih, w.W_hh, bias, G, 1, nt, q, bar, u0, u1, wih, whh,
                               xp, hbuf, update);
  }
}

template <typename T>
void lstm_forward(const SeqDims& d, const CellWeights<T>& w, const T* x, const T* h0,
                  const T* c0, T* out, T* h_n, T* c_n, T* gates, T* c_all, T* work) {
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  const LstmForwardLayout L(d);
  T* bias = work + L.bias;  // (4H) b_ih + b_hh: in the projection, or (fused) the update
  T* hbuf = work + L.h;     // (2, B, H) h of the previous and the current step
  T* c = work + L.c;        // (B, H)
  copy_biases(w, G * H, bias);
  for (int64_t k = 0; k < G * H; ++k) bias[k] += bias[G * H + k];
  std::memcpy(hbuf, h0, B * H * sizeof(T));
  std::memcpy(c, c0, B * H * sizeof(T));
  // W_ih, W_hh packed per unit block; xp: (chunk, B, 4 Hp) projections blocked the same way
  // (or, projection fused: [W_ih; W_hh] panels per block and the rows [x_t | h] of 2 steps)
  lstm_loop(d, w, bias, work + L.wih, work + L.whh, x, hbuf, c, work + L.xp, out, gates, c_all);
  zero_padding(d, out, H, H);
  if (gates) {
    zero_padding(d, gates, G * H, G * H);
    zero_padding(d, c_all, H, H);
  }
  std::memcpy(h_n, hbuf + (steps % 2) * B * H, B * H * sizeof(T));
  std::memcpy(c_n, c, B * H * sizeof(T));
}

template <typename T>
void lstm_backward(const SeqDims& d, const CellWeights<T>& w, const T* x, const T* h0,
                   const T* c0, const T* out, T* gates, const T* c_all, const T* dout,
                   const T* dh_n, const T* dc_n, T* dx, T* dh0, T* dc0, T* dh_all,
                   const CellGrads<T>& g, T* work) {
  using VT = Vec<T>;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, GH = G * H, steps = max_length(d);
  const LstmBackwardLayout L(d);
  T* wb = work + L.wb;      // W_hh columns packed per block of 2 vectors of units
  T* dA2 = work + L.dA;     // (2, B, lda) gate gradients of a step, double-buffered
  const int64_t lda = tile_row_stride<T>(GH);
  T* dh = work + L.dh;      // (B, H) gradient reaching h of the current step
  T* dc = work + L.dc;      // (B, H) gradient reaching c of the current step
  T* db = g.db_ih || g.db_hh ? work + L.db : nullptr;  // (4H) sum of the gate gradients
  if (db) std::fill_n(db, GH, T(0));
  T* scratch = work + L.scratch;
  std::memcpy(dh, dh_n, B * H * sizeof(T));
  std::memcpy(dc, dc_n, B * H * sizeof(T));
  const UnitBlocks ub(H, 2 * Wv);
  const int nt = loop_threads(B * GH * H, ub.count, steps);
  StepBarrier bar;  // the team's step barrier
#pragma omp parallel num_threads(nt)
  {
    const int p = thread_id(), q = team_size();
    const int64_t u0 = ub.begin(p, q), u1 = ub.end(p, q);
    const int64_t j0 = u0 * ub.width, j1 = std::min(H, u1 * ub.width);  // own units
    pack_unit_columns(w.W_hh, H, GH, H, 2, u0, u1, wb);
    const auto one = VT::set1(T(1));
    for (int64_t s = steps - 1; s >= 0; --s) {
      T* dA = dA2 + (s % 2) * B * lda;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = step_time(d, b, s);
        T* da = dA + b * lda;
        if (t < 0) {
          for (int64_t q = 0; q < G; ++q) std::fill(da + q * H + j0, da + q * H + j1, T(0));
          continue;
        }
        const int64_t off = (t * B + b) * H;
        const T* c_prev = s == 0 ? c0 + b * H : c_all + (prev_time(d, t) * B + b) * H;
        T* gt = gates + (t * B + b) * GH;
        for (int64_t j = j0; j < j1; j += Wv) {
          const int m = static_cast<int>(std::min<int64_t>(Wv, j1 - j));
          const auto i = VT::load(gt + j, m), f = VT::load(gt + H + j, m);
          const auto gg = VT::load(gt + 2 * H + j, m), o = VT::load(gt + 3 * H + j, m);
          const auto tc = VT::tanh(VT::load(c_all + off + j, m));
          const auto dht = VT::add(VT::load(dh + b * H + j, m), VT::load(dout + off + j, m));
          if (dh_all) VT::store(dh_all + off + j, dht, m);
          // h_t = o * tanh(c_t)
          const auto d_o = VT::mul(dht, tc);
          const auto dct = VT::fma(VT::mul(dht, o), VT::fnma(tc, tc, one), VT::load(dc + b * H + j, m));
          // c_t = f * c_{t-1} + i * g
          const auto di = VT::mul(dct, gg), df = VT::mul(dct, VT::load(c_prev + j, m));
          const auto dg = VT::mul(dct, i);
          VT::store(dc + b * H + j, VT::mul(dct, f), m);
          // gate activations: sigmoid' = s(1-s), tanh' = 1-g^2; the cache row takes them
          const auto a_i = VT::mul(VT::mul(di, i), VT::sub(one, i));
          const auto a_f = VT::mul(VT::mul(df, f), VT::sub(one, f));
          const auto a_g = VT::mul(dg, VT::fnma(gg, gg, one));
          const auto a_o = VT::mul(VT::mul(d_o, o), VT::sub(one, o));
          VT::store(da + j, a_i, m), VT::store(gt + j, a_i, m);
          VT::store(da + H + j, a_f, m), VT::store(gt + H + j, a_f, m);
          VT::store(da + 2 * H + j, a_g, m), VT::store(gt + 2 * H + j, a_g, m);
          VT::store(da + 3 * H + j, a_o, m), VT::store(gt + 3 * H + j, a_o, m);
          if (db) {
            T* sum = db + j;  // own units: no other thread writes these
            VT::store(sum, VT::add(VT::load(sum, m), a_i), m);
            VT::store(sum + H, VT::add(VT::load(sum + H, m), a_f), m);
            VT::store(sum + 2 * H, VT::add(VT::load(sum + 2 * H, m), a_g), m);
            VT::store(sum + 3 * H, VT::add(VT::load(sum + 3 * H, m), a_o), m);
          }
        }
      }
      bar.wait(q);
      // h_{t-1} feeds the gates through W_hh: dh = dA W_hh, own units, all gates.
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t j = u * ub.width;
        tile_rows<T, kRowsBack, 2>(B, GH, wb + u * GH * ub.width, [&](int64_t b) { return dA + b * lda; },
                           [&](int64_t b, const typename VT::V* acc) {
                             if (step_time(d, b, s) < 0) return;  // ended rows keep dh
                             for (int v = 0; v < 2; ++v) {
                               const int64_t jj = j + v * Wv;
                               if (jj < H)
                                 VT::store(dh + b * H + jj, acc[v],
                                           static_cast<int>(std::min<int64_t>(Wv, H - jj)));
                             }
                           });
      }
    }
  }
  std::memcpy(dh0, dh, B * H * sizeof(T));
  std::memcpy(dc0, dc, B * H * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  input_projection_backward(d, GH, gates, GH, x, w.W_ih, dx, g.dW_ih, scratch);
  add_recurrent_weight_grad(d, gates, GH, GH, out, h0, g.dW_hh, scratch);
  if (db) add_bias_sums(db, GH, g.db_ih, g.db_hh);
}

// ---- streaming: weights packed once, then one step at a time ----
// packed: [bias (4H, padded to a cache line) | per unit block, W_ih rows then W_hh rows
// (pack_step_panels, K = I + H)]. A step is one pass of the register tile over [x | h]:
// no input projection pass, no barrier (run_step_panels).
int64_t lstm_packed_size(int64_t I, int64_t H) {
  const int64_t Hp = padded_units(H);
  return cache_line(G * H) + G * Hp * I + G * Hp * H;
}

// xh (B, I + H) + pre-activations (B, 4 Hp)
int64_t lstm_step_workspace_size(int64_t B, int64_t I, int64_t H) {
  return step_panels_workspace(B, I, H, G);
}

template <typename T>
void lstm_pack(const CellWeights<T>& w, int64_t I, int64_t H, T* packed) {
  std::fill_n(packed, lstm_packed_size(I, H), T(0));  // gaps and padding: deterministic
  for (int64_t k = 0; k < G * H; ++k)
    packed[k] = (w.b_ih ? w.b_ih[k] : T(0)) + (w.b_hh ? w.b_hh[k] : T(0));
  pack_step_panels(w.W_ih, w.W_hh, G, H, I, 1, packed + cache_line(G * H));
}

template <typename T>
void lstm_step(const T* packed, int64_t B, int64_t I, int64_t H, const T* x, T* h, T* c,
               T* work) {
  using VT = Vec<T>;
  constexpr int Wv = VT::W;
  const T* bias = packed;
  run_step_panels<T, kMR, G>(
      B, I, H, 1, packed + cache_line(G * H), x, h, work, [&](int64_t b, int64_t u, const T* p) {
        const int64_t j = u * Wv;
        const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
        const auto i = VT::sigmoid(VT::add(VT::load(p), VT::load(bias + j, m)));
        const auto f = VT::sigmoid(VT::add(VT::load(p + Wv), VT::load(bias + H + j, m)));
        const auto g = VT::tanh(VT::add(VT::load(p + 2 * Wv), VT::load(bias + 2 * H + j, m)));
        const auto o = VT::sigmoid(VT::add(VT::load(p + 3 * Wv), VT::load(bias + 3 * H + j, m)));
        T* cb = c + b * H + j;
        const auto cn = VT::fma(f, VT::load(cb, m), VT::mul(i, g));
        VT::store(cb, cn, m);
        VT::store(h + b * H + j, VT::mul(o, VT::tanh(cn)), m);
      });
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

template void lstm_pack<float>(const CellWeights<float>&, int64_t, int64_t, float*);
template void lstm_pack<double>(const CellWeights<double>&, int64_t, int64_t, double*);
template void lstm_step<float>(const float*, int64_t, int64_t, int64_t, const float*, float*,
                               float*, float*);
template void lstm_step<double>(const double*, int64_t, int64_t, int64_t, const double*,
                                double*, double*, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
