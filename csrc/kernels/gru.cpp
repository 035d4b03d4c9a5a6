// GRU (gates r, z, n) in PyTorch's reset-after form and Cho's reset-before form:
// forward over a sequence and BPTT, for one SIMD target. Mirrors reference.gru_*.
//
// gates cache, per (t, b) row of 4H:  forward [r, z, n, e]  with e = W_hn h + b_hn
// (reset_after) or e = r * h_{t-1} (Cho).  After backward the row holds
// [da_r, da_z, da_n, x] where da_* are pre-activation gradients of the input
// projection and x is da_n * r (reset_after: the gradient of W_hn h + b_hn) or e
// unchanged (Cho, whose dW_hn needs r * h_{t-1}).
#include "fused.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

namespace {
// Register-tile rows: reset-after r,z,n 4 x 3 vectors, Cho r,z 6 x 2 and n 8 x 1, the
// backward products 6 x 2 (all doubled with AVX-512's 32 registers).
constexpr int kRowsRzn = 4 * kTileRows, kRowsRz = 6 * kTileRows, kRowsN = 8 * kTileRows;
constexpr int kRowsBack = 6 * kTileRows;

struct GruForwardLayout {  // workspace offsets, in elements
  int64_t bias, wih, whh, whn, xp, h, rz, rh, end;
  GruForwardLayout(const SeqDims& d) {
    const int64_t Hp = padded_units(d.H);
    bias = 0;                       // (3H) folded into the projection, then b_hn (H)
    wih = cache_line(bias + 2 * 3 * d.H);
    whh = cache_line(wih + 3 * Hp * d.I);       // reset_after: r, z, n rows; Cho: r, z rows
    whn = cache_line(whh + 3 * Hp * d.H);       // Cho: W_hn rows
    // xp: the chunk's projections, or with the projection fused (reset_after), the two
    // [x | h] row sets; wih and whh then hold one [W_ih; W_hh] panel per block from wih on
    xp = cache_line(whn + Hp * d.H);
    h = cache_line(xp + projection_room(d, 3));  // (2, B, H)
    rz = cache_line(h + 2 * d.B * d.H);         // Cho: (B, 2H) r and z between the two phases
    rh = cache_line(rz + 2 * d.B * d.H);        // Cho: (B, H) r * h
    end = cache_line(rh + d.B * d.H);
  }
};

struct GruBackwardLayout {
  int64_t wb, wbn, dA, dn, dh, direct, db, scratch, end;
  GruBackwardLayout(const SeqDims& d) {
    const int64_t Hp = padded_units(d.H);
    wb = 0;                          // W_hh columns (K = 3H, Cho: 2H)
    wbn = cache_line(wb + 3 * d.H * Hp);         // Cho: W_hn columns (K = H)
    dA = cache_line(wbn + d.H * Hp);             // (2, B, 3H) recurrent pre-activation gradients
    dn = cache_line(dA + 2 * d.B * tile_row_room(3 * d.H));  // Cho: (B, H) da_n
    dh = cache_line(dn + d.B * tile_row_room(d.H));          // (B, H)
    direct = cache_line(dh + d.B * d.H);         // (B, H) dh_{t-1} terms that bypass W_hh
    db = cache_line(direct + d.B * d.H);         // (4H) sums of da_r, da_z, da_n, de
    scratch = cache_line(db + 4 * d.H);
    end = cache_line(scratch + std::max(d.B * 4 * d.H, masked_x_size(d)));
  }
};
}  // namespace

int64_t gru_workspace_size(const SeqDims& d, bool training) {
  const int64_t f = GruForwardLayout(d).end;
  return training ? std::max(f, GruBackwardLayout(d).end) : f;
}

// Pack W_ih and W_hh rows of unit blocks [u0, u1): reset_after packs r, z, n of W_hh
// together; Cho packs r, z into whh and n into whn (it acts on r * h, a step later).
template <typename T>
static void pack_gru_blocks(const CellWeights<T>& w, int64_t I, int64_t H, bool reset_after,
                            int64_t u0, int64_t u1, T* wih, T* whh, T* whn) {
  pack_gate_rows(w.W_ih, I, 3, H, I, 1, u0, u1, wih);
  if (reset_after) {
    pack_gate_rows(w.W_hh, H, 3, H, H, 1, u0, u1, whh);
  } else {
    pack_gate_rows(w.W_hh, H, 2, H, H, 1, u0, u1, whh);
    pack_gate_rows(w.W_hh + 2 * H * H, H, 1, H, H, 1, u0, u1, whn);
  }
}

