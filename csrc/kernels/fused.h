// The machinery behind the fast time loops, shared by the cell kernels of one SIMD target.
//
// Threads own blocks of U hidden units (U = vector width) for the whole call. Each thread
// packs the weight rows of its own units once, computes the input projection of its own
// units a chunk of steps at a time, and in every step runs a register tile
// (MR rows x NG vectors) over the recurrent weights whose accumulators go straight into
// the cell's update: gate pre-activations never touch memory unless a cache wants them.
// Where the weights stay in cache (fuse_projection), RNN, LSTM and the reset-after GRU fold
// the projection into the step instead: one tile over [x_t | h] against [W_ih; W_hh]
// (fused_steps; GRU's with the n gate's input sums kept apart, tile_rows_split).
// Threads meet at one barrier per step (the new h must be complete before anyone reads it):
// a StepBarrier, not OpenMP's.
#pragma once
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <type_traits>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "common.h"
#include "scratch.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows of a register tile scale with the register file: AVX-512 has 32 vector registers,
// the other targets 16, so its tiles take twice the rows for the same share of registers.
constexpr int kTileRows = kVecRegisters / 16;

// H rounded up to whole unit blocks of every target and dtype (at most 2 x 16 lanes):
// workspace and packed sizes are the same on every target.
inline int64_t padded_units(int64_t H) { return ceil_div(H, 32) * 32; }

// Workspace offsets (in elements) rounded up to 64 bytes for every dtype: with the
// workspace itself aligned, packed weights and state rows start on a cache line.
inline int64_t cache_line(int64_t n) { return ceil_div(n, 16) * 16; }

// A row stride for rows of n elements that a register tile reads several of at once: a
// whole number of cache lines, but not a multiple of 1 KB. At a multiple of 4 KB (LSTM's
// 4H for H = 256, 512, ...) the tile's 12 rows all fall into one set of L1 and evict each
// other.
template <typename T>
int64_t tile_row_stride(int64_t n) {
  const int64_t line = 64 / static_cast<int64_t>(sizeof(T));
  const int64_t ld = ceil_div(n, line) * line;
  return (ld * static_cast<int64_t>(sizeof(T))) % 1024 == 0 ? ld + line : ld;
}
// Elements to reserve for such a row whatever T is (float or double).
inline int64_t tile_row_room(int64_t n) { return cache_line(n) + 16; }

// Units [0, H) in blocks of `width`; a contiguous run of blocks per thread.
struct UnitBlocks {
  int64_t width, count;  // units per block, number of blocks
  UnitBlocks(int64_t H, int64_t w) : width(w), count(ceil_div(H, w)) {}
  int64_t begin(int p, int nt) const { return count * p / nt; }
  int64_t end(int p, int nt) const { return count * (p + 1) / nt; }
};

// Threads for a time loop: the recurrence needs a barrier per step, which only pays when
// a step has enough work (parallel_min_work(), see threads.h). The threshold was measured
// with AVX-512 (Zen 5, threads.cpp). The narrower targets do less work per FMA
// instruction: on AVX2 (Zen 3, 2 cores with 512 KB of L2 each) 2 threads took LSTM and
// GRU of shape (d) (B=1, H=128: 65K and 49K FMAs a step) from 7.0 to 4.4 and 5.2 to 3.3 ms
// (inference), 17.6 to 12.1 and 13.5 to 8.8 ms (training; medians of 8 interleaved
// rounds), RNN (16K) gained nothing: so 2x the threshold there.
// A single step (streaming) pays for a whole OpenMP region (about 1 us for 2 threads) and
// otherwise costs little since it runs in one pass (run_step_panels): 6x, on every target.
// Zen 5, 2 threads forced vs 1 (B=1, I=H, Python stream, medians of 7 interleaved runs):
// 1 thread won up to 65K FMAs (LSTM H=128 3.98 vs 3.99 us, RNN H=256 3.9 vs 4.5), 2 won
// from 110K (GRU H=192 12.0 vs 7.0 us, LSTM H=192 13.1 vs 5.6), where the weights stop
// fitting one core's L2.
inline int loop_threads(int64_t fmas_per_step, int64_t blocks, int64_t steps) {
  const int nt = get_num_threads();
  const int64_t scale = steps == 1 ? 6 : kVecRegisters >= 32 ? 1 : 2;
  if (fmas_per_step < parallel_min_work() * scale) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, blocks)));
}

