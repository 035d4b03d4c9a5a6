// The C API of pyrnn.h: model loading, states, streaming steps (single and batched) and
// whole-sequence runs. No exception crosses this boundary; the step paths neither
// allocate nor throw (their workspaces are sized when the state or batch is created).
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "error.h"
#include "model.h"
#include "pyrnn/gemm.h"
#include "pyrnn/kernels.h"
#include "pyrnn/pyrnn.h"
#include "pyrnn/threads.h"
#include "safetensors.h"

using pyrnn::rt::Cell;
using pyrnn::rt::DenseActivation;
using pyrnn::rt::FloatBuffer;
using pyrnn::rt::Layer;
using pyrnn::rt::LayerKind;
using pyrnn::rt::Model;

struct pyrnn_model {
  std::unique_ptr<Model> m;
};

struct pyrnn_state {
  const pyrnn_model* owner = nullptr;
  FloatBuffer h;     // (state_size) h and c of every cell
  FloatBuffer act;   // 2 x (max_width) ping-pong activations
  FloatBuffer work;  // <cell>_step workspace for B = 1
  bool marked = false;  // set while a batch call gathers it (catches duplicates)
};

struct pyrnn_batch {
  const pyrnn_model* owner = nullptr;
  size_t max_streams = 0;
  FloatBuffer gathered;  // per cell: (n, H) h [and (n, H) c], at offset h_off * n
  FloatBuffer act;       // 2 x (max_streams, max_width)
  FloatBuffer work;      // <cell>_step workspace for B = max_streams
};

namespace {

thread_local char t_error[1024];

// Records a message for pyrnn_last_error(); formats into a fixed buffer (no allocation).
pyrnn_status fail(pyrnn_status s, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(t_error, sizeof t_error, fmt, ap);
  va_end(ap);
  return s;
}

// Runs f, turning every exception into a status and a message.
template <typename F>
pyrnn_status guarded(const char* fn, F&& f) {
  try {
    return f();
  } catch (const pyrnn::rt::Error& e) {
    return fail(e.status(), "%s: %s", fn, e.what());
  } catch (const std::bad_alloc&) {
    return fail(PYRNN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  } catch (const std::exception& e) {
    return fail(PYRNN_ERR_INTERNAL, "%s: %s", fn, e.what());
  } catch (...) {
    return fail(PYRNN_ERR_INTERNAL, "%s: unknown error", fn);
  }
}

const Layer* first_bidirectional(const Model& m) {
  for (const Layer& L : m.layers)
    if (L.D == 2) return &L;
  return nullptr;
}

pyrnn_status cannot_step(const char* fn, const Model& m) {
  return fail(PYRNN_ERR_UNSUPPORTED,
              "%s: layer '%.200s' is bidirectional and needs the whole sequence; use pyrnn_run",
              fn, first_bidirectional(m)->name.c_str());
}

pyrnn_status check_tokens(const char* fn, const Model& m, const int64_t* tokens, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= m.vocab_size)
      return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: token %lld at position %zu is out of range 0 .. %lld",
                  fn, static_cast<long long>(tokens[i]), i, static_cast<long long>(m.vocab_size - 1));
  return PYRNN_OK;
}

void run_cell(const Layer& L, const Cell& c, const pyrnn::SeqDims& d, const float* x,
              const float* h0, const float* c0, float* out, float* hn, float* cn, float* work) {
  const auto& k = pyrnn::kernels<float>();
  if (L.kind == LayerKind::lstm)
    k.lstm_forward(d, c.w, x, h0, c0, out, hn, cn, nullptr, nullptr, work);
  else if (L.kind == LayerKind::gru)
    k.gru_forward(d, L.reset_after, c.w, x, h0, out, hn, nullptr, work);
  else
    k.rnn_forward(d, L.act, c.w, x, h0, out, hn, work);
}

inline float sigmoid(float a) {
  const float e = std::exp(-std::fabs(a));
  return a >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
}