// bias (6H): [b_ir + b_hr, b_iz + b_hz, b_in] folded into the projection, then [.., .., b_hn]:
// b_hn stays apart because r multiplies it (reset_after) or it follows W_hn (r * h) (Cho).
template <typename T>
static void gru_biases(const CellWeights<T>& w, int64_t H, T* bias) {
  copy_biases(w, 3 * H, bias);
  for (int64_t k = 0; k < 2 * H; ++k) bias[k] += bias[3 * H + k];
}

// The forward time loop over pre-packed weights, or (w given) packing them first.
template <typename T>
static void gru_loop(const SeqDims& d, bool reset_after, const CellWeights<T>* w,
                     const T* bias, T* wih, T* whh, T* whn, const T* x, T* hbuf, T* rz, T* rh,
                     T* xp, T* out, T* gates) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  const T* b_hn = bias + 5 * H;
  const UnitBlocks ub(H, Wv);
  const int64_t ldx = ub.count * 3 * Wv, chunk = projection_chunk(B, d.I, steps);
  const bool fused = reset_after && w && fuse_projection(d, 3, kRowsRzn);
  const int nt = loop_threads(B * 3 * H * (fused ? d.I + H : H), ub.count, steps);
  // The state update shared by all paths: n and e known -> new state, outputs, cache;
  // hp / hn: row b's old h and the row its new h goes to.
  auto finish = [&](int64_t b, int64_t t, int64_t j, int m, V r, V z, V nn, V e, const T* hp,
                    T* hn) {
    const auto hv = VT::fma(z, VT::sub(VT::load(hp + j, m), nn), nn);  // (1-z)n + z h
    const int64_t row = t * B + b;
    VT::store(hn + j, hv, m);
    VT::store(out + row * H + j, hv, m);
    if (gates) {
      T* gr = gates + row * 4 * H + j;
      VT::store(gr, r, m), VT::store(gr + H, z, m);
      VT::store(gr + 2 * H, nn, m), VT::store(gr + 3 * H, e, m);
    }
  };
  // Reset-after, once acc (the block's [r, z, n] sums of W_h* h) and the input side of
  // each gate (W_i* x_t + the folded biases: xr, xz, xn) are known.
  auto reset_after_gates = [&](int64_t b, int64_t s, int64_t u, const V* acc, V xr, V xz,
                               V xn, const T* hp, T* hn) {
    const int64_t j = u * Wv;
    const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
    const int64_t t = time_or_carry(d, b, s, j, m, hp, hn);
    if (t < 0) return;  // ended rows keep their state
    const auto r = VT::sigmoid(VT::add(acc[0], xr));
    const auto z = VT::sigmoid(VT::add(acc[1], xz));
    const auto e = VT::add(acc[2], VT::load(b_hn + j, m));  // W_hn h + b_hn
    const auto nn = VT::tanh(VT::fma(r, e, xn));
    finish(b, t, j, m, r, z, nn, e, hp, hn);
  };
  // ... with the input sides in a, the block's [r, z, n] vectors of an xp row
  auto reset_after_update = [&](int64_t b, int64_t s, int64_t u, const V* acc, const T* a,
                                const T* hp, T* hn) {
    reset_after_gates(b, s, u, acc, VT::load(a), VT::load(a + Wv), VT::load(a + 2 * Wv), hp,
                      hn);
  };
  if (fused) {
    // One tile over [x_t | h] per block, the n gate's sums over x_t kept apart (SplitV 2):
    // bu holds [b_ir + b_hr, b_iz + b_hz, b_in] of the block, nx the sums W_in x_t.
    auto update = [&](int64_t b, int64_t s, int64_t u, const V* acc, const T* bu, const T* hp,
                      T* hn, const T* nx) {
      reset_after_gates(b, s, u, acc, VT::load(bu), VT::load(bu + Wv),
                        VT::add(VT::load(nx), VT::load(bu + 2 * Wv)), hp, hn);
    };
    StepBarrier bar;  // the team's step barrier
#pragma omp parallel num_threads(nt)
    {
      const int p = thread_id(), q = team_size();
      fused_steps<T, kRowsRzn, 3, 2>(d, x, w->W_ih, w->W_hh, bias, 3, 1, p, q, bar,
                                     ub.begin(p, q), ub.end(p, q), wih, xp, hbuf,
                                     hbuf + (steps % 2) * B * H, update);
    }
    return;
  }
  // One thread runs without an OpenMP region (a region of one thread costs ~0.3 us, as
  // much as a whole small streaming step); its barriers return at once.
  if (reset_after && w) {
    // RNN's and LSTM's chunked loop, whose one-row steps at one thread carry the next
    // chunk's projection (rider_tile): GRU (d) at one thread 0.96 (inference) and 0.98
    // (training) of the time of its own loop before (bench_seq, 5 alternating runs).
    StepBarrier bar;  // the team's step barrier
    auto run = [&](int p, int q) {
      chunked_steps<T, kRowsRzn, 3>(d, x, w->W_ih, w->W_hh, bias, 3, 1, nt, q, bar,
                                    ub.begin(p, q), ub.end(p, q), wih, whh, xp, hbuf,
                                    reset_after_update);
    };
    if (nt == 1) return run(0, 1);
#pragma omp parallel num_threads(nt)
    run(thread_id(), team_size());
    return;
  }
  // Cho's form, or the weights packed already (gru_step: one step, no chunks to ride).
  StepBarrier bar;  // the team's step barrier
  auto body = [&](const int p, const int q) {
    const int64_t u0 = ub.begin(p, q), u1 = ub.end(p, q);
    if (w) pack_gru_blocks(*w, d.I, H, reset_after, u0, u1, wih, whh, whn);
    for (int64_t s0 = 0; s0 < steps; s0 += chunk) {
      const int64_t n = std::min(chunk, steps - s0);
      project_inputs<T, kRowsRzn, 3>(d, s0, n, x, wih, bias, 3, 1, u0, u1, xp);
      for (int64_t s = s0; s < s0 + n; ++s) {
        const T* hp = hbuf + (s % 2) * B * H;
        T* hn = hbuf + ((s + 1) % 2) * B * H;
        auto xrow = [&](int64_t b, int64_t u) { return xp + ((s - s0) * B + b) * ldx + u * 3 * Wv; };
        for (int64_t u = u0; u < u1; ++u) {
          const int64_t j = u * Wv;
          const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
          auto hrow = [&](int64_t b) { return hp + b * H; };
          if (reset_after) {
            tile_rows<T, kRowsRzn, 3>(B, H, whh + u * H * 3 * Wv, hrow, [&](int64_t b, const V* acc) {
              reset_after_update(b, s, u, acc, xrow(b, u), hp + b * H, hn + b * H);
            });
          } else {
            tile_rows<T, kRowsRz, 2>(B, H, whh + u * H * 2 * Wv, hrow, [&](int64_t b, const V* acc) {
              const T* a = xrow(b, u);
              const auto r = VT::sigmoid(VT::add(acc[0], VT::load(a)));
              const auto z = VT::sigmoid(VT::add(acc[1], VT::load(a + Wv)));
              VT::store(rz + b * 2 * H + j, r, m), VT::store(rz + b * 2 * H + H + j, z, m);
              VT::store(rh + b * H + j, VT::mul(r, VT::load(hp + b * H + j, m)), m);
            });
          }
        }
        if (!reset_after) {
          bar.wait(q);
          // n = tanh(W_in x + b_in + W_hn (r * h) + b_hn): needs all of r * h.
          for (int64_t u = u0; u < u1; ++u) {
            const int64_t j = u * Wv;
            const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
            tile_rows<T, kRowsN, 1>(B, H, whn + u * H * Wv, [&](int64_t b) { return rh + b * H; },
                               [&](int64_t b, const V* acc) {
                                 const int64_t t =
                                     time_or_carry(d, b, s, j, m, hp + b * H, hn + b * H);
                                 if (t < 0) return;
                                 const T* a = xrow(b, u);
                                 const auto nn = VT::tanh(VT::add(
                                     VT::add(acc[0], VT::load(b_hn + j, m)), VT::load(a + 2 * Wv)));
                                 finish(b, t, j, m, VT::load(rz + b * 2 * H + j, m),
                                        VT::load(rz + b * 2 * H + H + j, m), nn,
                                        VT::load(rh + b * H + j, m), hp + b * H,
                                        hn + b * H);
                               });
          }
        }
        bar.wait(q);
      }
    }
  };
  if (nt == 1) return body(0, 1);