// Row b's time at step s (step_time), or -1 once its sequence has ended, and then its
// state carried over: units [j, j + m) of its old h (hp) copied to its new h (hn), as every
// cell's update does for an ended row.
template <typename T>
inline int64_t time_or_carry(const SeqDims& d, int64_t b, int64_t s, int64_t j, int m,
                             const T* hp, T* hn) {
  const int64_t t = step_time(d, b, s);
  if (t < 0) Vec<T>::store(hn + j, Vec<T>::load(hp + j, m), m);
  return t;
}

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Threads of the current team. Work is split by it, never by the count asked for: inside
// a caller's parallel region (nested) or with OMP_DYNAMIC / OMP_THREAD_LIMIT the team can
// be smaller, and blocks split by the asked-for count would go uncomputed.
inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// The barrier a time loop's team meets at every step. Each call's team makes its own
// (declared before the parallel region) and every thread calls wait(q) with the team's
// size q. A team of one returns at once. Otherwise the last thread to arrive advances a
// generation count that the others spin on: its store (seq_cst, for the sleepers below;
// release is what the data needs) and their acquire loads order each thread's writes of
// the step (h, gate gradients) before every thread's reads of the next. A thread that
// waits long (a preempted peer: an oversubscribed machine) stops spinning after 16K
// pauses (50 us to 1 ms on x86, less where the pause is cheaper) and sleeps: on Linux on
// a futex on the generation, woken by the last to arrive only when someone sleeps;
// elsewhere it only yields, in a loop. With OMP_WAIT_POLICY=passive (exactly that word,
// any case) it does not spin.
// libgomp's `omp barrier` makes a futex system call (FUTEX_WAKE) at every barrier, even
// in a team of one and when no thread sleeps: 0.24 us per barrier at 1 thread and 0.26 at
// 2 (Zen 4 guest, 200K barriers in a loop), against 3.6 us for a whole step of LSTM (d)
// (B = 1, H = 128) at 1 thread.
class StepBarrier {
 public:
  void wait(int q) {
    if (q <= 1) return;
    // Read before arriving: the generation cannot move on until this thread has arrived.
    const unsigned gen = generation_.load(std::memory_order_relaxed);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == q - 1) {
      arrived_.store(0, std::memory_order_relaxed);  // before the others can arrive again
      // seq_cst with the sleepers count: either a sleeper sees the new generation before
      // it sleeps, or this sees the sleeper and wakes it.
      generation_.store(gen + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) wake();
      return;
    }
    const int spin = passive() ? 0 : kSpins;
    for (int n = 0; generation_.load(std::memory_order_acquire) == gen; ++n) {
      if (n < spin) {
        pause();
        continue;
      }
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      sleep(gen);  // returns at once if the generation has moved on
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

 private:
  static constexpr int kSpins = 1 << 14;
  static bool passive() {  // OMP_WAIT_POLICY=passive (any case), read once
    static const bool p = [] {
      const char* v = std::getenv("OMP_WAIT_POLICY");
      if (!v) return false;
      std::string s(v);
      for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s == "passive";
    }();
    return p;
  }
  static void pause() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
#if defined(__linux__)
  // std::atomic<unsigned> is a plain 32-bit word here (static_assert below).
  int* word() { return reinterpret_cast<int*>(&generation_); }
  void sleep(unsigned gen) {
    syscall(SYS_futex, word(), FUTEX_WAIT_PRIVATE, static_cast<int>(gen), nullptr, nullptr, 0);
  }
  void wake() { syscall(SYS_futex, word(), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0); }
#else
  void sleep(unsigned) { std::this_thread::yield(); }
  void wake() {}
#endif
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<unsigned> generation_{0};
  std::atomic<int> sleepers_{0};
  static_assert(sizeof(std::atomic<unsigned>) == 4 && std::atomic<unsigned>::is_always_lock_free,
                "the futex needs a plain 32-bit generation word");
};

// Pack the rows of W (rows g*H + unit, K columns) of unit blocks [u0, u1) for G gates:
//   out[u][k][g][s][lane] = W[(g*H + u*S*Wv + s*Wv + lane) * ldw + k],  0 past H,
// where S vectors of Wv lanes make a block. Each block is K*G*S*Wv elements;
// pack_gate_block writes block u at o, pack_gate_rows blocks [u0, u1) at out + u * size.
// A transpose, done in Wv x Wv blocks in registers (Vec::transpose) where a block is
// whole, element by element at the edges. Element by element throughout, with each of
// a block's rows a separate stream, LSTM (c) (32 MB of weights) spent 18 of a 102 ms
// forward packing; blocked, a 16 MB matrix packs in about 1 ms (Zen 5, AVX-512).
template <typename T>
void pack_gate_block(const T* W, int64_t ldw, int64_t G, int64_t H, int64_t K, int S,
                     int64_t u, T* o) {
  constexpr int Wv = Vec<T>::W;
  const int64_t bw = int64_t(S) * Wv, ld = G * bw, kfull = K / Wv * Wv;
  for (int64_t g = 0; g < G; ++g)
    for (int s = 0; s < S; ++s) {
      const int64_t unit0 = u * bw + s * Wv;
      const int64_t lanes = std::max<int64_t>(0, std::min<int64_t>(Wv, H - unit0));
      const T* src = lanes > 0 ? W + (g * H + unit0) * ldw : W;  // padding reads nothing
      T* dst = o + g * bw + s * Wv;
      int64_t k = 0;
      if (lanes == Wv)
        for (; k < kfull; k += Wv) Vec<T>::transpose(src + k, ldw, dst + k * ld, ld);
      for (; k < K; ++k)
        for (int64_t l = 0; l < Wv; ++l) dst[k * ld + l] = l < lanes ? src[l * ldw + k] : T(0);
    }
}

template <typename T>
void pack_gate_rows(const T* W, int64_t ldw, int64_t G, int64_t H, int64_t K, int S,
                    int64_t u0, int64_t u1, T* out) {
  const int64_t per = K * G * S * Vec<T>::W;
  for (int64_t u = u0; u < u1; ++u) pack_gate_block(W, ldw, G, H, K, S, u, out + u * per);
}

// Panels for single steps (streaming): per unit block, the rows of W_ih and then of W_hh,
// one panel of K = I + H rows that a step runs over [x_b | h_b] in one pass, with no
// separate input projection. Blocks of S vectors, (I + H) * G * S * Wv elements each.
template <typename T>
void pack_step_panels(const T* W_ih, const T* W_hh, int64_t G, int64_t H, int64_t I, int S,
                      T* out) {
  const int64_t bw = int64_t(S) * Vec<T>::W, count = ceil_div(H, bw);
  for (int64_t u = 0; u < count; ++u) {
    T* o = out + u * (I + H) * G * bw;
    pack_gate_block(W_ih, I, G, H, I, S, u, o);
    pack_gate_block(W_hh, H, G, H, H, S, u, o + I * G * bw);
  }
}

// Pack the columns of W (K rows, ldw stride) of unit blocks [u0, u1) (S vectors each):
//   out[u][k][s*Wv + lane] = W[k * ldw + u*S*Wv + s*Wv + lane],  0 past H.
template <typename T>
void pack_unit_columns(const T* W, int64_t ldw, int64_t K, int64_t H, int S, int64_t u0,
                       int64_t u1, T* out) {
  constexpr int Wv = Vec<T>::W;
  const int64_t bw = int64_t(S) * Wv;
  for (int64_t u = u0; u < u1; ++u) {
    T* o = out + u * K * bw;
    const int64_t n = std::min(bw, H - u * bw);
    for (int64_t k = 0; k < K; ++k, o += bw) {
      std::copy_n(W + k * ldw + u * bw, n, o);
      std::fill(o + n, o + bw, T(0));
    }
  }
}

// acc[r][v] = sum_k a[r][k] * panel[k][v]  for MR rows and NV vectors; then epi(r, acc[r]).
// The panel is K x NV vectors, contiguous.
// With cin, the sums start from cin[r][v] (partial sums of earlier k); with cout, they
// are stored there instead of going to epi (more k to come). Both (MR, NV, W) blocks.
// With PF, each k also prefetches the panel rows PD k ahead (past a slice's end that is
// the next slice, the panel being contiguous): the first tile over a slice pulls it from
// L2/L3, later tiles find it in L2 (in L1 if it fits). Distance: on AVX-512, 32 k. An LSTM tile there
// (6 x 4 vectors) spends 12 cycles of FMAs per k, so 8 k ahead is about 100 cycles, less
// than L3's latency, and LSTM (a)'s 1 MB of packed W_hh does not stay in L2 beside the
// projections at one thread. With 16 registers 8 k.
// Tiny tiles (fewer than 8 accumulators: B = 1, or RNN and GRU at B = 2) do not prefetch:
// a k of theirs is a few cycles, so the hardware prefetcher keeps ahead of the stream
// unaided, and the prefetches (one per cache line) only took load slots. Zen 4, bench_seq
// (d), 1 thread, minimum of 4 alternating runs, 32 k -> none: AVX-512 inference RNN 0.98,
// LSTM 0.99, GRU 0.96, training 0.97-0.99; AVX2 0.94-0.97. Streaming single steps
// (bench_step, B = 1, 4 runs) gained most, where the weights come from L3: H = 512 RNN 31
// -> 24 us, GRU 92 -> 73, LSTM 124 -> 92 (AVX2 alike); H = 32 LSTM 0.46 -> 0.39; H = 128
// within noise.
// Zen 5, 1 thread, bench_seq, minimum of each run, 4-8 alternating pairs, 8 -> 32 k
// (measured with chunked projections, before RNN and LSTM (a) fused them):
// AVX-512 inference LSTM (a) 0.97, (c) 0.93, RNN (a) 0.98, (c) 0.97, GRU within noise;
// training LSTM (c) 0.93, the rest within noise; 64 k no better than 32. AVX2 with 32 k:
// LSTM (a) inference 1.11 (4 of 4 pairs), (c) 1.04, so it keeps 8.
template <typename T, int MR, int NV, bool PF = false, typename Epi>
inline void tile(int64_t K, const T* const* a, const T* panel, Epi&& epi,
                 const T* cin = nullptr, T* cout = nullptr) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int64_t PD = kVecRegisters >= 32 ? 32 : 8;
  auto prefetch = [](const T* p) {
    if constexpr (PF && MR * NV >= 8) {  // not tiny tiles (above)
#if defined(__GNUC__)
      for (int v = 0; v < NV; ++v) __builtin_prefetch(p + (PD * NV + v) * VT::W, 0, 3);
#endif
    }
  };
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = cin ? VT::load(cin + (r * NV + v) * VT::W) : VT::zero();
  if (MR * NV < 8) {
    // Too few accumulators to hide the FMA latency (4-5 cycles, 2 ports): run odd k into a
    // second set. With exact-size remainder tiles (below) this took LSTM shape (d)
    // (B=1, T=1000, I=64, H=128) from 6.1 to 4.5 ms per forward on one thread.
    V acc2[MR][NV];
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) acc2[r][v] = VT::zero();
    int64_t k = 0;
    for (; k + 1 < K; k += 2) {
      const T* p = panel + k * NV * VT::W;
      prefetch(p), prefetch(p + NV * VT::W);
      for (int r = 0; r < MR; ++r) {
        const V x0 = VT::set1(a[r][k]), x1 = VT::set1(a[r][k + 1]);
        for (int v = 0; v < NV; ++v) {
          acc[r][v] = VT::fma(x0, VT::load(p + v * VT::W), acc[r][v]);
          acc2[r][v] = VT::fma(x1, VT::load(p + (NV + v) * VT::W), acc2[r][v]);
        }
      }
    }
    if (k < K) {
      const T* p = panel + k * NV * VT::W;
      for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v)
          acc[r][v] = VT::fma(VT::set1(a[r][k]), VT::load(p + v * VT::W), acc[r][v]);
    }
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = VT::add(acc[r][v], acc2[r][v]);
  } else if (MR < NV) {
    // Keep the MR broadcasts live and stream the NV weight vectors: MR + 1 + MR*NV
    // registers (AVX2 LSTM 3 x 4: 16, where the other order needs 17 and spills). LSTM
    // shape (a) inference, 1 thread, CPU time: 65 -> 82 GFLOP/s. (AVX-512 LSTM, 6 x 4,
    // takes the branch below: 4 + 1 + 24 of 32 registers.)
    for (int64_t k = 0; k < K; ++k) {
      const T* p = panel + k * NV * VT::W;
      prefetch(p);
      V x[MR];
      for (int r = 0; r < MR; ++r) x[r] = VT::set1(a[r][k]);
      for (int v = 0; v < NV; ++v) {
        const V w = VT::load(p + v * VT::W);
        for (int r = 0; r < MR; ++r) acc[r][v] = VT::fma(x[r], w, acc[r][v]);
      }
    }
  } else {
    // NV weight vectors live, one broadcast at a time: NV + 1 + MR*NV registers.
    for (int64_t k = 0; k < K; ++k) {
      const T* p = panel + k * NV * VT::W;
      prefetch(p);
      V w[NV];
      for (int v = 0; v < NV; ++v) w[v] = VT::load(p + v * VT::W);
      for (int r = 0; r < MR; ++r) {
        const V x = VT::set1(a[r][k]);
        for (int v = 0; v < NV; ++v) acc[r][v] = VT::fma(x, w[v], acc[r][v]);
      }
    }
  }
  if (cout) {
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) VT::store(cout + (r * NV + v) * VT::W, acc[r][v]);
    return;
  }
  for (int r = 0; r < MR; ++r) epi(r, acc[r]);
}

