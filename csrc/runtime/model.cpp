// Model loading: safetensors container -> validated architecture -> weights copied into an
// aligned arena (and packed once for streaming). Every architecture value is range-checked
// before it sizes anything, and every tensor must exist with dtype F32 and its exact
// shape, so sizes never lie. The rules match pyrnn.model's loader.
#include "model.h"

#include <algorithm>
#include <initializer_list>
#include <cstring>
#include <new>

#include "error.h"
#include "json.h"
#include "safetensors.h"

namespace pyrnn {
namespace rt {

FloatBuffer::FloatBuffer(size_t n) : n_(n) {
  if (n == 0) return;
  p_ = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
  std::memset(p_, 0, n * sizeof(float));
}

FloatBuffer& FloatBuffer::operator=(FloatBuffer&& o) noexcept {
  if (this != &o) {
    this->~FloatBuffer();
    p_ = o.p_, n_ = o.n_;
    o.p_ = nullptr, o.n_ = 0;
  }
  return *this;
}

FloatBuffer::~FloatBuffer() {
  if (p_) ::operator delete(p_, std::align_val_t(64));
}

int64_t Model::cell_workspace(int64_t T, int64_t B) const {
  const KernelTable<float>& k = kernels<float>();
  int64_t most = 0;
  for (const Layer& L : layers)
    for (const Cell& c : L.cells) {
      const SeqDims d{T, B, c.I, c.H, nullptr, false};
      int64_t n = 0;
      if (L.kind == LayerKind::lstm) n = k.lstm_workspace_size(d, false);
      else if (L.kind == LayerKind::gru) n = k.gru_workspace_size(d, false);
      else n = k.rnn_workspace_size(d, false);
      most = std::max(most, n);
    }
  return most;
}

int64_t Model::step_workspace(int64_t B) const {
  int64_t most = 0;
  if (!step_kernels) return 0;
  const KernelTable<float>& k = *step_kernels;
  for (const Layer& L : layers)
    for (const Cell& c : L.cells) {
      int64_t n = 0;
      if (L.kind == LayerKind::lstm) n = k.lstm_step_workspace_size(B, c.I, c.H);
      else if (L.kind == LayerKind::gru) n = k.gru_step_workspace_size(B, c.I, c.H);
      else n = k.rnn_step_workspace_size(B, c.I, c.H);
      most = std::max(most, n);
    }
  return most;
}

namespace {

[[noreturn]] void model_error(const std::string& msg) {
  throw Error(PYRNN_ERR_MODEL, msg);
}

// Accessors over the architecture DOM; `where` prefixes messages.
struct Obj {
  const JsonValue& v;
  std::string where;

  const JsonValue* get(const char* key) const { return v.find(key); }

  // The object has exactly these keys (as pyrnn.model's loader demands).
  void keys(std::initializer_list<const char*> want) const {
    for (const char* k : want)
      if (!get(k)) model_error(where + ": missing \"" + k + "\"");
    for (const auto& m : v.members) {
      bool known = false;
      for (const char* k : want) known |= m.first == k;
      if (!known) model_error(where + ": unknown key \"" + printable(m.first) + "\"");
    }
  }

  int64_t size(const char* key, int64_t lo, int64_t hi) const {
    const JsonValue* x = get(key);
    if (!x) model_error(where + ": missing \"" + key + "\"");
    if (x->kind != JsonReader::kNumber || !x->is_uint || int64_t(x->uint) < lo ||
        int64_t(x->uint) > hi)
      model_error(where + ": \"" + key + "\" must be an integer " + std::to_string(lo) + " .. " +
                  std::to_string(hi) + ", got " + show(*x));
    return int64_t(x->uint);
  }

  bool flag(const char* key) const {
    const JsonValue* x = get(key);
    if (!x) model_error(where + ": missing \"" + key + "\"");
    if (x->kind != JsonReader::kBool) model_error(where + ": \"" + key + "\" must be true or false, got " + show(*x));
    return x->boolean;
  }

  std::string text(const char* key) const {
    const JsonValue* x = get(key);
    if (!x) model_error(where + ": missing \"" + key + "\"");
    if (x->kind != JsonReader::kString) model_error(where + ": \"" + key + "\" must be a string, got " + show(*x));
    return x->text;
  }