#pragma omp parallel num_threads(nt)
  body(thread_id(), team_size());
}

template <typename T>
void gru_forward(const SeqDims& d, bool reset_after, const CellWeights<T>& w, const T* x,
                 const T* h0, T* out, T* h_n, T* gates, T* work) {
  const int64_t B = d.B, H = d.H, steps = max_length(d);
  const GruForwardLayout L(d);
  T* hbuf = work + L.h;
  gru_biases(w, H, work + L.bias);
  std::memcpy(hbuf, h0, B * H * sizeof(T));
  gru_loop(d, reset_after, &w, work + L.bias, work + L.wih, work + L.whh, work + L.whn, x, hbuf,
           work + L.rz, work + L.rh, work + L.xp, out, gates);
  zero_padding(d, out, H, H);
  if (gates) zero_padding(d, gates, 4 * H, 4 * H);
  std::memcpy(h_n, hbuf + (steps % 2) * B * H, B * H * sizeof(T));
}

template <typename T>
void gru_backward(const SeqDims& d, bool reset_after, const CellWeights<T>& w, const T* x,
                  const T* h0, const T* out, T* gates, const T* dout, const T* dh_n, T* dx,
                  T* dh0, T* dh_all, const CellGrads<T>& g, T* work) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, G = 3 * H, L4 = 4 * H, steps = max_length(d);
  const GruBackwardLayout L(d);
  T* wb = work + L.wb;
  T* wbn = work + L.wbn;
  T* dA2 = work + L.dA;  // rows of lda
  T* dn = work + L.dn;   // rows of ldn
  const int64_t lda = tile_row_stride<T>(G), ldn = tile_row_stride<T>(H);
  T* dh = work + L.dh;
  T* direct = work + L.direct;
  T* scratch = work + L.scratch;
  // Bias gradients summed in the loop, each thread over its own units (see add_bias_sums)
  T* db = g.db_ih || g.db_hh ? work + L.db : nullptr;
  if (db) std::fill_n(db, L4, T(0));
  auto add_to = [](T* sum, typename VT::V v, int m) { VT::store(sum, VT::add(VT::load(sum, m), v), m); };
  std::memcpy(dh, dh_n, B * H * sizeof(T));
  const UnitBlocks ub(H, 2 * Wv);
  const int64_t K = reset_after ? G : 2 * H;  // rows of W_hh that see h_{t-1}
  const int nt = loop_threads(B * G * H, ub.count, steps);
  StepBarrier bar;  // the team's step barrier
