// Dense matrix multiply used by every cell kernel (row-major, C++ only).
// One entry point; dispatch.cpp picks the SIMD target that implements it.
#pragma once
#include <cstdint>

namespace pyrnn {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N], all row-major.
//   op(A) = transA ? A^T : A   with A stored (M,K) or, transposed, (K,M); lda = its row stride
//   op(B) = transB ? B^T : B   with B stored (K,N) or, transposed, (N,K); ldb = its row stride
// beta == 0 overwrites C without reading it (so C may hold NaN garbage).
// K == 0 scales C by beta. Threads: uses up to get_num_threads() OpenMP threads.
// Never allocates on the caller's hot path beyond per-thread pack buffers grown once.
template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace pyrnn