// y (rows, out) = act(x (rows, in) W^T + b).
void dense_forward(const Layer& L, int64_t rows, const float* x, float* y) {
  pyrnn::gemm<float>(false, true, rows, L.out, L.in, 1.f, x, L.in, L.weight, L.in, 0.f, y, L.out);
  for (int64_t r = 0; r < rows; ++r) {
    float* v = y + r * L.out;
    if (L.bias)
      for (int64_t j = 0; j < L.out; ++j) v[j] += L.bias[j];
    switch (L.activation) {
      case DenseActivation::none: break;
      case DenseActivation::tanh:
        for (int64_t j = 0; j < L.out; ++j) v[j] = std::tanh(v[j]);
        break;
      case DenseActivation::relu:
        for (int64_t j = 0; j < L.out; ++j) v[j] = v[j] < 0.f ? 0.f : v[j];
        break;
      case DenseActivation::sigmoid:
        for (int64_t j = 0; j < L.out; ++j) v[j] = sigmoid(v[j]);
        break;
      case DenseActivation::softmax: {
        float mx = v[0];
        for (int64_t j = 1; j < L.out; ++j) mx = v[j] > mx ? v[j] : mx;
        float sum = 0.f;
        for (int64_t j = 0; j < L.out; ++j) sum += (v[j] = std::exp(v[j] - mx));
        for (int64_t j = 0; j < L.out; ++j) v[j] /= sum;
        break;
      }
    }
  }
}

// One time step for B streams whose states lie in S with each cell's (B, H) block at
// offset h_off * B (a single state is the case B = 1). x is (B, input_size) or tokens.
// act holds two (B, max_width) buffers. Writes y (B, output_size). No allocation.
void step_core(const Model& m, int64_t B, const float* x, const int64_t* tokens, float* S,
               float* act, float* work, float* y) {
  const float* cur = x;
  float* bufs[2] = {act, act + B * m.max_width};
  int which = 0;
  for (const Layer& L : m.layers) {
    float* o = bufs[which];
    switch (L.kind) {
      case LayerKind::dropout:
      case LayerKind::last_step:  // the current step is the last one
        continue;
      case LayerKind::embedding:
        for (int64_t b = 0; b < B; ++b)
          std::memcpy(o + b * L.out, L.weight + tokens[b] * L.out, size_t(L.out) * sizeof(float));
        break;
      case LayerKind::dense:
        dense_forward(L, B, cur, o);
        break;
      default:
        for (const Cell& c : L.cells) {  // unidirectional here: one cell per layer index
          // The step kernels update the (B, H) state in place; h is also the output.
          float* h = S + c.h_off * B;
          const pyrnn::KernelTable<float>& k = *m.step_kernels;
          if (L.kind == LayerKind::lstm)
            k.lstm_step(c.packed, B, c.I, c.H, cur, h, S + c.c_off * B, work);
          else if (L.kind == LayerKind::gru)
            k.gru_step(c.packed, L.reset_after, B, c.I, c.H, cur, h, work);
          else
            k.rnn_step(c.packed, L.act, B, c.I, c.H, cur, h, work);
          cur = h;
        }
        continue;
    }
    cur = o;
    which ^= 1;
  }
  std::memcpy(y, cur, size_t(B * m.output_size) * sizeof(float));
}

bool mul_ok(size_t a, size_t b, size_t limit, size_t* out) {
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return true;
}

