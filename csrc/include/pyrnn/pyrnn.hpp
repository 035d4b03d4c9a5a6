// Thin header-only C++17 wrapper over the C API (pyrnn.h): RAII handles, errors as
// pyrnn::Error exceptions (thrown here, on the caller's side; never inside the library).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pyrnn/pyrnn.h"

namespace pyrnn {

class Error : public std::runtime_error {
 public:
  Error(pyrnn_status status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
  pyrnn_status status() const noexcept { return status_; }

 private:
  pyrnn_status status_;
};

inline void check(pyrnn_status s) {
  if (s != PYRNN_OK) throw Error(s, pyrnn_last_error());
}

// A loaded model. Copies share the same immutable model; states keep it alive.
class Model {
 public:
  static Model load(const std::string& path) {
    pyrnn_model* m = nullptr;
    check(pyrnn_model_load(path.c_str(), &m));
    return Model(m);
  }
  static Model load_memory(const void* data, size_t size) {
    pyrnn_model* m = nullptr;
    check(pyrnn_model_load_memory(data, size, &m));
    return Model(m);
  }

  pyrnn_model_info info() const {
    pyrnn_model_info i{};
    check(pyrnn_model_get_info(m_.get(), &i));
    return i;
  }
  size_t input_size() const { return info().input_size; }
  size_t output_size() const { return info().output_size; }

  // Whole sequence: x is (T, input_size); returns (T or 1, output_size).
  std::vector<float> run(const float* x, size_t T) const { return run_impl(x, nullptr, T, nullptr); }
  std::vector<float> run(const std::vector<float>& x) const {
    return run(x.data(), x.size() / input_size());
  }
  std::vector<float> run_tokens(const std::vector<int64_t>& tokens) const {
    return run_impl(nullptr, tokens.data(), tokens.size(), nullptr);
  }

  const pyrnn_model* get() const noexcept { return m_.get(); }
  const std::shared_ptr<pyrnn_model>& shared() const noexcept { return m_; }

 private:
  friend class State;
  explicit Model(pyrnn_model* m) : m_(m, pyrnn_model_free) {}
  std::vector<float> run_impl(const float* x, const int64_t* tokens, size_t T,
                              pyrnn_state* s) const {
    const pyrnn_model_info i = info();
    std::vector<float> y((i.has_last_step ? 1 : T) * i.output_size);
    if (tokens)
      check(pyrnn_run_tokens(m_.get(), s, tokens, T, y.data(), y.size()));
    else
      check(pyrnn_run(m_.get(), s, x, T, y.data(), y.size()));
    return y;
  }
  std::shared_ptr<pyrnn_model> m_;
};

// The state of one stream. step() allocates nothing when given output buffers.
class State {
 public:
  explicit State(const Model& model) : model_(model) {
    pyrnn_state* s = nullptr;
    check(pyrnn_state_create(model.get(), &s));
    s_.reset(s);
  }

  void step(const float* x, size_t x_count, float* y, size_t y_count) {
    check(pyrnn_step(s_.get(), x, x_count, y, y_count));
  }
  void step_token(int64_t token, float* y, size_t y_count) {
    check(pyrnn_step_token(s_.get(), token, y, y_count));
  }
  std::vector<float> step(const std::vector<float>& x) {
    std::vector<float> y(model_.output_size());
    step(x.data(), x.size(), y.data(), y.size());
    return y;
  }
  std::vector<float> step_token(int64_t token) {
    std::vector<float> y(model_.output_size());
    step_token(token, y.data(), y.size());
    return y;
  }
  // Whole sequence from this state's h (and c); leaves the final state here.
  std::vector<float> run(const float* x, size_t T) { return model_.run_impl(x, nullptr, T, s_.get()); }
  std::vector<float> run_tokens(const std::vector<int64_t>& t) {
    return model_.run_impl(nullptr, t.data(), t.size(), s_.get());
  }

  void reset() { check(pyrnn_state_reset(s_.get())); }
  std::vector<float> get() const {
    std::vector<float> v(model_.info().state_size);
    check(pyrnn_state_get(s_.get(), v.data(), v.size()));
    return v;
  }
  void set(const std::vector<float>& v) { check(pyrnn_state_set(s_.get(), v.data(), v.size())); }

  pyrnn_state* get_handle() const noexcept { return s_.get(); }
  const Model& model() const noexcept { return model_; }

 private:
  struct Free {
    void operator()(pyrnn_state* s) const noexcept { pyrnn_state_free(s); }
  };
  Model model_;  // keeps the model alive for as long as the state
  std::unique_ptr<pyrnn_state, Free> s_;
};

// Advances up to max_streams states of one model in one call; allocates nothing per call.
class Batch {
 public:
  Batch(const Model& model, size_t max_streams) : model_(model) {
    pyrnn_batch* b = nullptr;
    check(pyrnn_batch_create(model.get(), max_streams, &b));
    b_.reset(b);
  }
  // x: (n, input_size); y: (n, output_size).
  void step(pyrnn_state* const* states, size_t n, const float* x, float* y) {
    check(pyrnn_step_batch(b_.get(), states, n, x, y));
  }
  void step_tokens(pyrnn_state* const* states, size_t n, const int64_t* tokens, float* y) {
    check(pyrnn_step_batch_tokens(b_.get(), states, n, tokens, y));
  }

 private:
  struct Free {
    void operator()(pyrnn_batch* b) const noexcept { pyrnn_batch_free(b); }
  };
  Model model_;
  std::unique_ptr<pyrnn_batch, Free> b_;
};

inline std::string version() { return pyrnn_version(); }

}  // namespace pyrnn