  void fraction(const char* key) const {  // dropout probabilities: ignored, but checked
    const JsonValue* x = get(key);
    if (!x) model_error(where + ": missing \"" + key + "\"");
    if (x->kind != JsonReader::kNumber) model_error(where + ": \"" + key + "\" must be a number, got " + show(*x));
    const double p = json_number_value(x->text);
    if (!(p >= 0.0 && p <= 1.0)) model_error(where + ": \"" + key + "\" must be in [0, 1], got " + x->text);
  }

  static std::string show(const JsonValue& x) {
    switch (x.kind) {
      case JsonReader::kNull: return "null";
      case JsonReader::kBool: return x.boolean ? "true" : "false";
      case JsonReader::kNumber: return x.text.substr(0, 40);
      case JsonReader::kString: return "\"" + printable(x.text) + "\"";
      case JsonReader::kArray: return "an array";
      case JsonReader::kObject: return "an object";
      default: return "?";
    }
  }

  static std::string printable(const std::string& s) {
    std::string o;
    for (const char c : s.substr(0, 40)) o += (c >= 0x20 && c < 0x7f) ? c : '?';
    return s.size() > 40 ? o + "..." : o;
  }
};

// A tensor the architecture requires, and where its weights land in the arena.
struct Want {
  std::string name;
  int rank;
  int64_t dims[2];
  const float** slot;  // receives the arena pointer
  size_t offset = 0;   // in floats, in the arena
};

int64_t gates_of(LayerKind k) { return k == LayerKind::lstm ? 4 : k == LayerKind::gru ? 3 : 1; }

}  // namespace

std::unique_ptr<Model> load_model(const uint8_t* bytes, size_t size) {
  const Container c = parse_safetensors(bytes, size);

  const std::string* format = c.meta("format");
  if (!format)
    model_error("not a pyrnn model: __metadata__ has no \"format\" (a plain safetensors file?)");
  if (*format != "pyrnn.model")
    model_error("not a pyrnn model: __metadata__[\"format\"] is \"" + Obj::printable(*format) +
                "\", expected \"pyrnn.model\"");
  const std::string* version = c.meta("version");
  if (!version) model_error("__metadata__ has no \"version\"");
  if (*version != "1")
    throw Error(PYRNN_ERR_UNSUPPORTED, "model format version \"" + Obj::printable(*version) +
                                           "\" is not supported (this runtime reads version 1)");
  const std::string* arch_text = c.meta("architecture");
  if (!arch_text) model_error("__metadata__ has no \"architecture\"");
  JsonValue arch;
  try {
    arch = parse_json(arch_text->data(), arch_text->size(), "architecture",
                      kMaxArchitectureValues, 16);
  } catch (const Error& e) {
    model_error(e.what());
  }
  if (arch.kind != JsonReader::kObject) model_error("architecture: expected a JSON object");
  const Obj top{arch, "architecture"};
  top.keys({"dtype", "batch_first", "input", "layers"});

  auto model = std::make_unique<Model>();
  Model& m = *model;
  const std::string dtype = top.text("dtype");
  if (dtype == "float64")
    throw Error(PYRNN_ERR_UNSUPPORTED,
                "float64 models are not supported by the C runtime; save the model as float32");
  if (dtype != "float32")
    model_error("architecture: \"dtype\" must be \"float32\" or \"float64\", got \"" +
                Obj::printable(dtype) + "\"");
  top.flag("batch_first");

  const JsonValue* input = top.get("input");
  if (!input || input->kind != JsonReader::kObject)
    model_error("architecture: \"input\" must be an object {\"kind\": ...}");
  const Obj in{*input, "architecture.input"};
  const std::string kind = in.text("kind");
  if (kind == "features") {
    in.keys({"kind", "size"});
    m.input_size = in.size("size", 1, kMaxDim);
  } else if (kind == "tokens") {
    in.keys({"kind", "vocab_size"});
    m.tokens = true;
    m.vocab_size = in.size("vocab_size", 1, kMaxDim);
    m.input_size = 1;
  } else {
    model_error("architecture.input: \"kind\" must be \"features\" or \"tokens\", got \"" +
                Obj::printable(kind) + "\"");
  }

  const JsonValue* layers = top.get("layers");
  if (!layers || layers->kind != JsonReader::kArray)
    model_error("architecture: \"layers\" must be an array");
  if (layers->items.empty() || int64_t(layers->items.size()) > kMaxLayerEntries)
    model_error("architecture: \"layers\" must have 1 .. " + std::to_string(kMaxLayerEntries) +
                " entries, got " + std::to_string(layers->items.size()));
  int64_t recurrent_layers = 0;  // sum of num_layers: at most kMaxLayers
  bool has_time = true;          // false after a LastStep

  std::vector<Want> wants;
  int64_t width = m.tokens ? 0 : m.input_size;  // features flowing into the next layer
  m.max_width = std::max<int64_t>(m.input_size, 1);
  m.layers.reserve(layers->items.size());  // Want::slot points into layers: no reallocation
  for (size_t li = 0; li < layers->items.size(); ++li) {
    const JsonValue& lv = layers->items[li];
    std::string where = "architecture.layers[" + std::to_string(li) + "]";
    if (lv.kind != JsonReader::kObject) model_error(where + ": expected an object");
    const Obj o{lv, where};
    m.layers.emplace_back();
    Layer& L = m.layers.back();
    const std::string type = o.text("type");
    L.name = o.text("name");
    size_t chars = 0;  // code points, as Python counts them
    for (const char ch : L.name) chars += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    if (L.name.empty() || chars > 256 || L.name.find('.') != std::string::npos)
      model_error(where + ": \"name\" must be 1 .. 256 characters without '.', got \"" +
                  Obj::printable(L.name) + "\"");
    for (size_t k = 0; k + 1 < m.layers.size(); ++k)
      if (m.layers[k].name == L.name)
        model_error(where + ": layer name \"" + Obj::printable(L.name) + "\" is used twice");
    where += " ('" + Obj::printable(L.name) + "', " + Obj::printable(type) + ")";
    const Obj lo{lv, where};
    L.in = width;

    if (type == "Embedding") {
      lo.keys({"type", "name", "num_embeddings", "embedding_dim"});
      L.kind = LayerKind::embedding;
      if (!m.tokens || li != 0)
        model_error(where + ": an Embedding must be the first layer of a model with token input");
      const int64_t num = lo.size("num_embeddings", 1, kMaxDim);
      L.out = lo.size("embedding_dim", 1, kMaxDim);
      if (num != m.vocab_size)
        model_error(where + ": num_embeddings " + std::to_string(num) +
                    " differs from input.vocab_size " + std::to_string(m.vocab_size));
      wants.push_back({L.name + ".weight", 2, {num, L.out}, &L.weight});
    } else if (type == "LSTM" || type == "GRU" || type == "RNN") {
      L.kind = type == "LSTM" ? LayerKind::lstm : type == "GRU" ? LayerKind::gru : LayerKind::rnn;
      if (L.kind == LayerKind::lstm)
        lo.keys({"type", "name", "input_size", "hidden_size", "num_layers", "bias", "bidirectional",
                 "dropout"});
      else
        lo.keys({"type", "name", "input_size", "hidden_size", "num_layers", "bias", "bidirectional",
                 "dropout", L.kind == LayerKind::gru ? "reset_after" : "nonlinearity"});
      if (width == 0) model_error(where + ": token input needs an Embedding first");
      if (!has_time) model_error(where + ": needs a sequence, but a LastStep before it removed time");
      const int64_t I = lo.size("input_size", 1, kMaxDim);
      if (I != width)
        model_error(where + ": input_size " + std::to_string(I) + " differs from the " +
                    std::to_string(width) + " features the previous layer gives");
      L.H = lo.size("hidden_size", 1, kMaxDim);
      L.num_layers = lo.size("num_layers", 1, kMaxLayers);
      recurrent_layers += L.num_layers;
      if (recurrent_layers > kMaxLayers)
        model_error(where + ": more than " + std::to_string(kMaxLayers) + " recurrent layers in all");
      const bool bias = lo.flag("bias");
      L.D = lo.flag("bidirectional") ? 2 : 1;
      lo.fraction("dropout");
      if (L.kind == LayerKind::gru) L.reset_after = lo.flag("reset_after");
      if (L.kind == LayerKind::rnn) {
        const std::string nl = lo.text("nonlinearity");
        if (nl == "tanh") L.act = Activation::tanh;
        else if (nl == "relu") L.act = Activation::relu;
        else model_error(where + ": \"nonlinearity\" must be \"tanh\" or \"relu\", got \"" +
                         Obj::printable(nl) + "\"");
      }
      if (L.D == 2) m.can_step = false;
      const int64_t G = gates_of(L.kind);
      L.cells.resize(size_t(L.num_layers * L.D));
      for (int64_t l = 0; l < L.num_layers; ++l)
        for (int64_t d = 0; d < L.D; ++d) {
          Cell& cell = L.cells[size_t(l * L.D + d)];
          cell.I = l == 0 ? I : L.D * L.H;
          cell.H = L.H;
          cell.reverse = d == 1;
          cell.h_off = m.state_size;
          m.state_size += L.H;
          if (L.kind == LayerKind::lstm) {
            cell.c_off = m.state_size;
            m.state_size += L.H;
          }
          const std::string sfx = std::to_string(l) + (d == 1 ? "_reverse" : "");
          const std::string p = L.name + ".";
          wants.push_back({p + "weight_ih_l" + sfx, 2, {G * L.H, cell.I}, &cell.w.W_ih});
          wants.push_back({p + "weight_hh_l" + sfx, 2, {G * L.H, L.H}, &cell.w.W_hh});
          if (bias) {
            wants.push_back({p + "bias_ih_l" + sfx, 1, {G * L.H, 0}, &cell.w.b_ih});
            wants.push_back({p + "bias_hh_l" + sfx, 1, {G * L.H, 0}, &cell.w.b_hh});
          }
        }
      L.out = L.D * L.H;
      m.max_hidden = std::max(m.max_hidden, L.H);
    } else if (type == "Dropout") {
      lo.keys({"type", "name", "p"});
      L.kind = LayerKind::dropout;
      lo.fraction("p");
      L.out = width;
    } else if (type == "LastStep") {
      lo.keys({"type", "name"});
      L.kind = LayerKind::last_step;
      if (!has_time) model_error(where + ": the time axis was already removed by a LastStep");
      has_time = false;
      m.has_last_step = true;
      L.out = width;
    } else if (type == "Dense") {
      lo.keys({"type", "name", "in_features", "out_features", "bias", "activation"});
      L.kind = LayerKind::dense;
      if (width == 0) model_error(where + ": token input needs an Embedding first");
      const int64_t I = lo.size("in_features", 1, kMaxDim);
      if (I != width)
        model_error(where + ": in_features " + std::to_string(I) + " differs from the " +
                    std::to_string(width) + " features the previous layer gives");
      L.out = lo.size("out_features", 1, kMaxDim);
      const bool bias = lo.flag("bias");
      const JsonValue* act = lo.get("activation");
      if (act && act->kind != JsonReader::kNull) {
        if (act->kind != JsonReader::kString)
          model_error(where + ": \"activation\" must be null or a string, got " + Obj::show(*act));
        const std::string& a = act->text;
        if (a == "tanh") L.activation = DenseActivation::tanh;
        else if (a == "relu") L.activation = DenseActivation::relu;
        else if (a == "sigmoid") L.activation = DenseActivation::sigmoid;
        else if (a == "softmax") L.activation = DenseActivation::softmax;
        else model_error(where + ": unknown activation \"" + Obj::printable(a) +
                         "\" (expected null, tanh, relu, sigmoid or softmax)");
      }
      wants.push_back({L.name + ".weight", 2, {L.out, I}, &L.weight});
      if (bias) wants.push_back({L.name + ".bias", 1, {L.out, 0}, &L.bias});
    } else {
      model_error(where + ": unknown layer type \"" + Obj::printable(type) +
                  "\" (expected Embedding, LSTM, GRU, RNN, Dropout, LastStep or Dense)");
    }
    width = L.out;
    m.max_width = std::max(m.max_width, width);
  }
  if (width == 0) model_error("architecture: a token model needs layers after the Embedding");
  m.output_size = width;

  // Every wanted tensor present with dtype F32 and its exact shape; nothing else but
  // optional training state ("optimizer.*").
  size_t total = 0;
  std::vector<const TensorEntry*> found(wants.size());
  std::vector<bool> used(c.tensors.size(), false);
  for (size_t k = 0; k < wants.size(); ++k) {
    Want& w = wants[k];
    const TensorEntry* t = c.find(w.name);
    if (!t) model_error("missing tensor '" + Obj::printable(w.name) + "'");
    used[size_t(t - c.tensors.data())] = true;
    if (t->dtype != Dtype::F32)
      model_error("tensor '" + Obj::printable(w.name) + "': dtype " + dtype_name(t->dtype) +
                  ", expected F32 (the architecture's dtype)");
    bool same = t->rank == w.rank;
    for (int r = 0; same && r < w.rank; ++r) same = t->shape[r] == uint64_t(w.dims[r]);
    if (!same) {
      std::string got = "(", want = "(";
      for (int r = 0; r < t->rank; ++r) got += (r ? ", " : "") + std::to_string(t->shape[r]);
      for (int r = 0; r < w.rank; ++r) want += (r ? ", " : "") + std::to_string(w.dims[r]);
      model_error("tensor '" + Obj::printable(w.name) + "': shape " + got + "), expected " +
                  want + ")");
    }
    // The shape matched architecture sizes (<= 2^22 x 2^20) and the container checked the
    // bytes exist, so this cannot overflow. Each tensor starts 64-byte aligned.
    w.offset = total;
    total += size_t((t->end - t->begin) / 4 + 15) / 16 * 16;
    found[k] = t;
  }
  for (size_t k = 0; k < c.tensors.size(); ++k)
    if (!used[k] && c.tensors[k].name.compare(0, 10, "optimizer.") != 0)
      model_error("unexpected tensor '" + Obj::printable(c.tensors[k].name) +
                  "' (not part of the architecture)");

  m.weights = FloatBuffer(total);
  const uint32_t probe = 1;
  const bool little = *reinterpret_cast<const uint8_t*>(&probe) == 1;
  for (size_t k = 0; k < wants.size(); ++k) {
    const TensorEntry* t = found[k];
    float* dst = m.weights.data() + wants[k].offset;
    const size_t nbytes = size_t(t->end - t->begin);
    if (little) {
      std::memcpy(dst, c.data + t->begin, nbytes);
    } else {
      for (size_t e = 0; e < nbytes / 4; ++e) {
        const uint8_t* s = c.data + t->begin + 4 * e;
        const uint32_t v = uint32_t(s[0]) | uint32_t(s[1]) << 8 | uint32_t(s[2]) << 16 |
                           uint32_t(s[3]) << 24;
        std::memcpy(dst + e, &v, 4);
      }
    }
    *wants[k].slot = dst;
  }

  // Streaming: pack every cell's weights once, with the kernels that will step them.
  if (m.can_step) {
    const KernelTable<float>& k = kernels<float>();
    m.step_kernels = &k;
    auto packed_size = [&](const Layer& L, const Cell& c) {
      if (L.kind == LayerKind::lstm) return k.lstm_packed_size(c.I, c.H);
      if (L.kind == LayerKind::gru) return k.gru_packed_size(c.I, c.H);
      return k.rnn_packed_size(c.I, c.H);
    };
    size_t packed_total = 0;
    for (const Layer& L : m.layers)
      for (const Cell& c : L.cells) packed_total += size_t(packed_size(L, c) + 15) / 16 * 16;
    m.packed = FloatBuffer(packed_total);
    float* p = m.packed.data();
    for (Layer& L : m.layers)
      for (Cell& c : L.cells) {
        if (L.kind == LayerKind::lstm) k.lstm_pack(c.w, c.I, c.H, p);
        else if (L.kind == LayerKind::gru) k.gru_pack(c.w, c.I, c.H, L.reset_after, p);
        else k.rnn_pack(c.w, c.I, c.H, p);
        c.packed = p;
        p += size_t(packed_size(L, c) + 15) / 16 * 16;
      }
  }
  return model;
}

}  // namespace rt
}  // namespace pyrnn