// Whole sequence, one stream: x (T, input_size) or T tokens. state may be null.
pyrnn_status run_core(const char* fn, const pyrnn_model* model, pyrnn_state* state,
                      const float* x, const int64_t* tokens, size_t T, float* y,
                      size_t y_count) {
  if (!model) return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
  const Model& m = *model->m;
  if (state && state->owner != model)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: state was created for another model", fn);
  if (tokens && !m.tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: the model takes features; use pyrnn_run", fn);
  if (!tokens && m.tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: the model takes token ids; use pyrnn_run_tokens", fn);
  if ((!x && !tokens) || !y) return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: input or output is NULL", fn);
  if (T == 0) return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: T must be >= 1", fn);
  const size_t limit = size_t(1) << 40;  // floats per buffer: beyond this, refuse early
  size_t acts = 0, outs = 0;
  if (!mul_ok(T, size_t(m.max_width), limit, &acts))
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: T = %zu is too long", fn, T);
  const size_t out_T = m.has_last_step ? 1 : T;
  mul_ok(out_T, size_t(m.output_size), limit, &outs);
  if (y_count < outs)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: y_count is %zu, the output needs %zu floats", fn,
                y_count, outs);
  if (tokens) {
    const pyrnn_status s = check_tokens(fn, m, tokens, T);
    if (s != PYRNN_OK) return s;
  }
  return guarded(fn, [&]() {
    const int64_t H = m.max_hidden;
    FloatBuffer act(2 * acts), dir_out(T * size_t(H)), zeros(2 * size_t(H)), tmp(2 * size_t(H));
    FloatBuffer work(size_t(m.cell_workspace(int64_t(T), 1)));
    float* bufs[2] = {act.data(), act.data() + acts};
    int which = 0;
    int64_t t_len = int64_t(T);
    const float* cur = x;
    for (const Layer& L : m.layers) {
      float* o = bufs[which];
      if (L.kind == LayerKind::dropout) continue;
      if (L.kind == LayerKind::last_step) {
        cur += (t_len - 1) * L.in;  // a row of the previous layer's output (or of x)
        t_len = 1;
        continue;
      }
      if (L.kind == LayerKind::embedding) {
        for (int64_t t = 0; t < t_len; ++t)
          std::memcpy(o + t * L.out, L.weight + tokens[t] * L.out, size_t(L.out) * sizeof(float));
      } else if (L.kind == LayerKind::dense) {
        dense_forward(L, t_len, cur, o);
      } else {
        for (int64_t l = 0; l < L.num_layers; ++l) {
          o = bufs[which];
          for (int64_t d = 0; d < L.D; ++d) {
            const Cell& c = L.cells[size_t(l * L.D + d)];
            const pyrnn::SeqDims dims{t_len, 1, c.I, c.H, nullptr, c.reverse};
            float* h0 = state ? state->h.data() + c.h_off : zeros.data();
            float* c0 = c.c_off < 0 ? nullptr : state ? state->h.data() + c.c_off : zeros.data() + H;
            float* hn = state ? h0 : tmp.data();
            float* cn = c.c_off < 0 ? nullptr : state ? c0 : tmp.data() + H;
            float* dst = L.D == 1 ? o : dir_out.data();
            run_cell(L, c, dims, cur, h0, c0, dst, hn, cn, work.data());
            if (L.D == 2)
              for (int64_t t = 0; t < t_len; ++t)
                std::memcpy(o + t * 2 * c.H + d * c.H, dst + t * c.H, size_t(c.H) * sizeof(float));
          }
          cur = o;
          which ^= 1;
        }
        continue;
      }
      cur = o;
      which ^= 1;
    }
    std::memcpy(y, cur, size_t(t_len * m.output_size) * sizeof(float));
    return PYRNN_OK;
  });
}

pyrnn_status step_one(const char* fn, pyrnn_state* state, const float* x, const int64_t* token,
                      float* y, size_t y_count) {
  if (!state) return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: state is NULL", fn);
  const Model& m = *state->owner->m;
  if (!m.can_step) return cannot_step(fn, m);
  if (!y) return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: y is NULL", fn);
  if (y_count < size_t(m.output_size))
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: y_count is %zu, the model gives %lld outputs", fn,
                y_count, static_cast<long long>(m.output_size));
  if (token) {
    const pyrnn_status s = check_tokens(fn, m, token, 1);
    if (s != PYRNN_OK) return s;
  }
  step_core(m, 1, x, token, state->h.data(), state->act.data(), state->work.data(), y);
  return PYRNN_OK;
}

