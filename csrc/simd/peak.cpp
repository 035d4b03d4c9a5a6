// fma_loop for one SIMD target (see pyrnn/peak.h).
#include "pyrnn/peak.h"

#include <cstdint>

#include "vec.h"

namespace pyrnn {
namespace PYRNN_TARGET_NS {

template <typename T>
double fma_loop(int64_t iters, double* sink) {
  using VT = Vec<T>;
  using V = typename VT::V;
  // Each chain is a <- a * x + y with x < 1: the values settle near y / (1 - x), finite.
  const V x = VT::set1(T(0.999)), y = VT::set1(T(0.001));
  // Distinct starting values in every chain and lane: the compiler merges identical
  // chains, and computes one lane of a vector whose lanes it can prove equal.
  T init[12][VT::W];
  for (int c = 0; c < 12; ++c)
    for (int l = 0; l < VT::W; ++l) init[c][l] = T(1) + T(0.01) * c + T(0.0001) * l;
  V a0 = VT::load(init[0]), a1 = VT::load(init[1]), a2 = VT::load(init[2]);
  V a3 = VT::load(init[3]), a4 = VT::load(init[4]), a5 = VT::load(init[5]);
  V a6 = VT::load(init[6]), a7 = VT::load(init[7]), a8 = VT::load(init[8]);
  V a9 = VT::load(init[9]), a10 = VT::load(init[10]), a11 = VT::load(init[11]);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = VT::fma(a0, x, y), a1 = VT::fma(a1, x, y), a2 = VT::fma(a2, x, y);
    a3 = VT::fma(a3, x, y), a4 = VT::fma(a4, x, y), a5 = VT::fma(a5, x, y);
    a6 = VT::fma(a6, x, y), a7 = VT::fma(a7, x, y), a8 = VT::fma(a8, x, y);
    a9 = VT::fma(a9, x, y), a10 = VT::fma(a10, x, y), a11 = VT::fma(a11, x, y);
  }
  V s = VT::add(VT::add(VT::add(a0, a1), VT::add(a2, a3)), VT::add(VT::add(a4, a5), VT::add(a6, a7)));
  s = VT::add(s, VT::add(VT::add(a8, a9), VT::add(a10, a11)));
  T lanes[VT::W];
  VT::store(lanes, s);
  double total = 0;
  for (int l = 0; l < VT::W; ++l) total += lanes[l];
  *sink = total;
  return 2.0 * 12 * VT::W * static_cast<double>(iters);
}

template double fma_loop<float>(int64_t, double*);
template double fma_loop<double>(int64_t, double*);

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
