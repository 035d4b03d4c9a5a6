// Strict safetensors container parser (see safetensors.h and pyrnn/safetensors_io.py).
// Every offset, shape and size is checked with overflow-safe arithmetic before use.
#include "safetensors.h"

#include <algorithm>
#include <cstring>

#include "error.h"
#include "json.h"

namespace pyrnn {
namespace rt {

namespace {

constexpr uint64_t kInt63Max = (uint64_t(1) << 63) - 1;

[[noreturn]] void bad(const std::string& msg) { throw Error(PYRNN_ERR_FORMAT, msg); }

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s.size() > 60 ? s.substr(0, 60) + "..." : s)
    q += (c >= 0x20 && c < 0x7f) ? c : '?';
  return q + "'";
}

size_t item_size(Dtype d) { return d == Dtype::F32 ? 4 : 8; }

uint64_t read_u64le(const uint8_t* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

void parse_metadata(JsonReader& r, Container& c) {
  if (r.peek() != JsonReader::kObject) bad("__metadata__: expected an object of strings");
  r.expect('{');
  if (r.try_consume('}')) return;
  do {
    std::string key, value;
    r.read_string(&key);
    r.expect(':');
    if (r.peek() != JsonReader::kString) bad("__metadata__[" + quoted(key) + "]: expected a string");
    r.read_string(&value);
    c.metadata.emplace_back(std::move(key), std::move(value));
  } while (r.try_consume(','));
  r.expect('}');
  std::vector<const std::string*> keys;
  for (const auto& kv : c.metadata) keys.push_back(&kv.first);
  std::sort(keys.begin(), keys.end(), [](auto a, auto b) { return *a < *b; });
  for (size_t k = 1; k < keys.size(); ++k)
    if (*keys[k] == *keys[k - 1]) bad("header: duplicate key " + quoted(*keys[k]) + " in __metadata__");
}

uint64_t read_uint(JsonReader& r, const std::string& what) {
  if (r.peek() != JsonReader::kNumber) bad(what + ": expected a non-negative integer");
  bool ok = false;
  uint64_t v = 0;
  r.read_number(&ok, &v);
  if (!ok) bad(what + ": expected a non-negative integer 0 .. 2**63-1");
  return v;
}

void parse_tensor(JsonReader& r, TensorEntry& t) {
  const std::string where = "tensor " + quoted(t.name);
  if (r.peek() != JsonReader::kObject)
    bad(where + ": expected an object with dtype, shape, data_offsets");
  r.expect('{');
  bool have_dtype = false, have_shape = false, have_offsets = false;
  if (!r.try_consume('}')) {
    do {
      std::string key;
      r.read_string(&key);
      r.expect(':');
      if (key == "dtype") {
        if (have_dtype) bad(where + ": duplicate key 'dtype'");
        have_dtype = true;
        std::string code;
        if (r.peek() != JsonReader::kString) bad(where + ": unsupported dtype (expected F32, F64 or I64)");
        r.read_string(&code);
        if (code == "F32") t.dtype = Dtype::F32;
        else if (code == "F64") t.dtype = Dtype::F64;
        else if (code == "I64") t.dtype = Dtype::I64;
        else bad(where + ": unsupported dtype " + quoted(code) + " (expected F32, F64 or I64)");
      } else if (key == "shape") {
        if (have_shape) bad(where + ": duplicate key 'shape'");
        have_shape = true;
        if (r.peek() != JsonReader::kArray) bad(where + ": shape is not a list");
        r.expect('[');
        if (!r.try_consume(']')) {
          do {
            if (t.rank == kMaxRank) bad(where + ": rank exceeds " + std::to_string(kMaxRank));
            t.shape[t.rank] = read_uint(r, where + ": shape[" + std::to_string(t.rank) + "]");
            ++t.rank;
          } while (r.try_consume(','));
          r.expect(']');
        }
      } else if (key == "data_offsets") {
        if (have_offsets) bad(where + ": duplicate key 'data_offsets'");
        have_offsets = true;
        if (r.peek() != JsonReader::kArray) bad(where + ": data_offsets must be a list [begin, end]");
        r.expect('[');
        if (r.try_consume(']')) bad(where + ": data_offsets must be a list [begin, end]");
        t.begin = read_uint(r, where + ": data_offsets[0]");
        if (!r.try_consume(',')) bad(where + ": data_offsets must be a list [begin, end]");
        t.end = read_uint(r, where + ": data_offsets[1]");
        if (!r.try_consume(']')) bad(where + ": data_offsets must be a list [begin, end]");
      } else {
        bad(where + ": unexpected key " + quoted(key));
      }
    } while (r.try_consume(','));
    r.expect('}');
  }
  if (!have_dtype || !have_shape || !have_offsets)
    bad(where + ": missing " + (!have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets"));
}

}  // namespace

const char* dtype_name(Dtype d) { return d == Dtype::F32 ? "F32" : d == Dtype::F64 ? "F64" : "I64"; }

const TensorEntry* Container::find(const std::string& name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TensorEntry& t, const std::string& n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

const std::string* Container::meta(const char* key) const {
  for (const auto& kv : metadata)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

uint64_t check_header_length(const uint8_t* first8, uint64_t total_size) {
  if (total_size < 8)
    bad("file of " + std::to_string(total_size) + " bytes is too short for the 8-byte header length");
  const uint64_t n = read_u64le(first8);
  if (n > kMaxHeaderSize)
    bad("header length " + std::to_string(n) + " exceeds the limit of " +
        std::to_string(kMaxHeaderSize) + " bytes");
  if (n > total_size - 8)
    bad("header length " + std::to_string(n) + " exceeds the " + std::to_string(total_size - 8) +
        " bytes after the length field (truncated file?)");
  return n;
}

Container parse_safetensors(const uint8_t* bytes, size_t size) {
  const uint64_t n = check_header_length(bytes, size);
  const char* h = reinterpret_cast<const char*>(bytes + 8);
  // The header is one object starting at its first byte, followed only by space padding.
  size_t end = size_t(n);
  while (end > 0 && h[end - 1] == ' ') --end;
  if (end == 0 || h[0] != '{') bad("header does not start with '{'");
  JsonReader r(h, end, "header");

  Container c;
  bool have_meta = false;
  r.expect('{');
  if (!r.try_consume('}')) {
    do {
      std::string name;
      r.read_string(&name);
      r.expect(':');
      if (name == "__metadata__") {
        if (have_meta) bad("header: duplicate key '__metadata__'");
        have_meta = true;
        parse_metadata(r, c);
        continue;
      }
      if (name.empty()) bad("empty tensor name");
      c.tensors.emplace_back();
      c.tensors.back().name = std::move(name);
      parse_tensor(r, c.tensors.back());
    } while (r.try_consume(','));
    r.expect('}');
  }
  if (r.pos() != end) r.fail("extra data after the header object");

  c.data = bytes + 8 + n;
  c.data_size = uint64_t(size) - 8 - n;
  for (const TensorEntry& t : c.tensors) {
    const std::string where = "tensor " + quoted(t.name);
    // nbytes = item size x product(shape), which must stay <= 2^63-1 unless a dim is 0.
    uint64_t nbytes = item_size(t.dtype);
    bool zero = false, overflow = false;
    for (int k = 0; k < t.rank; ++k) zero |= t.shape[k] == 0;
    for (int k = 0; k < t.rank && !zero; ++k) {
      if (nbytes > kInt63Max / t.shape[k]) overflow = true;
      else nbytes *= t.shape[k];
    }
    if (zero) nbytes = 0;
    if (overflow) bad(where + ": shape overflows");
    if (t.begin > t.end || t.end > c.data_size)
      bad(where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
          "] outside the data buffer of " + std::to_string(c.data_size) + " bytes");
    if (t.end - t.begin != nbytes)
      bad(where + ": " + std::to_string(t.end - t.begin) + " bytes for dtype " + dtype_name(t.dtype) +
          " (expected " + std::to_string(nbytes) + ")");
  }
  // Sorted by offset the tensors must tile the buffer exactly.
  std::vector<const TensorEntry*> by_offset;
  by_offset.reserve(c.tensors.size());
  for (const TensorEntry& t : c.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto a, auto b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const TensorEntry* t : by_offset) {
    if (t->begin < pos) bad("tensor " + quoted(t->name) + ": data_offsets overlap another tensor");
    if (t->begin > pos)
      bad("tensor " + quoted(t->name) + ": gap in the data buffer before offset " +
          std::to_string(t->begin));
    pos = t->end;
  }
  if (pos != c.data_size)
    bad("data buffer has " + std::to_string(c.data_size - pos) + " bytes not covered by any tensor");

  std::sort(c.tensors.begin(), c.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  for (size_t k = 1; k < c.tensors.size(); ++k)
    if (c.tensors[k].name == c.tensors[k - 1].name)
      bad("header: duplicate key " + quoted(c.tensors[k].name));
  return c;
}

}  // namespace rt
}  // namespace pyrnn