pyrnn_status step_many(const char* fn, pyrnn_batch* batch, pyrnn_state* const* states, size_t n,
                       const float* x, const int64_t* tokens, float* y) {
  if (!batch) return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: batch is NULL", fn);
  const Model& m = *batch->owner->m;
  if (!m.can_step) return cannot_step(fn, m);
  if (n == 0) return PYRNN_OK;
  if (!states || !y || (!x && !tokens))
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: states, input or y is NULL", fn);
  if (n > batch->max_streams)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: n = %zu exceeds the batch's max_streams %zu", fn,
                n, batch->max_streams);
  if (tokens) {
    const pyrnn_status s = check_tokens(fn, m, tokens, n);
    if (s != PYRNN_OK) return s;
  }
  // Validate every state before touching any.
  size_t bad = n;
  pyrnn_status status = PYRNN_OK;
  for (size_t i = 0; i < n && bad == n; ++i) {
    if (!states[i] || states[i]->owner != batch->owner) {
      status = fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: states[%zu] is NULL or belongs to another model",
                    fn, i);
      bad = i;
    } else if (states[i]->marked) {
      status = fail(PYRNN_ERR_INVALID_ARGUMENT, "%s: states[%zu] appears twice in one call", fn, i);
      bad = i;
    } else {
      states[i]->marked = true;
    }
  }
  for (size_t i = 0; i < bad; ++i) states[i]->marked = false;
  if (status != PYRNN_OK) return status;

  const int64_t B = int64_t(n);
  float* S = batch->gathered.data();
  auto blocks = [&](auto&& visit) {  // each (B, H) state block of every cell
    for (const Layer& L : m.layers)
      for (const Cell& c : L.cells) {
        visit(c.h_off, c.H);
        if (c.c_off >= 0) visit(c.c_off, c.H);
      }
  };
  blocks([&](int64_t off, int64_t H) {
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(S + off * B + b * H, states[b]->h.data() + off, size_t(H) * sizeof(float));
  });
  step_core(m, B, x, tokens, S, batch->act.data(), batch->work.data(), y);
  blocks([&](int64_t off, int64_t H) {
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(states[b]->h.data() + off, S + off * B + b * H, size_t(H) * sizeof(float));
  });
  return PYRNN_OK;
}

}  // namespace

