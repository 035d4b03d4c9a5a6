// The kernels called from inside an application's own OpenMP parallel region, as an
// embedding application may do (pyrnn.h: any number of threads may use a model at once).
// There the engine's own region gets a team of one thread (nested parallelism is off by
// default), and the threads of the application's team do different amounts of work.
// Checks, on every target, 2 engine threads and no work threshold, that single steps of
// every cell and whole LSTM and GRU forwards (both projection paths) give bit-for-bit what they
// give outside any region (work must be split by the team that runs, not by the thread
// count asked for), and that
// nothing waits on the application's threads (a barrier bound to the caller's team would
// hang here: ctest gives this test 60 s). Exit code = failures > 0.
#include "pyrnn/kernels.h"
#include "pyrnn/threads.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

int g_failed = 0, g_passed = 0;

uint64_t g_rng = 0x243F6A8885A308D3ull;
float uniform() {  // [-0.5, 0.5)
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return float(double(g_rng >> 11) / 9007199254740992.0 - 0.5);
}
std::vector<float> random(size_t n) {
  std::vector<float> v(n);
  for (auto& x : v) x = uniform();
  return v;
}

void expect_equal(const char* what, const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size() * 4) == 0) {
    ++g_passed;
    return;
  }
  ++g_failed;
  size_t i = 0;
  while (i < got.size() && got[i] == want[i]) ++i;
  std::printf("FAIL %s: first difference at %zu: %g vs %g\n", what, i, i < got.size() ? got[i] : 0.f,
              i < want.size() ? want[i] : 0.f);
}

#ifdef _OPENMP
// f() outside any region, and on each thread of the application's own 2-thread region
// (where the engine's region gets a team of one): the same bits.
template <typename F>
void expect_same_in_region(const char* what, F&& f) {
  const auto want = f();
  std::vector<float> got[2];
#pragma omp parallel num_threads(2)
  got[omp_get_thread_num()] = f();
  expect_equal(what, got[0], want);
  expect_equal(what, got[1], want);
}
#endif

// The outputs of an LSTM forward (inference, zero initial state) over x.
std::vector<float> lstm_out(const pyrnn::KernelTable<float>& k, const pyrnn::SeqDims& d,
                            const pyrnn::CellWeights<float>& w, const std::vector<float>& x) {
  const int64_t n = d.B * d.H;
  std::vector<float> h0(n, 0.f), c0(n, 0.f), out(d.T * n), hn(n), cn(n);
  std::vector<float> work(k.lstm_workspace_size(d, false));
  k.lstm_forward(d, w, x.data(), h0.data(), c0.data(), out.data(), hn.data(), cn.data(), nullptr,
                 nullptr, work.data());
  return out;
}

// The outputs of a reset-after GRU forward (inference, zero initial state) over x.
std::vector<float> gru_out(const pyrnn::KernelTable<float>& k, const pyrnn::SeqDims& d,
                           const pyrnn::CellWeights<float>& w, const std::vector<float>& x) {
  std::vector<float> h0(d.B * d.H, 0.f), out(d.T * d.B * d.H), hn(d.B * d.H);
  std::vector<float> work(k.gru_workspace_size(d, false));
  k.gru_forward(d, true, w, x.data(), h0.data(), out.data(), hn.data(), nullptr, work.data());
  return out;
}

// cell: 0 rnn, 1 lstm, 2 gru (reset after), 3 gru (Cho). S steps of B rows; returns h (and c).
std::vector<float> run_steps(const pyrnn::KernelTable<float>& k, int cell, const std::vector<float>& packed,
                             int64_t B, int64_t I, int64_t H, const std::vector<float>& xs, int S) {
  const int64_t nw = cell == 0 ? k.rnn_step_workspace_size(B, I, H)
                     : cell == 1 ? k.lstm_step_workspace_size(B, I, H) : k.gru_step_workspace_size(B, I, H);
  std::vector<float> h(B * H, 0.f), c(B * H, 0.f), work(nw);
  for (int s = 0; s < S; ++s) {
    const float* x = xs.data() + s * B * I;
    if (cell == 0) k.rnn_step(packed.data(), pyrnn::Activation::tanh, B, I, H, x, h.data(), work.data());
    else if (cell == 1) k.lstm_step(packed.data(), B, I, H, x, h.data(), c.data(), work.data());
    else k.gru_step(packed.data(), cell == 2, B, I, H, x, h.data(), work.data());
  }
  if (cell == 1) h.insert(h.end(), c.begin(), c.end());
  return h;
}

}  // namespace