// The last, partial block of rows: a tile of exactly `rows` (< MR) rows.
template <typename T, int R, int NV, bool PF, typename Epi>
inline void tile_partial(int rows, int64_t K, const T* const* a, const T* panel, Epi&& epi,
                         const T* cin, T* cout) {
  if constexpr (R > 0) {
    if (rows == R) return tile<T, R, NV, PF>(K, a, panel, epi, cin, cout);
    tile_partial<T, R - 1, NV, PF>(rows, K, a, panel, epi, cin, cout);
  }
}

// Partial sums of one thread's tiles between k blocks; grown once per thread, never on a
// step (the sizes do not change within a call).
template <typename T>
T* tile_sums(int64_t n) {
  thread_local ScratchBuffer<T> buf;
  return buf.get(static_cast<size_t>(n));
}

// Run `tile` over rows [0, M) in blocks of MR. row(i) gives row i's pointer; epi(i, acc)
// gets the global row index. A K whose panel is larger than 256 KB is cut into blocks of
// at most that, each swept over all rows before the next, so that the panel is re-read
// from L2 for every block of rows, not from L3 or memory. Smaller panels are not cut:
// each tile streams its panel from L2 and keeps its sums in registers throughout. Slices
// of 16 KB (to stay in L1) cost more in stored and reloaded partial sums than they saved.
// Zen 5, 1 thread, bench_seq, minimum of each run, 3-4 alternating pairs, 16 KB -> uncut:
// AVX-512 inference LSTM (a) 0.93, (b) 0.96, (c) 0.93, GRU (b) 0.95, (c) 0.94, RNN (c)
// 0.93, others and training within noise; AVX2 LSTM (a) 0.86 inference / 0.91 training,
// (c) 0.86 / 0.94, GRU within noise. 64 KB slices were in between.
template <typename T, int MR, int NV, typename RowPtr, typename Epi>
inline void tile_rows(int64_t M, int64_t K, const T* panel, RowPtr&& row, Epi&& epi) {
  using VT = Vec<T>;
  constexpr int64_t KC = std::max<int64_t>(32, (256 << 10) / (NV * VT::W * sizeof(T)));
  const T* a[MR];
  T* sums = K > KC ? tile_sums<T>(ceil_div(M, MR) * MR * NV * VT::W) : nullptr;
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kl = sums ? std::min(KC, K - k0) : K;
    const bool first = k0 == 0, last = k0 + kl >= K;
    for (int64_t i0 = 0; i0 < M; i0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, M - i0));
      for (int r = 0; r < rows; ++r) a[r] = row(i0 + r) + k0;
      auto e = [&](int r, const typename VT::V* acc) { epi(i0 + r, acc); };
      T* c = sums ? sums + i0 * NV * VT::W : nullptr;
      const T* p = panel + k0 * NV * VT::W;
      const T* cin = first ? nullptr : c;
      T* cout = last ? nullptr : c;
      auto run = [&](auto prefetch) {
        constexpr bool PF = decltype(prefetch)::value;
        if (rows == MR) tile<T, MR, NV, PF>(kl, a, p, e, cin, cout);
        else tile_partial<T, MR - 1, NV, PF>(rows, kl, a, p, e, cin, cout);
      };
      // The first tile over this slice brings it in (tiny tiles leave it to the hardware).
      if (i0 == 0) run(std::true_type{});
      else run(std::false_type{});
    }
    if (!sums) break;
  }
}