extern "C" {

const char* pyrnn_version(void) { return "0.1.0"; }

const char* pyrnn_last_error(void) { return t_error; }

const char* pyrnn_status_string(pyrnn_status status) {
  switch (status) {
    case PYRNN_OK: return "PYRNN_OK";
    case PYRNN_ERR_INVALID_ARGUMENT: return "PYRNN_ERR_INVALID_ARGUMENT";
    case PYRNN_ERR_IO: return "PYRNN_ERR_IO";
    case PYRNN_ERR_FORMAT: return "PYRNN_ERR_FORMAT";
    case PYRNN_ERR_MODEL: return "PYRNN_ERR_MODEL";
    case PYRNN_ERR_UNSUPPORTED: return "PYRNN_ERR_UNSUPPORTED";
    case PYRNN_ERR_OUT_OF_MEMORY: return "PYRNN_ERR_OUT_OF_MEMORY";
    case PYRNN_ERR_INTERNAL: return "PYRNN_ERR_INTERNAL";
  }
  return "PYRNN_ERR_UNKNOWN";
}

pyrnn_status pyrnn_model_load_memory(const void* data, size_t size, pyrnn_model** out) {
  if (!out) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_model_load_memory: out is NULL");
  *out = nullptr;
  if (!data && size) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_model_load_memory: data is NULL");
  static const uint8_t kEmpty[1] = {0};
  return guarded("pyrnn_model_load_memory", [&]() {
    auto model = std::make_unique<pyrnn_model>();
    model->m = pyrnn::rt::load_model(data ? static_cast<const uint8_t*>(data) : kEmpty, size);
    *out = model.release();
    return PYRNN_OK;
  });
}

pyrnn_status pyrnn_model_load(const char* path, pyrnn_model** out) {
  if (!out) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_model_load: out is NULL");
  *out = nullptr;
  if (!path) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_model_load: path is NULL");
  return guarded("pyrnn_model_load", [&]() {
    struct Closer {
      void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, Closer> f(std::fopen(path, "rb"));
    if (!f) throw pyrnn::rt::Error(PYRNN_ERR_IO, std::string("cannot open '") + path + "': " + std::strerror(errno));
    long size = -1;
    if (std::fseek(f.get(), 0, SEEK_END) == 0) size = std::ftell(f.get());
    if (size < 0 || std::fseek(f.get(), 0, SEEK_SET) != 0)
      throw pyrnn::rt::Error(PYRNN_ERR_IO, std::string("cannot determine the size of '") + path + "'");
    // Check the header length against the real size before reading everything.
    uint8_t head[8] = {0};
    const size_t got = std::fread(head, 1, 8, f.get());
    if (got < 8 && std::ferror(f.get()))
      throw pyrnn::rt::Error(PYRNN_ERR_IO, std::string("cannot read '") + path + "'");
    pyrnn::rt::check_header_length(head, uint64_t(size));
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    std::memcpy(bytes.data(), head, 8);
    if (std::fread(bytes.data() + 8, 1, bytes.size() - 8, f.get()) != bytes.size() - 8)
      throw pyrnn::rt::Error(PYRNN_ERR_IO, std::string("cannot read '") + path + "' (file changed or unreadable)");
    auto model = std::make_unique<pyrnn_model>();
    model->m = pyrnn::rt::load_model(bytes.data(), bytes.size());
    *out = model.release();
    return PYRNN_OK;
  });
}

void pyrnn_model_free(pyrnn_model* model) { delete model; }

pyrnn_status pyrnn_model_get_info(const pyrnn_model* model, pyrnn_model_info* info) {
  if (!model || !info) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_model_get_info: NULL argument");
  const Model& m = *model->m;
  info->input_is_tokens = m.tokens ? 1 : 0;
  info->input_size = size_t(m.input_size);
  info->vocab_size = size_t(m.vocab_size);
  info->output_size = size_t(m.output_size);
  info->num_layers = m.layers.size();
  info->can_step = m.can_step ? 1 : 0;
  info->has_last_step = m.has_last_step ? 1 : 0;
  info->state_size = size_t(m.state_size);
  return PYRNN_OK;
}

pyrnn_status pyrnn_state_create(const pyrnn_model* model, pyrnn_state** out) {
  if (!out) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_create: out is NULL");
  *out = nullptr;
  if (!model) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_create: model is NULL");
  return guarded("pyrnn_state_create", [&]() {
    const Model& m = *model->m;
    auto s = std::make_unique<pyrnn_state>();
    s->owner = model;
    s->h = FloatBuffer(size_t(m.state_size));
    s->act = FloatBuffer(2 * size_t(m.max_width));
    s->work = FloatBuffer(size_t(m.step_workspace(1)));
    *out = s.release();
    return PYRNN_OK;
  });
}

void pyrnn_state_free(pyrnn_state* state) { delete state; }

pyrnn_status pyrnn_state_reset(pyrnn_state* state) {
  if (!state) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_reset: state is NULL");
  if (state->h.size()) std::memset(state->h.data(), 0, state->h.size() * sizeof(float));
  return PYRNN_OK;
}

pyrnn_status pyrnn_state_get(const pyrnn_state* state, float* dst, size_t count) {
  if (!state || (!dst && count)) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_get: NULL argument");
  if (count != state->h.size())
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_get: count is %zu, the state has %zu floats",
                count, state->h.size());
  if (count) std::memcpy(dst, state->h.data(), count * sizeof(float));
  return PYRNN_OK;
}

pyrnn_status pyrnn_state_set(pyrnn_state* state, const float* src, size_t count) {
  if (!state || (!src && count)) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_set: NULL argument");
  if (count != state->h.size())
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_state_set: count is %zu, the state has %zu floats",
                count, state->h.size());
  if (count) std::memcpy(state->h.data(), src, count * sizeof(float));
  return PYRNN_OK;
}