#pragma omp parallel num_threads(nt)
  {
    const int p = thread_id(), q = team_size();
    const int64_t u0 = ub.begin(p, q), u1 = ub.end(p, q);
    const int64_t j0 = u0 * ub.width, j1 = std::min(H, u1 * ub.width);
    pack_unit_columns(w.W_hh, H, K, H, 2, u0, u1, wb);
    if (!reset_after) pack_unit_columns(w.W_hh + 2 * H * H, H, H, H, 2, u0, u1, wbn);
    const auto one = VT::set1(T(1));
    for (int64_t s = steps - 1; s >= 0; --s) {
      T* dA = dA2 + (s % 2) * B * lda;  // rows [da_r, da_z, da_e] (Cho: [da_r, da_z, -])
      auto hprev = [&](int64_t b, int64_t t) {
        return s == 0 ? h0 + b * H : out + (prev_time(d, t) * B + b) * H;
      };
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = step_time(d, b, s);
        T* da = dA + b * lda;
        if (t < 0) {
          for (int64_t q = 0; q < 3; ++q) std::fill(da + q * H + j0, da + q * H + j1, T(0));
          std::fill(dn + b * ldn + j0, dn + b * ldn + j1, T(0));
          continue;
        }
        const int64_t off = (t * B + b) * H;
        const T* hp = hprev(b, t);
        T* gt = gates + (t * B + b) * L4;
        for (int64_t j = j0; j < j1; j += Wv) {
          const int m = static_cast<int>(std::min<int64_t>(Wv, j1 - j));
          const auto r = VT::load(gt + j, m), z = VT::load(gt + H + j, m);
          const auto nn = VT::load(gt + 2 * H + j, m), e = VT::load(gt + 3 * H + j, m);
          const auto dht = VT::add(VT::load(dh + b * H + j, m), VT::load(dout + off + j, m));
          if (dh_all) VT::store(dh_all + off + j, dht, m);
          // h_t = (1 - z) n + z h_{t-1}
          const auto dan = VT::mul(VT::mul(dht, VT::sub(one, z)), VT::fnma(nn, nn, one));
          const auto daz = VT::mul(VT::mul(dht, VT::sub(VT::load(hp + j, m), nn)),
                                   VT::mul(z, VT::sub(one, z)));
          VT::store(direct + b * H + j, VT::mul(dht, z), m);
          VT::store(gt + H + j, daz, m), VT::store(da + H + j, daz, m);
          VT::store(gt + 2 * H + j, dan, m);
          if (db) add_to(db + H + j, daz, m), add_to(db + 2 * H + j, dan, m);
          if (reset_after) {
            // n = tanh(x_n + r * e), e = W_hn h + b_hn
            const auto dar = VT::mul(VT::mul(dan, e), VT::mul(r, VT::sub(one, r)));
            VT::store(gt + j, dar, m), VT::store(da + j, dar, m);
            const auto de = VT::mul(dan, r);
            VT::store(gt + 3 * H + j, de, m), VT::store(da + 2 * H + j, de, m);
            if (db) add_to(db + j, dar, m), add_to(db + 3 * H + j, de, m);
          } else {
            VT::store(dn + b * ldn + j, dan, m);  // r's gradient needs W_hn^T da_n
          }
        }
      }
      bar.wait(q);
      if (!reset_after) {
        // n = tanh(x_n + W_hn (r * h) + b_hn): d(r * h) = da_n W_hn, own units
        for (int64_t u = u0; u < u1; ++u) {
          tile_rows<T, kRowsBack, 2>(B, H, wbn + u * H * ub.width, [&](int64_t b) { return dn + b * ldn; },
                             [&](int64_t b, const V* acc) {
                               const int64_t t = step_time(d, b, s);
                               if (t < 0) return;
                               const T* hp = hprev(b, t);
                               T* gt = gates + (t * B + b) * L4;
                               for (int v = 0; v < 2; ++v) {
                                 const int64_t j = u * ub.width + v * Wv;
                                 if (j >= H) break;
                                 const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
                                 const auto r = VT::load(gt + j, m);
                                 VT::store(direct + b * H + j,
                                           VT::fma(acc[v], r, VT::load(direct + b * H + j, m)), m);
                                 const auto dar = VT::mul(VT::mul(acc[v], VT::load(hp + j, m)),
                                                          VT::mul(r, VT::sub(one, r)));
                                 VT::store(gt + j, dar, m), VT::store(dA + b * lda + j, dar, m);
                                 if (db) add_to(db + j, dar, m);
                               }
                             });
        }
        bar.wait(q);
      }
      // h_{t-1} feeds the recurrent pre-activations through W_hh: dh = dA W_hh + direct
      for (int64_t u = u0; u < u1; ++u) {
        tile_rows<T, kRowsBack, 2>(B, K, wb + u * K * ub.width, [&](int64_t b) { return dA + b * lda; },
                           [&](int64_t b, const V* acc) {
                             if (step_time(d, b, s) < 0) return;  // ended rows keep dh
                             for (int v = 0; v < 2; ++v) {
                               const int64_t j = u * ub.width + v * Wv;
                               if (j >= H) break;
                               const int m = static_cast<int>(std::min<int64_t>(Wv, H - j));
                               VT::store(dh + b * H + j,
                                         VT::add(acc[v], VT::load(direct + b * H + j, m)), m);
                             }
                           });
      }
    }
  }
  std::memcpy(dh0, dh, B * H * sizeof(T));
  if (dh_all) zero_padding(d, dh_all, H, H);
  const int64_t TB = d.T * B;
  input_projection_backward(d, G, gates, L4, x, w.W_ih, dx, g.dW_ih, scratch);
  // r and z rows of W_hh see h_{t-1}
  add_recurrent_weight_grad(d, gates, L4, 2 * H, out, h0, g.dW_hh, scratch);
  if (reset_after) {
    // e = W_hn h_{t-1} + b_hn received da_n * r, stored in column block 3
    add_recurrent_weight_grad(d, gates + 3 * H, L4, H, out, h0, g.dW_hh + 2 * H * H, scratch);
  } else {
    // W_hn acts on r * h_{t-1}, kept in column block 3
    gemm<T>(true, false, H, H, TB, T(1), gates + 2 * H, L4, gates + 3 * H, L4, T(1),
            g.dW_hh + 2 * H * H, H);
  }
  if (db) {
    // b_ih: [r, z, n]. b_hh: [r, z, b_hn], where b_hn sits in e = W_hn h + b_hn, or (Cho)
    // straight in n's pre-activation.
    add_bias_sums<T>(db, G, g.db_ih, nullptr);
    add_bias_sums<T>(db, 2 * H, g.db_hh, nullptr);
    if (g.db_hh) add_bias_sums<T>(db + (reset_after ? 3 : 2) * H, H, g.db_hh + 2 * H, nullptr);
  }
}