int main() {
#ifndef _OPENMP
  std::printf("built without OpenMP: nothing to check\n");
  return 0;
#else
  pyrnn::set_num_threads(2);
  pyrnn::set_parallel_min_work(0);  // even these small steps split across the engine's threads
  const int64_t B = 3, I = 37, H = 90, S = 5;
  const char* names[] = {"rnn", "lstm", "gru", "gru (Cho)"};
  for (pyrnn::SimdTarget t : pyrnn::kAllTargets) {
    if (!pyrnn::target_supported(t)) continue;
    const auto& k = pyrnn::kernels<float>(t);
    for (int cell = 0; cell < 4; ++cell) {
      const int64_t G = cell == 0 ? 1 : cell == 1 ? 4 : 3;
      const auto W_ih = random(G * H * I), W_hh = random(G * H * H), b_ih = random(G * H),
                 b_hh = random(G * H), xs = random(S * B * I);
      const pyrnn::CellWeights<float> w{W_ih.data(), W_hh.data(), b_ih.data(), b_hh.data()};
      const int64_t n = cell == 0 ? k.rnn_packed_size(I, H)
                        : cell == 1 ? k.lstm_packed_size(I, H) : k.gru_packed_size(I, H);
      std::vector<float> packed(n);
      if (cell == 0) k.rnn_pack(w, I, H, packed.data());
      else if (cell == 1) k.lstm_pack(w, I, H, packed.data());
      else k.gru_pack(w, I, H, cell == 2, packed.data());
      const auto want = run_steps(k, cell, packed, B, I, H, xs, S);
      std::vector<float> got[2];
#pragma omp parallel num_threads(2)
      {
        // Thread 0 steps S times, thread 1 fewer: their calls do not line up.
        const int p = omp_get_thread_num();
        got[p] = run_steps(k, cell, packed, B, I, H, xs, p == 0 ? S : 2);
      }
      char what[96];
      std::snprintf(what, sizeof what, "%s %s steps inside a parallel region", pyrnn::target_name(t), names[cell]);
      expect_equal(what, got[0], want);
    }
    // A whole LSTM forward, with its input projection fused into the steps' tiles and not.
    for (const auto mode : {pyrnn::ProjectionMode::fused, pyrnn::ProjectionMode::chunked}) {
      pyrnn::set_projection_mode(mode);
      const int64_t T = 7, G = 4;
      const auto W_ih = random(G * H * I), W_hh = random(G * H * H), x = random(T * B * I);
      const pyrnn::CellWeights<float> w{W_ih.data(), W_hh.data(), nullptr, nullptr};
      const pyrnn::SeqDims d{T, B, I, H, nullptr, false};
      char what[96];
      std::snprintf(what, sizeof what, "%s lstm forward (%s projection) inside a parallel region",
                    pyrnn::target_name(t), mode == pyrnn::ProjectionMode::fused ? "fused" : "chunked");
      expect_same_in_region(what, [&]() { return lstm_out(k, d, w, x); });
      // and a GRU forward (reset-after: the form that fuses its projection)
      const auto U_ih = random(3 * H * I), U_hh = random(3 * H * H), c_ih = random(3 * H),
                 c_hh = random(3 * H);
      const pyrnn::CellWeights<float> u{U_ih.data(), U_hh.data(), c_ih.data(), c_hh.data()};
      std::snprintf(what, sizeof what, "%s gru forward (%s projection) inside a parallel region",
                    pyrnn::target_name(t), mode == pyrnn::ProjectionMode::fused ? "fused" : "chunked");
      expect_same_in_region(what, [&]() { return gru_out(k, d, u, x); });
    }
    pyrnn::set_projection_mode(pyrnn::ProjectionMode::automatic);
    {
      // One row over several projection chunks: at one thread (float, AVX-512) the steps
      // carry the next chunk's projection (rider_tile), whose sums come out in another
      // order. The engine asks for 2 threads, so inside the region (a team of one) the
      // steps must still take the 2-thread path.
      const int64_t T = 200, B1 = 1, I1 = 37, H1 = 90, G = 4;
      const auto W_ih = random(G * H1 * I1), W_hh = random(G * H1 * H1), x = random(T * I1);
      const pyrnn::CellWeights<float> w{W_ih.data(), W_hh.data(), nullptr, nullptr};
      const pyrnn::SeqDims d{T, B1, I1, H1, nullptr, false};
      char what[96];
      std::snprintf(what, sizeof what, "%s one-row lstm forward inside a parallel region",
                    pyrnn::target_name(t));
      expect_same_in_region(what, [&]() { return lstm_out(k, d, w, x); });
      // and GRU's (reset-after), whose one-row forward takes the same loop
      const auto U_ih = random(3 * H1 * I1), U_hh = random(3 * H1 * H1), c_ih = random(3 * H1),
                 c_hh = random(3 * H1);
      const pyrnn::CellWeights<float> u{U_ih.data(), U_hh.data(), c_ih.data(), c_hh.data()};
      std::snprintf(what, sizeof what, "%s one-row gru forward inside a parallel region",
                    pyrnn::target_name(t));
      expect_same_in_region(what, [&]() { return gru_out(k, d, u, x); });
    }
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed > 0;
#endif
}