pyrnn_status pyrnn_step(pyrnn_state* state, const float* x, size_t x_count, float* y,
                        size_t y_count) {
  if (state && state->owner->m->tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_step: the model takes token ids; use pyrnn_step_token");
  if (state && (!x || x_count != size_t(state->owner->m->input_size)))
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_step: x_count is %zu, the model takes %lld inputs per step%s",
                x_count, static_cast<long long>(state->owner->m->input_size), x ? "" : " (x is NULL)");
  return step_one("pyrnn_step", state, x, nullptr, y, y_count);
}

pyrnn_status pyrnn_step_token(pyrnn_state* state, int64_t token, float* y, size_t y_count) {
  if (state && !state->owner->m->tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_step_token: the model takes features; use pyrnn_step");
  return step_one("pyrnn_step_token", state, nullptr, &token, y, y_count);
}

pyrnn_status pyrnn_batch_create(const pyrnn_model* model, size_t max_streams, pyrnn_batch** out) {
  if (!out) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_batch_create: out is NULL");
  *out = nullptr;
  if (!model) return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_batch_create: model is NULL");
  if (max_streams == 0 || max_streams > (size_t(1) << 24))
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_batch_create: max_streams must be 1 .. 2^24, got %zu",
                max_streams);
  return guarded("pyrnn_batch_create", [&]() {
    const Model& m = *model->m;
    auto b = std::make_unique<pyrnn_batch>();
    b->owner = model;
    b->max_streams = max_streams;
    b->gathered = FloatBuffer(size_t(m.state_size) * max_streams);
    b->act = FloatBuffer(2 * size_t(m.max_width) * max_streams);
    b->work = FloatBuffer(size_t(m.step_workspace(int64_t(max_streams))));
    *out = b.release();
    return PYRNN_OK;
  });
}

void pyrnn_batch_free(pyrnn_batch* batch) { delete batch; }

pyrnn_status pyrnn_step_batch(pyrnn_batch* batch, pyrnn_state* const* states, size_t n,
                              const float* x, float* y) {
  if (batch && batch->owner->m->tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_step_batch: the model takes token ids; use pyrnn_step_batch_tokens");
  return step_many("pyrnn_step_batch", batch, states, n, x, nullptr, y);
}

pyrnn_status pyrnn_step_batch_tokens(pyrnn_batch* batch, pyrnn_state* const* states, size_t n,
                                     const int64_t* tokens, float* y) {
  if (batch && !batch->owner->m->tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_step_batch_tokens: the model takes features; use pyrnn_step_batch");
  if (batch && n && !tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_step_batch_tokens: tokens is NULL");
  return step_many("pyrnn_step_batch_tokens", batch, states, n, nullptr, tokens, y);
}

pyrnn_status pyrnn_run(const pyrnn_model* model, pyrnn_state* state, const float* x, size_t T,
                       float* y, size_t y_count) {
  return run_core("pyrnn_run", model, state, x, nullptr, T, y, y_count);
}

pyrnn_status pyrnn_run_tokens(const pyrnn_model* model, pyrnn_state* state,
                              const int64_t* tokens, size_t T, float* y, size_t y_count) {
  if (!tokens && model && model->m->tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_run_tokens: tokens is NULL");
  if (model && !model->m->tokens)
    return fail(PYRNN_ERR_INVALID_ARGUMENT, "pyrnn_run_tokens: the model takes features; use pyrnn_run");
  return run_core("pyrnn_run_tokens", model, state, nullptr, tokens, T, y, y_count);
}

void pyrnn_set_num_threads(int n) { pyrnn::set_num_threads(n); }

int pyrnn_get_num_threads(void) { return pyrnn::get_num_threads(); }

}  // extern "C"
