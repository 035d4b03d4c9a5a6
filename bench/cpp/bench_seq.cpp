// Whole-sequence forward (inference) and training step (forward with cache + BPTT) of the
// kernels, without Python: for A/B comparisons of kernel changes on a noisy machine, run
// two builds alternately and compare medians.
//   bench_seq [cells=rnn,lstm,gru] [shapes=a,b,c,d] [modes=inference,training]
//             [threads=1] [seconds_per_case=1] [projection=auto|fused|chunked]
// A shape is a letter of issue 3's or any B x T x I x H written BxTxIxH (32x100x512x512).
// Shapes are issue 3's (and pyrnn bench's): (a) B=64,T=100,I=256,H=256;
// (b) B=32,T=200,I=128,H=512; (c) B=16,T=50,I=1024,H=1024; (d) B=1,T=1000,I=64,H=128.
// FLOPs: 2*B*T*G*H*(I+H) per forward, 3x that for a training step. Buffers are allocated
// once per case and reused, as pyrnn's buffer pool does for the Python API.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pyrnn/kernels.h"
#include "pyrnn/threads.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  char name;
  int64_t B, T, I, H;
};
constexpr Shape kShapes[] = {
    {'a', 64, 100, 256, 256}, {'b', 32, 200, 128, 512}, {'c', 16, 50, 1024, 1024}, {'d', 1, 1000, 64, 128}};

// 64-byte aligned, zeroed floats.
struct Buf {
  float* p = nullptr;
  explicit Buf(int64_t n) {
    const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * 4 + 63) / 64 * 64;
    p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) {
      std::fprintf(stderr, "out of memory\n");
      std::exit(1);
    }
    std::memset(p, 0, bytes);
  }
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
};

bool listed(const std::string& list, const std::string& item) {
  return ("," + list + ",").find("," + item + ",") != std::string::npos;
}