// tile_rows over K = K1 + K2 (panel rows [0, K1) then [K1, K1 + K2)) that keeps vector SV of
// the first K1's sums apart: epi(i, acc, first) gets acc summed over all of K except
// acc[SV], summed over the last K2 only, and `first`, vector SV's sum over the first K1.
// GRU's n gate needs W_in x and W_hn h apart (r multiplies the second). Each block of rows
// stores its sums once at K1 (MR x NV vectors) and reloads them: K is not cut into slices
// as tile_rows does for panels past 256 KB.
template <typename T, int MR, int NV, int SV, typename RowPtr, typename Epi>
inline void tile_rows_split(int64_t M, int64_t K1, int64_t K2, const T* panel, RowPtr&& row,
                            Epi&& epi) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int W = VT::W;
  static_assert(SV >= 0 && SV < NV, "the vector kept apart is one of the tile's");
  alignas(64) T part[MR * NV * W];
  alignas(64) T first[MR * W];
  const T* a[MR];
  const T* a2[MR];
  const T* panel2 = panel + K1 * NV * W;
  for (int64_t i0 = 0; i0 < M; i0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, M - i0));
    for (int r = 0; r < rows; ++r) a[r] = row(i0 + r), a2[r] = a[r] + K1;
    auto none = [](int, const V*) {};
    auto e = [&](int r, const V* acc) { epi(i0 + r, acc, static_cast<const T*>(first + r * W)); };
    auto run = [&](auto prefetch) {
      constexpr bool PF = decltype(prefetch)::value;
      if (rows == MR) tile<T, MR, NV, PF>(K1, a, panel, none, nullptr, part);
      else tile_partial<T, MR - 1, NV, PF>(rows, K1, a, panel, none, nullptr, part);
      for (int r = 0; r < rows; ++r) {
        T* v = part + (r * NV + SV) * W;
        VT::store(first + r * W, VT::load(v));
        VT::store(v, VT::zero());
      }
      if (rows == MR) tile<T, MR, NV, PF>(K2, a2, panel2, e, part, nullptr);
      else tile_partial<T, MR - 1, NV, PF>(rows, K2, a2, panel2, e, part, nullptr);
    };
    if (i0 == 0) run(std::true_type{});  // the first tile over the panel brings it in (tile)
    else run(std::false_type{});
  }
}

