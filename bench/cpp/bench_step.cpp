// Per-step latency of the streaming kernels (<cell>_pack once, <cell>_step per step), B = 1,
// I = H, against the time the step's FLOPs take at the single-core FMA peak.
//   bench_step [peak_gflops=measured] [seconds_per_case=0.5]
// The peak is measured (pyrnn::fma_peak_gflops, the active target, 1 thread) unless given.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "pyrnn/kernels.h"
#include "pyrnn/peak.h"
#include "pyrnn/threads.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  pyrnn::set_num_threads(1);
  const double peak = argc > 1 ? std::atof(argv[1]) : pyrnn::fma_peak_gflops<float>(0.1, 3);
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.5;
  const auto& k = pyrnn::kernels<float>();
  std::printf("target %s, 1 thread, B = 1, I = H; median of 11 batches; FMA peak %.0f GFLOP/s\n",
              pyrnn::target_name(pyrnn::active_target()), peak);
  std::printf("%-5s %5s %12s %14s %8s\n", "cell", "H", "us/step", "peak us/step", "ratio");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.1f);
  for (const char* cell : {"rnn", "gru", "lstm"}) {
    const int G = cell[0] == 'r' ? 1 : cell[0] == 'g' ? 3 : 4;
    for (int64_t H : {32, 128, 512}) {
      const int64_t I = H;
      std::vector<float> W_ih(G * H * I), W_hh(G * H * H), b(G * H), x(I), h(H), c(H);
      for (auto* v : {&W_ih, &W_hh, &b, &x}) for (auto& e : *v) e = nd(rng);
      const pyrnn::CellWeights<float> w{W_ih.data(), W_hh.data(), b.data(), b.data()};
      const int64_t np = cell[0] == 'r' ? k.rnn_packed_size(I, H)
                         : cell[0] == 'g' ? k.gru_packed_size(I, H) : k.lstm_packed_size(I, H);
      const int64_t nw = cell[0] == 'r' ? k.rnn_step_workspace_size(1, I, H)
                         : cell[0] == 'g' ? k.gru_step_workspace_size(1, I, H)
                                          : k.lstm_step_workspace_size(1, I, H);
      std::vector<float> packed(np), work(nw);
      if (cell[0] == 'r') k.rnn_pack(w, I, H, packed.data());
      else if (cell[0] == 'g') k.gru_pack(w, I, H, true, packed.data());
      else k.lstm_pack(w, I, H, packed.data());
      auto step = [&] {
        if (cell[0] == 'r') k.rnn_step(packed.data(), pyrnn::Activation::tanh, 1, I, H, x.data(), h.data(), work.data());
        else if (cell[0] == 'g') k.gru_step(packed.data(), true, 1, I, H, x.data(), h.data(), work.data());
        else k.lstm_step(packed.data(), 1, I, H, x.data(), h.data(), c.data(), work.data());
      };
      int64_t reps = 1;
      for (;;) {  // calibrate a batch to ~seconds/11
        const auto t0 = Clock::now();
        for (int64_t r = 0; r < reps; ++r) step();
        if (std::chrono::duration<double>(Clock::now() - t0).count() > seconds / 11) break;
        reps *= 2;
      }
      std::vector<double> us;
      for (int i = 0; i < 11; ++i) {
        const auto t0 = Clock::now();
        for (int64_t r = 0; r < reps; ++r) step();
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / reps);
      }
      std::sort(us.begin(), us.end());
      const double ideal = 2.0 * G * H * (I + H) / (peak * 1e3);  // microseconds
      std::printf("%-5s %5lld %12.2f %14.2f %8.2f\n", cell, (long long)H, us[5], ideal, us[5] / ideal);
    }
  }
  return 0;
}
