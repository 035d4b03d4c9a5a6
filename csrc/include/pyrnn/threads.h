// Engine-wide thread count. Kernels pass it to every OpenMP region explicitly, so a
// setting made from any host thread applies to calls from every host thread.
#pragma once

namespace pyrnn {

int get_num_threads();      // >= 1
void set_num_threads(int n);  // n >= 1; without OpenMP only 1 is meaningful
bool has_openmp();

// A time loop runs on more than one thread only when a step has at least this many
// multiply-adds (a barrier per step must pay for itself). Tests set 0 to exercise the
// multi-threaded paths on tiny shapes.
long long parallel_min_work();
void set_parallel_min_work(long long fmas);

// How the RNN, LSTM and reset-after GRU forwards compute their input projection:
// `automatic` picks per shape (csrc/kernels/fused.h, fuse_projection); the others force
// one path on every shape (both are exact for any shape), for tests that check both.
enum class ProjectionMode { automatic = 0, fused = 1, chunked = 2 };
ProjectionMode projection_mode();
void set_projection_mode(ProjectionMode mode);

}  // namespace pyrnn