// Workspace of run_step_panels: xh (B x (I + H)), then pre (B x blocks x NV vectors, at
// most G vectors of Hp units per row).
inline int64_t step_panels_workspace(int64_t B, int64_t I, int64_t H, int64_t G) {
  return cache_line(B * (I + H)) + B * G * padded_units(H);
}

// One step of B rows through pack_step_panels' panels (blocks of S vectors, NV = G * S
// accumulators): xh gets the rows [x_b | h_b], each unit block runs one register tile over
// them into pre, and then fin(b, u, pre of row b, block u) finishes every row of the
// blocks. The old h is read from xh only, so fin may write the new h in place; threads own
// unit blocks and need no barrier. One thread opens no OpenMP region. The activations
// after all the tiles rather than after each: independent of each other and of the loads,
// they overlap; LSTM, B=1, bench_step (Zen 5, 3 interleaved runs): H=128 3.21 -> 3.08 us,
// H=512 84.4 -> 78.5. work: step_panels_workspace(B, I, H, G) elements.
template <typename T, int MR, int NV, typename Fin>
void run_step_panels(int64_t B, int64_t I, int64_t H, int S, const T* panels, const T* x,
                     const T* h, T* work, Fin&& fin) {
  using VT = Vec<T>;
  const int64_t K = I + H, bw = int64_t(S) * VT::W, G = NV / S;
  const UnitBlocks ub(H, bw);
  T* xh = work;
  T* pre = work + cache_line(B * K);
  for (int64_t b = 0; b < B; ++b) {
    std::copy_n(x + b * I, I, xh + b * K);
    std::copy_n(h + b * H, H, xh + b * K + I);
  }
  auto at = [&](int64_t b, int64_t u) { return pre + (b * ub.count + u) * NV * VT::W; };
  auto blocks = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u)
      tile_rows<T, MR, NV>(B, K, panels + u * K * NV * VT::W,
                           [&](int64_t b) { return xh + b * K; },
                           [&](int64_t b, const typename VT::V* acc) {
                             for (int v = 0; v < NV; ++v) VT::store(at(b, u) + v * VT::W, acc[v]);
                           });
    for (int64_t b = 0; b < B; ++b)
      for (int64_t u = u0; u < u1; ++u) fin(b, u, at(b, u));
  };
  const int nt = loop_threads(B * G * H * H, ub.count, 1);
  if (nt <= 1) return blocks(0, ub.count);
#pragma omp parallel num_threads(nt)
  {
    const int p = thread_id(), q = team_size();
    blocks(ub.begin(p, q), ub.end(p, q));
  }
}

// Steps whose input projection is computed together: at least 96 rows (Tc * B), for the
// tile to reach full speed, and at least I rows, so that the chunk's projections (rows x
// G*Hp) take as much memory as the packed W_ih (I x G*Hp) that each chunk streams
// through once: the weights are then at most half of a chunk's memory traffic. Small
// weights keep chunks small and in cache; large ones (I = 1024) get long chunks. Shape (c)
// (B=16, T=50, I=H=1024) had 6-step chunks, each streaming W_ih (12 MB GRU, 16 MB LSTM)
// from memory; now one. Forward, 1 thread, medians of 4 interleaved runs of bench_seq
// (Zen 5): GRU (c) 68.4 -> 57.4 ms, LSTM (c) 92.3 -> 86.9, RNN (c) 18.7 -> 17.5; 2 threads
// GRU 33 -> 28, LSTM 47 -> 40; shapes (a), (b), (d) and training unchanged. All steps in
// one chunk whatever the weights made LSTM (a) (1 MB of W_ih, 26 MB of projections)
// 35 -> 42-49 ms.
inline int64_t projection_chunk(int64_t B, int64_t I, int64_t steps) {
  return std::max<int64_t>(1, std::min<int64_t>(steps, ceil_div(std::max<int64_t>(96, I), B)));
}

// Whether a forward computes the input projection inside each step's register tile, over
// the rows [x_t | h] against one [W_ih; W_hh] panel per unit block (fused_steps), instead
// of for a chunk of steps ahead of them (project_inputs) and adding it in the update. It
// pays with whole tiles of rows (B >= MR) and weights that stay in cache (at most 2M
// elements, 8 MB of float): each step then streams its panels from L2/L3 and nothing
// else, where the chunked form writes the projections and reads them back, and its W_ih,
// projections and W_hh compete for L2. RNN, LSTM and the reset-after GRU, whose n gate
// takes its input sums apart from its recurrent ones (tile_rows_split); Cho's GRU stays
// chunked (its n gate's recurrent part acts on r * h, complete only after every block's r).
// Streaming steps (weights packed ahead, gru_step) stay chunked. GRU on a Zen 4, chunked ->
// fused (bench_seq as below; avx512, 1 thread 8 pairs, 2 threads 4): inference (a)
// 0.97-0.98, (b) 0.98-0.99, training 0.98-1.00; 2 threads (a) 0.87, (b) 0.97; avx2 (6
// pairs) inference (a) 0.94, (b) 0.99, training 0.98-1.00. RNN and LSTM on a Zen 5, 1
// thread, bench_seq, minimum of each run, 4-6 pairs in alternating order, chunked ->
// fused: inference RNN (a) 0.94, (b) 0.91, (c) (8 MB) 0.93, LSTM (a) 0.93, (b) 0.96, 32x100x512x512 (8 MB) 0.97; training RNN
// 0.94-0.96, LSTM 0.99; 2 threads LSTM (a) 0.95, (b) 0.93, RNN (a) level within noise.
// Larger weights lose: LSTM 32x50x768x768 (18 MB) 1.02, 64x50x1024x1024 (32 MB) 1.02,
// (c) (B = 16, 32 MB) 1.5.
// projection_mode() (threads.h) can force either path, for tests.
inline bool fuse_projection(const SeqDims& d, int64_t G, int MR) {
  const ProjectionMode mode = projection_mode();
  if (mode != ProjectionMode::automatic) return mode == ProjectionMode::fused;
  return d.B >= MR && G * padded_units(d.H) * (d.I + d.H) <= (int64_t(2) << 20);
}

