// A small strict JSON reader (RFC 8259, no extensions): a pull interface for the
// safetensors header and a capped DOM for the architecture. Never reads out of bounds;
// every malformed input throws rt::Error with the byte offset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "error.h"

namespace pyrnn {
namespace rt {

class JsonReader {
 public:
  // `what` names the document in messages ("header", "architecture").
  JsonReader(const char* data, size_t size, const char* what, int max_depth = 32)
      : p_(data), n_(size), what_(what), max_depth_(max_depth) {}

  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject, kEnd };

  void skip_ws();                  // JSON whitespace: space, tab, LF, CR
  Kind peek();                     // skips whitespace; what the next value is
  bool try_consume(char c);        // skips whitespace; consumes c if it is next
  void expect(char c);             // skips whitespace; throws unless c is next
  size_t pos() const { return i_; }
  size_t size() const { return n_; }
  const char* data() const { return p_; }

  // Reads a string value (decoded to UTF-8 into *out, or only validated if out is null).
  void read_string(std::string* out);
  // Reads a number token; returns its text. Sets *is_uint and *value when the token is a
  // plain non-negative integer (no sign, fraction or exponent) <= 2^63-1.
  std::pair<size_t, size_t> read_number(bool* is_uint, uint64_t* value);
  bool read_bool();
  void read_null();
  void skip_value(int depth = 0);  // validates and discards one value

  [[noreturn]] void fail(const std::string& msg) const;
  [[noreturn]] void fail_at(size_t at, const std::string& msg) const;

 private:
  void literal(const char* word);
  uint32_t hex4();
  const char* p_;
  size_t n_;
  size_t i_ = 0;
  const char* what_;
  int max_depth_;
};

// A parsed JSON value. Objects keep their members in file order; duplicate keys are
// rejected when parsing.
struct JsonValue {
  JsonReader::Kind kind = JsonReader::kNull;
  bool boolean = false;
  bool is_uint = false;   // number: a plain non-negative integer <= 2^63-1
  uint64_t uint = 0;      // its value
  std::string text;       // string value, or the number's literal text
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;

  const JsonValue* find(const char* key) const;  // object member or null
};

// Parses a whole document (whitespace around the value allowed). At most max_values values
// and max_depth nesting: the memory used is bounded by the input size and max_values.
JsonValue parse_json(const char* data, size_t size, const char* what, size_t max_values,
                     int max_depth = 32);

// Locale-independent conversion of a JSON number literal.
double json_number_value(const std::string& text);

}  // namespace rt
}  // namespace pyrnn