void fill(float* p, int64_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> nd(0.f, scale);
  for (int64_t i = 0; i < n; ++i) p[i] = nd(rng);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cells = argc > 1 ? argv[1] : "rnn,lstm,gru";
  const std::string shapes = argc > 2 ? argv[2] : "a,b,c,d";
  const std::string modes = argc > 3 ? argv[3] : "inference,training";
  const int threads = argc > 4 ? std::atoi(argv[4]) : 1;
  const double seconds = argc > 5 ? std::atof(argv[5]) : 1.0;
  const std::string projection = argc > 6 ? argv[6] : "auto";  // RNN, LSTM, GRU forwards
  if (projection == "fused") pyrnn::set_projection_mode(pyrnn::ProjectionMode::fused);
  else if (projection == "chunked") pyrnn::set_projection_mode(pyrnn::ProjectionMode::chunked);
  if (threads < 1 || seconds <= 0 || (projection != "auto" && projection != "fused" && projection != "chunked")) {
    std::fprintf(stderr, "usage: bench_seq [cells] [shapes: a-d or BxTxIxH] [modes] [threads>=1] [seconds>0] [auto|fused|chunked]\n");
    return 2;
  }
  std::vector<Shape> chosen;  // issue 3's shapes by letter, or BxTxIxH
  for (size_t at = 0; at <= shapes.size();) {
    const size_t end = std::min(shapes.find(',', at), shapes.size());
    const std::string item = shapes.substr(at, end - at);
    at = end + 1;
    long long B, T, I, H;
    char tail;
    const Shape* letter = nullptr;
    for (const Shape& s : kShapes)
      if (item.size() == 1 && s.name == item[0]) letter = &s;
    if (letter) {
      chosen.push_back(*letter);
    } else if (std::sscanf(item.c_str(), "%lldx%lldx%lldx%lld%c", &B, &T, &I, &H, &tail) == 4 &&
               B > 0 && T > 0 && I > 0 && H > 0) {
      chosen.push_back({'*', B, T, I, H});
    } else {
      std::fprintf(stderr, "bench_seq: shape '%s' is neither a-d nor BxTxIxH\n", item.c_str());
      return 2;
    }
  }
  pyrnn::set_num_threads(threads);
  const auto& k = pyrnn::kernels<float>();
  std::printf("target %s, %d thread(s), float32, %s projection; median (min) of calls over ~%.1f s per case\n",
              pyrnn::target_name(pyrnn::active_target()), threads, projection.c_str(), seconds);
  std::printf("%-5s %-5s %-10s %10s %10s %8s\n", "cell", "shape", "mode", "ms median", "ms min",
              "GFLOP/s");
  std::mt19937 rng(1);
  for (const char* cell : {"rnn", "lstm", "gru"}) {
    if (!listed(cells, cell)) continue;
    const int64_t G = cell[0] == 'r' ? 1 : cell[0] == 'l' ? 4 : 3;
    for (const Shape& s : chosen) {
      const int64_t B = s.B, T = s.T, I = s.I, H = s.H;
      Buf W_ih(G * H * I), W_hh(G * H * H), b_ih(G * H), b_hh(G * H), x(T * B * I);
      Buf h0(B * H), c0(B * H), out(T * B * H), hn(B * H), cn(B * H), dout(T * B * H);
      Buf gates(T * B * 4 * H), c_all(T * B * H), dx(T * B * I), dh0(B * H), dc0(B * H);
      Buf dW_ih(G * H * I), dW_hh(G * H * H), db_ih(G * H), db_hh(G * H), dhn(B * H), dcn(B * H);
      fill(W_ih.p, G * H * I, rng, 0.05f), fill(W_hh.p, G * H * H, rng, 0.05f);
      fill(b_ih.p, G * H, rng, 0.1f), fill(x.p, T * B * I, rng, 1.f), fill(dout.p, T * B * H, rng, 1.f);
      const pyrnn::SeqDims d{T, B, I, H, nullptr, false};
      const pyrnn::CellWeights<float> w{W_ih.p, W_hh.p, b_ih.p, b_hh.p};
      const pyrnn::CellGrads<float> g{dW_ih.p, dW_hh.p, db_ih.p, db_hh.p};
      for (const char* mode : {"inference", "training"}) {
        if (!listed(modes, mode)) continue;
        const bool train = mode[0] == 't';
        const int64_t ws = cell[0] == 'r'   ? k.rnn_workspace_size(d, train)
                           : cell[0] == 'l' ? k.lstm_workspace_size(d, train)
                                            : k.gru_workspace_size(d, train);
        Buf work(ws);
        auto call = [&] {
          float* gt = train ? gates.p : nullptr;
          if (cell[0] == 'r') {
            k.rnn_forward(d, pyrnn::Activation::tanh, w, x.p, h0.p, out.p, hn.p, work.p);
            if (train)
              k.rnn_backward(d, pyrnn::Activation::tanh, w, x.p, h0.p, out.p, dout.p, dhn.p, dx.p,
                             dh0.p, nullptr, g, work.p);
          } else if (cell[0] == 'l') {
            k.lstm_forward(d, w, x.p, h0.p, c0.p, out.p, hn.p, cn.p, gt, c_all.p, work.p);
            if (train)
              k.lstm_backward(d, w, x.p, h0.p, c0.p, out.p, gates.p, c_all.p, dout.p, dhn.p, dcn.p,
                              dx.p, dh0.p, dc0.p, nullptr, g, work.p);
          } else {
            k.gru_forward(d, true, w, x.p, h0.p, out.p, hn.p, gt, work.p);
            if (train)
              k.gru_backward(d, true, w, x.p, h0.p, out.p, gates.p, dout.p, dhn.p, dx.p, dh0.p,
                             nullptr, g, work.p);
          }
        };
        call();  // warm-up: pages, caches
        std::vector<double> ms;
        const auto start = Clock::now();
        while (ms.size() < 3 ||
               (std::chrono::duration<double>(Clock::now() - start).count() < seconds && ms.size() < 1000)) {
          const auto t0 = Clock::now();
          call();
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        const double flops = 2.0 * B * T * G * H * (I + H) * (train ? 3 : 1);
        const std::string label = s.name != '*' ? std::string(1, s.name)
                                                : std::to_string(B) + "x" + std::to_string(T) + "x" +
                                                      std::to_string(I) + "x" + std::to_string(H);
        std::printf("%-5s %-5s %-10s %10.3f %10.3f %8.1f\n", cell, label.c_str(), mode, med, ms[0],
                    flops / med / 1e6);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