// Whether this target's one-row forwards may carry riders (rider_rows > 0 for some T).
constexpr bool kRiders = kVecRegisters >= 32;

// Room for a forward's projections or rows, whichever path it takes: a chunk of steps'
// projections (G * Hp values per row; project_inputs), or fused_steps' two sets of B rows
// [x_t | h], one per parity of the step. Both, so that the workspace does not depend on
// projection_mode().
inline int64_t projection_room(const SeqDims& d, int64_t G) {
  const int64_t chunk = projection_chunk(d.B, d.I, d.T);
  // one row, where riders may run: the next chunk's too (chunked_steps)
  const int64_t chunks = d.B == 1 && kRiders ? 2 : 1;
  return std::max(chunks * chunk * d.B * G * padded_units(d.H), 2 * d.B * tile_row_room(d.I + d.H));
}

// The time loop of a forward with the projection fused (fuse_projection), run by every
// thread p of a team of q for its unit blocks [u0, u1) (S vectors each, G gates, NV = G*S
// accumulators). It packs the blocks' [W_ih; W_hh] panels into `panels` (the layout of
// pack_step_panels), stages each step's rows [x_t | h] in `rows` (projection_room; h0
// from h0, rows whose sequence has ended get zeros for x) and in each step and block runs
// the register tile over them, then
//   update(b, s, u, acc, bias, hp, hn)
// for every row b: bias holds the block's NV bias vectors (gate g, vector v at
// (g * S + v) * Wv, 0 past H), hp / hn are row b's old h and the row its new h goes to
// (the block's units at u * S * Wv). An ended row's update must copy hp to hn. One barrier
// (bar, the team's) per step; after the last, the thread copies its units of the last h
// to hlast (B x H, which may be h0). With SplitV >= 0 the tile keeps that vector's sums
// over x_t apart (tile_rows_split): acc[SplitV] then holds the sums over h only, and
// update gets an eighth argument, the row's sums over x_t of vector SplitV (GRU's n gate).
template <typename T, int MR, int NV, int SplitV = -1, typename Update>
void fused_steps(const SeqDims& d, const T* x, const T* W_ih, const T* W_hh, const T* bias,
                 int64_t G, int S, int p, int q, StepBarrier& bar, int64_t u0, int64_t u1,
                 T* panels, T* rows, const T* h0, T* hlast, Update&& update) {
  using VT = Vec<T>;
  constexpr int Wv = VT::W;
  const int64_t B = d.B, H = d.H, I = d.I, K = I + H, steps = max_length(d);
  const int64_t bw = int64_t(S) * Wv, per = K * G * bw, ld = tile_row_stride<T>(K);
  for (int64_t u = u0; u < u1; ++u) {
    pack_gate_block(W_ih, I, G, H, I, S, u, panels + u * per);
    pack_gate_block(W_hh, H, G, H, H, S, u, panels + u * per + I * G * bw);
  }
  const int64_t b0 = B * p / q, b1 = B * (p + 1) / q;  // the rows this thread stages
  auto stage = [&](int64_t s, T* set) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t t = step_time(d, b, s);
      if (t < 0) std::fill_n(set + b * ld, I, T(0));
      else std::copy_n(x + (t * B + b) * I, I, set + b * ld);
    }
  };
  stage(0, rows);
  for (int64_t b = b0; b < b1; ++b) std::copy_n(h0 + b * H, H, rows + b * ld + I);
  bar.wait(q);
  for (int64_t s = 0; s < steps; ++s) {
    T* cur = rows + (s % 2) * B * ld;
    T* nxt = rows + ((s + 1) % 2) * B * ld;
    for (int64_t u = u0; u < u1; ++u) {
      alignas(64) T bu[NV * Wv];
      for (int64_t g = 0; g < G; ++g)
        for (int v = 0; v < S; ++v) {
          const int64_t unit = u * bw + v * Wv;
          const int m = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(Wv, H - unit)));
          VT::store(bu + (g * S + v) * Wv, m > 0 ? VT::load(bias + g * H + unit, m) : VT::zero());
        }
      auto row = [&](int64_t b) { return cur + b * ld; };
      if constexpr (SplitV >= 0) {
        tile_rows_split<T, MR, NV, SplitV>(
            B, I, H, panels + u * per, row,
            [&](int64_t b, const typename VT::V* acc, const T* first) {
              update(b, s, u, acc, static_cast<const T*>(bu), cur + b * ld + I,
                     nxt + b * ld + I, first);
            });
      } else {
        tile_rows<T, MR, NV>(B, K, panels + u * per, row,
                             [&](int64_t b, const typename VT::V* acc) {
                               update(b, s, u, acc, static_cast<const T*>(bu), cur + b * ld + I,
                                      nxt + b * ld + I);
                             });
      }
    }
    if (s + 1 < steps) stage(s + 1, nxt);
    bar.wait(q);
  }
  const T* last = rows + (steps % 2) * B * ld + I;
  const int64_t j0 = std::min(H, u0 * bw), j1 = std::min(H, u1 * bw);
  for (int64_t b = 0; b < B; ++b) std::copy(last + b * ld + j0, last + b * ld + j1, hlast + b * H + j0);
}

