// The vectorised activations of one SIMD target over an array, so tests can measure
// their error against float64 (the bounds are stated in vec.h).
#include "pyrnn/kernels.h"
#include "vec.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

template <typename T>
void activation(int which, const T* x, T* y, int64_t n) {
  using VT = Vec<T>;
  for (int64_t j = 0; j < n; j += VT::W) {
    const int m = static_cast<int>(n - j < VT::W ? n - j : VT::W);
    const auto v = VT::load(x + j, m);
    VT::store(y + j, which == 0 ? VT::exp(v) : which == 1 ? VT::sigmoid(v) : VT::tanh(v), m);
  }
}

template void activation<float>(int, const float*, float*, int64_t);
template void activation<double>(int, const double*, double*, int64_t);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
