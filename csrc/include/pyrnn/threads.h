// Engine-wide thread count. Kernels pass it to every OpenMP region explicitly, so a
// setting made from any host thread applies to calls from every host thread.
#pragma once

namespace pyrnn {

int get_num_threads();      // >= 1
void set_num_threads(int n);  // n >= 1; without OpenMP only 1 is meaningful
bool has_openmp();

}  // namespace pyrnn