// Row b's input at step s (x[t(b, s)]; an ended row reads row 0's, whose result it drops).
template <typename T>
inline const T* input_row(const SeqDims& d, const T* x, int64_t s, int64_t b) {
  const int64_t t = step_time(d, b, s);
  return x + ((t < 0 ? 0 : t) * d.B + b) * d.I;
}

// One row's projection sums acc of block u (G gates x S vectors) plus bias, to o (the
// block's G * S vectors of an xp row; 0 past H).
template <typename T>
inline void store_projection(const SeqDims& d, int64_t G, int S, int64_t u, const T* bias,
                             const typename Vec<T>::V* acc, T* o) {
  using VT = Vec<T>;
  constexpr int Wv = VT::W;
  const int64_t bw = int64_t(S) * Wv;
  for (int64_t g = 0; g < G; ++g)
    for (int s = 0; s < S; ++s) {
      const int64_t unit = u * bw + s * Wv;
      const int m = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(Wv, d.H - unit)));
      const auto bv = m > 0 ? VT::load(bias + g * d.H + unit, m) : VT::zero();
      VT::store(o + (g * S + s) * Wv, VT::add(acc[g * S + s], bv));
    }
}

// Input projection of steps [s0, s0 + n) for unit blocks [u0, u1):
//   xp[(s - s0) * B + b][u][g][s'][lane] = x[t(b, s)] . W_ih rows + bias
// for active rows (others are left alone). panels = pack_gate_rows of W_ih (K = I).
// bias is (G*H) (already the sum of whatever biases the cell folds in), 0 past H.
template <typename T, int MR, int NV>
void project_inputs(const SeqDims& d, int64_t s0, int64_t n, const T* x, const T* panels,
                    const T* bias, int64_t G, int S, int64_t u0, int64_t u1, T* xp) {
  using VT = Vec<T>;
  constexpr int Wv = VT::W;
  const int64_t bw = int64_t(S) * Wv, per = d.I * G * bw, ldx = ceil_div(d.H, bw) * G * bw;
  const int64_t rows = n * d.B;
  auto row_ptr = [&](int64_t i) { return input_row(d, x, s0 + i / d.B, i % d.B); };
  for (int64_t u = u0; u < u1; ++u) {
    tile_rows<T, MR, NV>(rows, d.I, panels + u * per, row_ptr,
                         [&](int64_t i, const typename VT::V* acc) {
                           store_projection(d, G, S, u, bias, acc, xp + i * ldx + u * G * bw);
                         });
  }
}

// A one-row step tile (1 x NV over the recurrent panel, K = Kh) that carries a rider: R
// rows of input projection (R x NV over a W_ih panel, K = Kr) computed in the same loop,
// `per` = Kh / Kr recurrent k to each rider k. Alone, a one-row step streams its panel
// from L2 at about half the FMA rate (NV FMAs per NV * 64 bytes of weights) and the FMA
// units idle; the rider's FMAs fill them, where a separate projection GEMM costs its full
// time. epi(0, acc) gets the step's sums first (the next step waits on them), then
// repi(r, racc) each rider row's. Registers: NV + R * NV + NV + 2. The step's sums run in
// one chain over k, where tile<T, 1, NV> splits even and odd k: the results differ from
// tile's in the last bits (both are within the reference tolerances). With the split
// here too, the same bits, LSTM's rider tile ran out of registers and lost the gain (LSTM
// (d) 1.01-1.11 against 0.93).
template <typename T, int NV, int R, typename Epi, typename RiderEpi>
inline void rider_tile(int64_t Kh, const T* h, const T* panel, Epi&& epi, int64_t Kr,
                       const T* const* xr, const T* rpanel, RiderEpi&& repi) {
  using VT = Vec<T>;
  using V = typename VT::V;
  constexpr int W = VT::W;
  V acc[NV], racc[R][NV];
  for (int v = 0; v < NV; ++v) acc[v] = VT::zero();
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) racc[r][v] = VT::zero();
  const int64_t per = std::max<int64_t>(1, Kh / std::max<int64_t>(1, Kr));
  auto recurrent = [&](int64_t k) {
    const V hv = VT::set1(h[k]);
    const T* p = panel + k * NV * W;
    for (int v = 0; v < NV; ++v) acc[v] = VT::fma(hv, VT::load(p + v * W), acc[v]);
  };
  int64_t k = 0;
  for (int64_t kr = 0; kr < Kr; ++kr) {
    const T* rp = rpanel + kr * NV * W;
    V w[NV];
    for (int v = 0; v < NV; ++v) w[v] = VT::load(rp + v * W);
    for (int r = 0; r < R; ++r) {
      const V xv = VT::set1(xr[r][kr]);
      for (int v = 0; v < NV; ++v) racc[r][v] = VT::fma(xv, w[v], racc[r][v]);
    }
    for (const int64_t ke = std::min(Kh, k + per); k < ke; ++k) recurrent(k);
  }
  for (; k < Kh; ++k) recurrent(k);
  epi(0, static_cast<const V*>(acc));
  for (int r = 0; r < R; ++r) repi(r, static_cast<const V*>(racc[r]));
}

// Rows of projection a one-row step tile carries (rider_tile), or 0 for none: only for
// float with 32 vector registers (AVX-512), where even LSTM's (NV = 4) 26 fit. (double
// runs on portable lane arrays: float64 need not be fast.)
template <typename T, int NV>
constexpr int rider_rows() {
  constexpr int R = 4;
  return std::is_same<T, float>::value && kRiders && (R + 2) * NV + 2 <= kVecRegisters
             ? R
             : 0;
}

