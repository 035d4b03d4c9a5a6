// A loaded model: validated architecture, float32 weights in one aligned arena, and the
// sizes states and batches need. Immutable after load_model(), so threads may share it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pyrnn/kernels.h"

namespace pyrnn {
namespace rt {

constexpr int64_t kMaxDim = int64_t(1) << 20;  // every size: 1 .. 2^20 (model-format.md)
constexpr int64_t kMaxLayers = 64;             // recurrent layers (sum of num_layers)
constexpr int64_t kMaxLayerEntries = 1024;     // entries of "layers" (as pyrnn.model allows)
constexpr size_t kMaxArchitectureValues = 32768;  // JSON values in the architecture string

// 64-byte aligned float storage; no copying (owners hold it by value and move it).
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n);  // zero-filled; throws std::bad_alloc
  FloatBuffer(FloatBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  FloatBuffer& operator=(FloatBuffer&& o) noexcept;
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  ~FloatBuffer();
  float* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

enum class LayerKind { embedding, rnn, lstm, gru, dropout, last_step, dense };
enum class DenseActivation { none, tanh, relu, sigmoid, softmax };

// One (layer index l, direction d) of a recurrent layer.
struct Cell {
  CellWeights<float> w{};
  int64_t I = 0, H = 0;
  int64_t h_off = 0;   // offset of h in the state vector
  int64_t c_off = -1;  // offset of c (LSTM), else -1
  bool reverse = false;
  const float* packed = nullptr;  // streaming layout (<cell>_pack), streamable models only
};

struct Layer {
  LayerKind kind = LayerKind::dropout;
  std::string name;
  int64_t in = 0, out = 0;  // features per step in and out
  // recurrent
  int64_t H = 0, num_layers = 0, D = 1;
  bool reset_after = true;                    // GRU
  Activation act = Activation::tanh;          // RNN
  std::vector<Cell> cells;                    // index l * D + d
  // Embedding (weight: (num, dim)) and Dense (weight: (out, in), bias: (out) or null)
  const float* weight = nullptr;
  const float* bias = nullptr;
  DenseActivation activation = DenseActivation::none;
};

struct Model {
  std::vector<Layer> layers;
  FloatBuffer weights;
  bool tokens = false;
  int64_t input_size = 0;   // floats per step (1 for token models)
  int64_t vocab_size = 0;   // token models only
  int64_t output_size = 0;
  bool can_step = true;     // no bidirectional layer
  bool has_last_step = false;
  int64_t state_size = 0;   // floats of h and c over all cells
  int64_t max_width = 0;    // widest per-step activation, over input and every layer
  int64_t max_hidden = 0;

  // The kernels that packed the weights for streaming: steps must use the same target.
  const KernelTable<float>* step_kernels = nullptr;
  FloatBuffer packed;

  // Largest kernel workspace (floats) over all cells for T steps of B rows (inference).
  int64_t cell_workspace(int64_t T, int64_t B) const;
  // Largest <cell>_step workspace (floats) over all cells for B rows.
  int64_t step_workspace(int64_t B) const;
};

// Parses and validates a whole .pyrnn file held in [bytes, bytes + size). Throws rt::Error.
std::unique_ptr<Model> load_model(const uint8_t* bytes, size_t size);

}  // namespace rt
}  // namespace pyrnn
