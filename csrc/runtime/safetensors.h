// Strict safetensors container parser: the same rules as pyrnn/safetensors_io.py (listed
// there). Works on a caller-owned byte span and copies nothing but names and metadata.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pyrnn {
namespace rt {

constexpr uint64_t kMaxHeaderSize = 100000000;  // docs/model-format.md
constexpr int kMaxRank = 8;

enum class Dtype { F32, F64, I64 };
const char* dtype_name(Dtype d);

struct TensorEntry {
  std::string name;
  Dtype dtype;
  int rank = 0;
  uint64_t shape[kMaxRank] = {};
  uint64_t begin = 0, end = 0;  // byte offsets into the data buffer, validated
};

struct Container {
  std::vector<TensorEntry> tensors;  // file order
  std::vector<std::pair<std::string, std::string>> metadata;
  const uint8_t* data = nullptr;  // the data buffer (inside the caller's span)
  uint64_t data_size = 0;

  const TensorEntry* find(const std::string& name) const;  // tensors sorted by name: O(log n)
  const std::string* meta(const char* key) const;
};

// Checks the header length, parses and validates the header against the whole file
// [bytes, bytes + size). Throws rt::Error (PYRNN_ERR_FORMAT) on any violation.
Container parse_safetensors(const uint8_t* bytes, size_t size);

// Validates the 8-byte length prefix against the total size; returns the header length.
uint64_t check_header_length(const uint8_t* first8, uint64_t total_size);

}  // namespace rt
}  // namespace pyrnn
