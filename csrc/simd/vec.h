// Short vectors for one SIMD target: Vec<float> and Vec<double> with one interface, so the
// cell epilogues are written once. AVX-512 (16 floats) when compiled with -mavx512f/bw/dq,
// AVX2 (8 floats) with -mavx2 -mfma, else portable arrays of 8 floats.
//
// float activations are approximations with stated bounds (relative error against float64
// over 2^24 points in [-30, 30] and powers of ten down to 1e-30; tests/test_fast_math.py):
//   exp      < 2e-7  (Cody-Waite reduction, degree-6 polynomial fitted for this file)
//   sigmoid  < 3e-7  (1 / (1 + exp(-x)))
//   tanh     < 3e-7  (m / (m + 2), m = exp(2x) - 1 from exp's reduction and polynomial)
// NaN propagates through all three. exp clamps its argument to the normal float range
// (exp(-inf) = 1.2e-38, exp(inf) = 2.4e38), so sigmoid(-inf) ~ 4e-39, sigmoid(inf) = 1 and
// tanh(+-inf) = +-1.
// double uses libm per lane: float64 is the exact path, not the fast one.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "transpose.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#define PYRNN_VEC_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PYRNN_VEC_AVX2 1
#endif

namespace pyrnn {
namespace PYRNN_TARGET_NS {

namespace fastmath {
constexpr float kExpHi = 88.3762626647949f, kExpLo = -87.3365447505531f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln2 = hi + lo exactly-ish
// e^r - 1 - r = r^2 (c2 + r (c3 + ...)), |r| <= ln2/2; least-squares fit of relative error.
constexpr float kE2 = 0.49999988079071045f, kE3 = 0.166665181517601f, kE4 = 0.04166953265666962f,
                kE5 = 0.008368915878236294f, kE6 = 0.0013751407386735082f;

// e^x = 2^n e^r: x clamped to the normal range, n = round(x log2 e), r = x - n ln 2 (in two
// parts), and q = c2 + r (c3 + ...) with e^r - 1 = r + r^2 q. x must not be NaN (n is cast
// to an integer).
struct ExpParts {
  float scale, r, q;  // scale = 2^n
};
inline ExpParts exp_parts(float x) {
  x = x > kExpHi ? kExpHi : (x < kExpLo ? kExpLo : x);
  const float n = std::nearbyint(x * kLog2e);
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float q = kE6;
  q = q * r + kE5;
  q = q * r + kE4;
  q = q * r + kE3;
  q = q * r + kE2;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return {scale, r, q};
}

inline float exp(float x) {
  if (x != x) return x;
  const ExpParts e = exp_parts(x);
  return (e.q * e.r * e.r + e.r + 1.0f) * e.scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }

// tanh(x) = m / (m + 2) with m = e^(2x) - 1, m from the reduction and polynomial of exp:
// e^(2x) - 1 = 2^n (e^r - 1) + (2^n - 1), e^r - 1 = r + r^2 (c2 + ...) (no cancellation at
// any x: m >= -1, and for n = 0 it is r + r^2 q itself). One exp-like pass and a division,
// odd by the sign of x. Against the earlier polynomial-below-0.625 / exp-above form, which
// computed both for every lane: 23 vector operations instead of 34; largest relative error
// 1.6e-7 on every target over the points of tests/test_fast_math.py (bound 3e-7 as before).
inline float tanh(float x) {
  if (x != x) return x;
  const ExpParts e = exp_parts(2.0f * x);
  const float m = e.scale * (e.q * e.r * e.r + e.r) + (e.scale - 1.0f);
  return std::copysign(m / (m + 2.0f), x);
}

// The vector forms of exp, sigmoid and tanh above, written once over a vector type's
// primitives (add, sub, mul, fma, fnma, div, min, max, round, pow2, copysign):
// the same polynomials and reductions, hence the same error bounds, on every target.
template <typename VT>
struct VExpParts {
  typename VT::V scale, r, q;  // as ExpParts, per lane
};
template <typename VT>
VExpParts<VT> vexp_parts(typename VT::V x) {
  using V = typename VT::V;
  x = VT::max(VT::set1(kExpLo), VT::min(VT::set1(kExpHi), x));  // NaN stays (x second)
  const V n = VT::round(VT::mul(x, VT::set1(kLog2e)));
  V r = VT::fnma(n, VT::set1(kLn2Hi), x);
  r = VT::fnma(n, VT::set1(kLn2Lo), r);
  V q = VT::set1(kE6);
  q = VT::fma(q, r, VT::set1(kE5));
  q = VT::fma(q, r, VT::set1(kE4));
  q = VT::fma(q, r, VT::set1(kE3));
  q = VT::fma(q, r, VT::set1(kE2));
  return {VT::pow2(n), r, q};
}

template <typename VT>
typename VT::V vexp(typename VT::V x) {
  const VExpParts<VT> e = vexp_parts<VT>(x);
  return VT::mul(VT::fma(VT::mul(e.q, e.r), e.r, VT::add(e.r, VT::set1(1.0f))), e.scale);
}

template <typename VT>
typename VT::V vsigmoid(typename VT::V x) {
  const auto one = VT::set1(1.0f);
  return VT::div(one, VT::add(one, vexp<VT>(VT::sub(VT::zero(), x))));
}

template <typename VT>
typename VT::V vtanh(typename VT::V x) {
  using V = typename VT::V;
  const VExpParts<VT> e = vexp_parts<VT>(VT::add(x, x));  // NaN propagates throughout
  const V em = VT::fma(VT::mul(e.q, e.r), e.r, e.r);       // e^r - 1
  const V m = VT::fma(e.scale, em, VT::sub(e.scale, VT::set1(1.0f)));  // e^(2x) - 1
  // m / (m + 2) has the sign of x except at x = -0 (+0): copysign ORs the sign bit in.
  return VT::copysign(VT::div(m, VT::add(m, VT::set1(2.0f))), x);
}
}  // namespace fastmath

template <typename T>
struct Vec;

// Architectural vector registers: how many accumulators a register tile may hold.
#ifdef PYRNN_VEC_AVX512
constexpr int kVecRegisters = 32;
#else
constexpr int kVecRegisters = 16;
#endif

#ifdef PYRNN_VEC_AVX512

// 16 lanes; masks replace blends and masked moves.
template <>
struct Vec<float> {
  using V = __m512;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V load(const float* p, int n) { return n == W ? load(p) : _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(float* p, V v, int n) {
    if (n == W) store(p, v);
    else _mm512_mask_storeu_ps(p, mask(n), v);
  }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }   // a*b + c
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); } // c - a*b
  // a < 0 is false for NaN, so NaN passes through as in PyTorch.
  static V relu(V a) { return _mm512_mask_mov_ps(a, _mm512_cmp_ps_mask(a, zero(), _CMP_LT_OQ), zero()); }
  static V step(V h, V g) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(h, zero(), _CMP_GT_OQ), g); }

  // Primitives of the shared activations below (fastmath::vexp, vsigmoid, vtanh).
  // min/max return their second operand when either is NaN.
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V round(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {  // 2^n for integral n in the normal exponent range
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  static V abs(V x) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x); }
  static V copysign(V r, V x) { return _mm512_or_ps(r, _mm512_and_ps(_mm512_set1_ps(-0.0f), x)); }
  static V select_lt(V a, V b, V t, V f) {  // a < b (false for NaN) ? t : f
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
  }
  static V exp(V x) { return fastmath::vexp<Vec>(x); }
  static V sigmoid(V x) { return fastmath::vsigmoid<Vec>(x); }
  static V tanh(V x) { return fastmath::vtanh<Vec>(x); }
  // dst[k * ldd + l] = src[l * lds + k] for a W x W block.
  static void transpose(const float* src, int64_t lds, float* dst, int64_t ldd) {
    transpose16x16(src, lds, dst, ldd);
  }
};