// The other time loop of RNN, LSTM and reset-after GRU forwards (fuse_projection false;
// GRU's packed-weight steps and Cho's form have their own), with fused_steps'
// update: the thread packs its blocks' W_ih into wih and W_hh into whh, computes the
// projections of a chunk of steps (project_inputs, into xp) and then runs those steps,
// the register tile over h only; update gets the row's projection + bias as `bias`, and
// hp / hn in hbuf's two (B, H) halves. One barrier (bar, shared by the team of q) per
// step; hbuf + (steps % 2) * B * H ends up holding the last h. nt is the thread count the
// loop asked for (loop_threads): one row with nt == 1 (float, AVX-512) computes each
// chunk's projection inside the previous chunk's steps instead (rider_tile). It is nt,
// not the team's q, that decides, so that a call inside an application's parallel region
// (a team of one) gives the same bits as outside it.
template <typename T, int MR, int NV, typename Update>
void chunked_steps(const SeqDims& d, const T* x, const T* W_ih, const T* W_hh, const T* bias,
                   int64_t G, int S, int nt, int q, StepBarrier& bar, int64_t u0, int64_t u1,
                   T* wih, T* whh, T* xp, T* hbuf, Update&& update) {
  const int64_t B = d.B, H = d.H, I = d.I, steps = max_length(d);
  const int64_t bw = int64_t(S) * Vec<T>::W, ldx = ceil_div(H, bw) * G * bw;
  const int64_t chunk = projection_chunk(B, I, steps);
  pack_gate_rows(W_ih, I, G, H, I, S, u0, u1, wih);
  pack_gate_rows(W_hh, H, G, H, H, S, u0, u1, whh);
  constexpr int R = rider_rows<T, NV>();
  if constexpr (R > 0) {
    // One row (B = 1): each step's tiles are bound by L2 bandwidth, so they carry the next
    // chunk's projection along (rider_tile), R rows of one block at a time, spread evenly
    // over the chunk's steps and blocks; xp holds two chunks (projection_room), the one
    // being read and the next. Only the first chunk is projected ahead. Zen 4, AVX-512, 1
    // thread, bench_seq minimum of 3 alternating runs, projected ahead -> riders: shape (d)
    // inference RNN 0.93, LSTM 0.92, training 0.97 / 0.96; 1x500x256x256 RNN 0.94, LSTM
    // 0.97-0.99. GRU (5 runs, against its own loop before): (d) 0.96 / 0.98, 1x500x256x256
    // 0.96. Cutting each job along K into pieces that ride more tiles (every tile about
    // one row's worth) was slower: LSTM (d) 1.03 (4 pieces), 0.96 (2).
    // One thread only: at 2, with the step's blocks split between them and a barrier per
    // step, riders were mixed (LSTM (d) 0.96-0.97, RNN (d) 1.06-1.11, LSTM 1x1000x64x64
    // 1.07); at 1 they won on every shape tried (0.93-0.97, H = 64 to 256).
    if (B == 1 && nt == 1 && steps > chunk) {
      using V = typename Vec<T>::V;
      const int64_t nb = u1 - u0, per = I * G * bw;
      T* const xq[2] = {xp, xp + chunk * ldx};
      project_inputs<T, MR, NV>(d, 0, chunk, x, wih, bias, G, S, u0, u1, xq[0]);
      for (int64_t s0 = 0, c = 0; s0 < steps; s0 += chunk, ++c) {
        const int64_t n = std::min(chunk, steps - s0), s1 = s0 + n;
        const int64_t nn = std::min(chunk, steps - s1);  // the next chunk's rows
        const int64_t jobs = nb * ceil_div(nn, R), slots = n * nb;  // jobs <= slots
        T* cur = xq[c % 2];
        T* nxt = xq[(c + 1) % 2];
        int64_t job = 0, at = 0;  // the next job and the slot it rides in
        for (int64_t s = s0; s < s1; ++s) {
          const T* hp = hbuf + (s % 2) * H;
          T* hn = hbuf + ((s + 1) % 2) * H;
          for (int64_t u = u0; u < u1; ++u) {
            auto epi = [&](int, const V* acc) {
              update(0, s, u, acc, cur + (s - s0) * ldx + u * G * bw, hp, hn);
            };
            const T* panel = whh + u * H * G * bw;
            if (job < jobs && (s - s0) * nb + (u - u0) == at) {
              const int64_t ur = u0 + job % nb, i0 = job / nb * R;
              const T* xr[R];
              for (int r = 0; r < R; ++r) xr[r] = input_row(d, x, s1 + std::min(i0 + r, nn - 1), 0);
              rider_tile<T, NV, R>(H, hp, panel, epi, I, xr, wih + ur * per,
                                   [&](int r, const V* acc) {
                                     if (i0 + r < nn)
                                       store_projection(d, G, S, ur, bias, acc,
                                                        nxt + (i0 + r) * ldx + ur * G * bw);
                                   });
              ++job;
              at = job * slots / jobs;
            } else {
              const T* a[1] = {hp};
              tile<T, 1, NV>(H, a, panel, epi);
            }
          }
          bar.wait(q);
        }
      }
      return;
    }
  }
  for (int64_t s0 = 0; s0 < steps; s0 += chunk) {
    const int64_t n = std::min(chunk, steps - s0);
    project_inputs<T, MR, NV>(d, s0, n, x, wih, bias, G, S, u0, u1, xp);
    for (int64_t s = s0; s < s0 + n; ++s) {
      const T* hp = hbuf + (s % 2) * B * H;
      T* hn = hbuf + ((s + 1) % 2) * B * H;
      for (int64_t u = u0; u < u1; ++u)
        tile_rows<T, MR, NV>(B, H, whh + u * H * G * bw, [&](int64_t b) { return hp + b * H; },
                             [&](int64_t b, const typename Vec<T>::V* acc) {
                               update(b, s, u, acc, xp + ((s - s0) * B + b) * ldx + u * G * bw,
                                      hp + b * H, hn + b * H);
                             });
      bar.wait(q);
    }
  }
}

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