// ---- streaming: weights packed once, then one step at a time ----
// packed: [bias (6H, padded to a cache line) | W_ih blocks (3 Hp I) |
//          W_hh blocks (3 Hp H, Cho: 2 Hp H) | W_hn (Cho)]
int64_t gru_packed_size(int64_t I, int64_t H) {
  const int64_t Hp = padded_units(H);
  return cache_line(6 * H) + 3 * Hp * I + 3 * Hp * H + Hp * H;
}

// xp (B, 3 Hp) + h (2, B, H) + rz (B, 2H) + rh (B, H) + out (B, H)
int64_t gru_step_workspace_size(int64_t B, int64_t I, int64_t H) {
  (void)I;
  return B * 3 * padded_units(H) + 6 * B * H;
}

template <typename T>
void gru_pack(const CellWeights<T>& w, int64_t I, int64_t H, bool reset_after, T* packed) {
  std::fill_n(packed, gru_packed_size(I, H), T(0));  // gaps and padding: deterministic
  const int64_t Hp = padded_units(H);
  gru_biases(w, H, packed);
  T* wih = packed + cache_line(6 * H);
  T* whh = wih + 3 * Hp * I;
  pack_gru_blocks(w, I, H, reset_after, 0, UnitBlocks(H, Vec<T>::W).count, wih, whh,
                  whh + 3 * Hp * H);
}