#elif defined(PYRNN_VEC_AVX2)

template <>
struct Vec<float> {
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const float* p, int n) { return n == W ? load(p) : _mm256_maskload_ps(p, mask(n)); }
  static void store(float* p, V v, int n) {
    if (n == W) store(p, v);
    else _mm256_maskstore_ps(p, mask(n), v);
  }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }   // a*b + c
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); } // c - a*b
  static V relu(V a) { return _mm256_andnot_ps(_mm256_cmp_ps(a, zero(), _CMP_LT_OQ), a); }
  static V step(V h, V g) { return _mm256_and_ps(_mm256_cmp_ps(h, zero(), _CMP_GT_OQ), g); }

  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V round(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  static V abs(V x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
  static V copysign(V r, V x) { return _mm256_or_ps(r, _mm256_and_ps(_mm256_set1_ps(-0.0f), x)); }
  static V select_lt(V a, V b, V t, V f) {
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  static V exp(V x) { return fastmath::vexp<Vec>(x); }
  static V sigmoid(V x) { return fastmath::vsigmoid<Vec>(x); }
  static V tanh(V x) { return fastmath::vtanh<Vec>(x); }
  // dst[k * ldd + l] = src[l * lds + k] for a W x W block.
  static void transpose(const float* src, int64_t lds, float* dst, int64_t ldd) {
    transpose8x8(src, lds, dst, ldd);
  }
};

#endif  // PYRNN_VEC_AVX512 / PYRNN_VEC_AVX2

// Portable vectors: fixed-width arrays whose loops the compiler maps onto baseline SIMD.
// Also the double type on every target (libm per lane keeps float64 exact).
template <typename T, int Width>
struct VecArray {
  struct V {
    T v[Width];
  };
  static constexpr int W = Width;
  static V zero() { return set1(T(0)); }
  static V set1(T x) {
    V r;
    for (int i = 0; i < W; ++i) r.v[i] = x;
    return r;
  }
  static V load(const T* p) {
    V r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static void store(T* p, V v) { std::memcpy(p, v.v, sizeof v.v); }
  static V load(const T* p, int n) {
    V r = zero();
    std::memcpy(r.v, p, n * sizeof(T));
    return r;
  }
  static void store(T* p, V v, int n) { std::memcpy(p, v.v, n * sizeof(T)); }
#define PYRNN_LANES(expr) \
  V r;                    \
  for (int i = 0; i < W; ++i) r.v[i] = (expr); \
  return r
  static V add(V a, V b) { PYRNN_LANES(a.v[i] + b.v[i]); }
  static V sub(V a, V b) { PYRNN_LANES(a.v[i] - b.v[i]); }
  static V mul(V a, V b) { PYRNN_LANES(a.v[i] * b.v[i]); }
  static V div(V a, V b) { PYRNN_LANES(a.v[i] / b.v[i]); }
  static V fma(V a, V b, V c) { PYRNN_LANES(a.v[i] * b.v[i] + c.v[i]); }
  static V fnma(V a, V b, V c) { PYRNN_LANES(c.v[i] - a.v[i] * b.v[i]); }
  static V relu(V a) { PYRNN_LANES(a.v[i] < T(0) ? T(0) : a.v[i]); }
  static V step(V h, V g) { PYRNN_LANES(h.v[i] > T(0) ? g.v[i] : T(0)); }
  static V exp(V a) { PYRNN_LANES(exp1(a.v[i])); }
  static V sigmoid(V a) { PYRNN_LANES(sigmoid1(a.v[i])); }
  static V tanh(V a) { PYRNN_LANES(tanh1(a.v[i])); }
#undef PYRNN_LANES
  // dst[k * ldd + l] = src[l * lds + k] for a W x W block.
  static void transpose(const T* src, int64_t lds, T* dst, int64_t ldd) {
    transpose_scalar<W>(src, lds, dst, ldd);
  }

 private:
  static float exp1(float x) { return fastmath::exp(x); }
  static float sigmoid1(float x) { return fastmath::sigmoid(x); }
  static float tanh1(float x) { return fastmath::tanh(x); }
  static double exp1(double x) { return std::exp(x); }
  static double sigmoid1(double x) {
    const double e = std::exp(-std::fabs(x));  // cannot overflow
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  }
  static double tanh1(double x) { return std::tanh(x); }
};

#if !defined(PYRNN_VEC_AVX2) && !defined(PYRNN_VEC_AVX512)
template <>
struct Vec<float> : VecArray<float, 8> {};
#endif
template <>
struct Vec<double> : VecArray<double, 4> {};

}  // namespace PYRNN_TARGET_NS
}  // namespace pyrnn
