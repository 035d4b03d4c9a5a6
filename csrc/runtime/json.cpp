// Strict JSON reader (see json.h): bounds-checked at every byte, UTF-8 validated,
// surrogate pairs checked, depth and value count capped.
#include "json.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace pyrnn {
namespace rt {

void JsonReader::fail(const std::string& msg) const { fail_at(i_, msg); }

void JsonReader::fail_at(size_t at, const std::string& msg) const {
  throw Error(PYRNN_ERR_FORMAT,
              std::string(what_) + " is not valid JSON: " + msg + " at byte " + std::to_string(at));
}

void JsonReader::skip_ws() {
  while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
}

JsonReader::Kind JsonReader::peek() {
  skip_ws();
  if (i_ >= n_) return kEnd;
  switch (p_[i_]) {
    case '{': return kObject;
    case '[': return kArray;
    case '"': return kString;
    case 't': case 'f': return kBool;
    case 'n': return kNull;
    default: break;
  }
  if (p_[i_] == '-' || (p_[i_] >= '0' && p_[i_] <= '9')) return kNumber;
  fail(std::string("unexpected character '") + (p_[i_] >= 0x20 && p_[i_] < 0x7f ? p_[i_] : '?') +
       "'");
}

bool JsonReader::try_consume(char c) {
  skip_ws();
  if (i_ < n_ && p_[i_] == c) {
    ++i_;
    return true;
  }
  return false;
}

void JsonReader::expect(char c) {
  if (!try_consume(c)) {
    if (i_ >= n_) fail(std::string("unexpected end, expected '") + c + "'");
    fail(std::string("expected '") + c + "'");
  }
}

void JsonReader::literal(const char* word) {
  const size_t len = std::strlen(word);
  if (n_ - i_ < len || std::memcmp(p_ + i_, word, len) != 0) fail("invalid literal");
  i_ += len;
}

bool JsonReader::read_bool() {
  skip_ws();
  if (i_ < n_ && p_[i_] == 't') {
    literal("true");
    return true;
  }
  literal("false");
  return false;
}

void JsonReader::read_null() {
  skip_ws();
  literal("null");
}

uint32_t JsonReader::hex4() {
  if (n_ - i_ < 4) fail("truncated \\u escape");
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) {
    const char c = p_[i_ + k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
    else fail("invalid \\u escape");
  }
  i_ += 4;
  return v;
}

static void append_utf8(std::string* out, uint32_t cp) {
  if (!out) return;
  if (cp < 0x80) {
    out->push_back(char(cp));
  } else if (cp < 0x800) {
    out->push_back(char(0xC0 | (cp >> 6)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(char(0xE0 | (cp >> 12)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(char(0xF0 | (cp >> 18)));
    out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  }
}

void JsonReader::read_string(std::string* out) {
  skip_ws();
  if (i_ >= n_ || p_[i_] != '"') fail("expected a string");
  ++i_;
  if (out) out->clear();
  const auto* u = reinterpret_cast<const unsigned char*>(p_);
  for (;;) {
    if (i_ >= n_) fail("unterminated string");
    const unsigned char c = u[i_];
    if (c == '"') {
      ++i_;
      return;
    }
    if (c < 0x20) fail("control character in string");
    if (c == '\\') {
      if (n_ - i_ < 2) fail("unterminated string");
      const char e = p_[i_ + 1];
      i_ += 2;
      char plain = 0;
      switch (e) {
        case '"': plain = '"'; break;
        case '\\': plain = '\\'; break;
        case '/': plain = '/'; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'n': plain = '\n'; break;
        case 'r': plain = '\r'; break;
        case 't': plain = '\t'; break;
        case 'u': {
          const size_t at = i_ - 2;
          uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(at, "lone low surrogate escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (n_ - i_ < 2 || p_[i_] != '\\' || p_[i_ + 1] != 'u')
              fail_at(at, "lone high surrogate escape");
            i_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail_at(at, "lone high surrogate escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          continue;
        }
        default: fail_at(i_ - 2, "invalid escape");
      }
      if (out) out->push_back(plain);
      continue;
    }
    if (c < 0x80) {
      if (out) out->push_back(char(c));
      ++i_;
      continue;
    }
    // Multi-byte UTF-8: exact ranges of RFC 3629 (no overlongs, no surrogates, <= U+10FFFF).
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      fail("invalid UTF-8");
    }
    if (n_ - i_ < len) fail("invalid UTF-8 (truncated)");
    if (u[i_ + 1] < lo || u[i_ + 1] > hi) fail("invalid UTF-8");
    for (size_t k = 2; k < len; ++k)
      if (u[i_ + k] < 0x80 || u[i_ + k] > 0xBF) fail("invalid UTF-8");
    if (out) out->append(p_ + i_, len);
    i_ += len;
  }
}

std::pair<size_t, size_t> JsonReader::read_number(bool* is_uint, uint64_t* value) {
  skip_ws();
  const size_t start = i_;
  auto digit = [&](size_t k) { return k < n_ && p_[k] >= '0' && p_[k] <= '9'; };
  bool plain = true;
  if (i_ < n_ && p_[i_] == '-') {
    plain = false;
    ++i_;
  }
  if (!digit(i_)) fail("invalid number");
  const size_t int_start = i_;
  if (p_[i_] == '0') {
    ++i_;
    if (digit(i_)) fail("leading zero in number");
  } else {
    while (digit(i_)) ++i_;
  }
  const size_t int_end = i_;
  if (i_ < n_ && p_[i_] == '.') {
    plain = false;
    ++i_;
    if (!digit(i_)) fail("invalid number");
    while (digit(i_)) ++i_;
  }
  if (i_ < n_ && (p_[i_] == 'e' || p_[i_] == 'E')) {
    plain = false;
    ++i_;
    if (i_ < n_ && (p_[i_] == '+' || p_[i_] == '-')) ++i_;
    if (!digit(i_)) fail("invalid number");
    while (digit(i_)) ++i_;
  }
  uint64_t v = 0;
  if (plain) {
    constexpr uint64_t kMax = (uint64_t(1) << 63) - 1;
    for (size_t k = int_start; k < int_end && plain; ++k) {
      const uint64_t d = uint64_t(p_[k] - '0');
      if (v > (kMax - d) / 10) plain = false;  // would exceed 2^63-1
      else v = v * 10 + d;
    }
  }
  if (is_uint) *is_uint = plain;
  if (value) *value = plain ? v : 0;
  return {start, i_ - start};
}

void JsonReader::skip_value(int depth) {
  if (depth > max_depth_) fail("nested too deeply");
  switch (peek()) {
    case kEnd: fail("unexpected end");
    case kNull: read_null(); return;
    case kBool: read_bool(); return;
    case kNumber: read_number(nullptr, nullptr); return;
    case kString: read_string(nullptr); return;
    case kArray:
      expect('[');
      if (try_consume(']')) return;
      do skip_value(depth + 1);
      while (try_consume(','));
      expect(']');
      return;
    case kObject:
      expect('{');
      if (try_consume('}')) return;
      do {
        read_string(nullptr);
        expect(':');
        skip_value(depth + 1);
      } while (try_consume(','));
      expect('}');
      return;
  }
}

const JsonValue* JsonValue::find(const char* key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

namespace {

struct DomBuilder {
  JsonReader& r;
  size_t max_values;
  int max_depth;
  size_t count = 0;

  void parse(JsonValue& v, int depth) {
    if (depth > max_depth) r.fail("nested too deeply");
    if (++count > max_values) r.fail("more than " + std::to_string(max_values) + " values");
    v.kind = r.peek();
    switch (v.kind) {
      case JsonReader::kEnd: r.fail("unexpected end");
      case JsonReader::kNull: r.read_null(); return;
      case JsonReader::kBool: v.boolean = r.read_bool(); return;
      case JsonReader::kString: r.read_string(&v.text); return;
      case JsonReader::kNumber: {
        const auto span = r.read_number(&v.is_uint, &v.uint);
        v.text.assign(r.data() + span.first, span.second);
        return;
      }
      case JsonReader::kArray:
        r.expect('[');
        if (r.try_consume(']')) return;
        do {
          v.items.emplace_back();
          parse(v.items.back(), depth + 1);
        } while (r.try_consume(','));
        r.expect(']');
        return;
      case JsonReader::kObject: {
        r.expect('{');
        if (r.try_consume('}')) return;
        do {
          const size_t at = r.pos();
          std::string key;
          r.read_string(&key);
          for (const auto& m : v.members)  // members are few (capped by max_values)
            if (m.first == key) r.fail_at(at, "duplicate key \"" + key + "\"");
          r.expect(':');
          v.members.emplace_back(std::move(key), JsonValue());
          parse(v.members.back().second, depth + 1);
        } while (r.try_consume(','));
        r.expect('}');
        return;
      }
    }
  }
};

}  // namespace

JsonValue parse_json(const char* data, size_t size, const char* what, size_t max_values,
                     int max_depth) {
  JsonReader r(data, size, what, max_depth);
  DomBuilder b{r, max_values, max_depth};
  JsonValue v;
  b.parse(v, 0);
  r.skip_ws();
  if (r.pos() != size) r.fail("extra data after the value");
  return v;
}

double json_number_value(const std::string& text) {
  double v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (res.ec == std::errc()) return v;
  // Out of double's range: tiny magnitudes round to zero, huge ones to +-1e308.
  const bool neg = !text.empty() && text[0] == '-';
  const bool tiny = text.find("e-") != std::string::npos || text.find("E-") != std::string::npos;
  return tiny ? 0.0 : (neg ? -1e308 : 1e308);
}

}  // namespace rt
}  // namespace pyrnn