template <typename T>
void gru_step(const T* packed, bool reset_after, int64_t B, int64_t I, int64_t H, const T* x,
              T* h, T* work) {
  const int64_t Hp = padded_units(H);
  const SeqDims d{1, B, I, H, nullptr, false};
  T* xp = work;
  T* hbuf = xp + B * 3 * Hp;
  T* rz = hbuf + 2 * B * H;
  T* rh = rz + 2 * B * H;
  T* out = rh + B * H;
  std::memcpy(hbuf, h, B * H * sizeof(T));
  // The loop writes through the weight pointers only when asked to pack (w != nullptr).
  T* wih = const_cast<T*>(packed + cache_line(6 * H));
  T* whh = wih + 3 * Hp * I;
  gru_loop<T>(d, reset_after, nullptr, packed, wih, whh, whh + 3 * Hp * H, x, hbuf, rz, rh, xp,
              out, nullptr);
  std::memcpy(h, hbuf + B * H, B * H * sizeof(T));
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

template void gru_pack<float>(const CellWeights<float>&, int64_t, int64_t, bool, float*);
template void gru_pack<double>(const CellWeights<double>&, int64_t, int64_t, bool, double*);
template void gru_step<float>(const float*, bool, int64_t, int64_t, int64_t, const float*, float*,
                              float*);
template void gru_step<double>(const double*, bool, int64_t, int64_t, int64_t, const double*,
                               double*, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
