// Fuzz target for the model loader (and whatever a loaded model then runs). With
// -DPYRNN_LIBFUZZER it is a libFuzzer target (clang -fsanitize=fuzzer); otherwise main()
// is a deterministic, time-bounded mutation fuzzer seeded from files and directories:
//   fuzz_loader [-max_total_time=S] [-runs=N] [-seed=N] SEED_FILE_OR_DIR...
// Exit code 0 unless a sanitizer or a crash stops it first.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "pyrnn/pyrnn.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pyrnn_model* m = nullptr;
  if (pyrnn_model_load_memory(data, size, &m) != PYRNN_OK) return 0;
  pyrnn_model_info info{};
  pyrnn_model_get_info(m, &info);
  // Keep each input cheap: a loaded model is exercised on 3 steps.
  std::vector<float> x(3 * info.input_size, 0.5f), y(3 * info.output_size);
  std::vector<int64_t> tokens(3, int64_t(info.vocab_size ? info.vocab_size - 1 : 0));
  pyrnn_state* s = nullptr;
  if (pyrnn_state_create(m, &s) == PYRNN_OK) {
    if (info.input_is_tokens) {
      pyrnn_run_tokens(m, s, tokens.data(), 3, y.data(), y.size());
      pyrnn_step_token(s, tokens[0], y.data(), y.size());
    } else {
      pyrnn_run(m, s, x.data(), 3, y.data(), y.size());
      pyrnn_step(s, x.data(), info.input_size, y.data(), y.size());
    }
    pyrnn_batch* b = nullptr;
    if (info.can_step && pyrnn_batch_create(m, 2, &b) == PYRNN_OK) {
      pyrnn_state* two[2] = {s, s};  // a duplicate: must be refused
      if (info.input_is_tokens) pyrnn_step_batch_tokens(b, two, 1, tokens.data(), y.data());
      else pyrnn_step_batch(b, two, 2, x.data(), y.data());
      pyrnn_batch_free(b);
    }
    pyrnn_state_free(s);
  }
  pyrnn_model_free(m);
  return 0;
}

#ifndef PYRNN_LIBFUZZER
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <fstream>
#include <string>

namespace {

struct Rng {  // splitmix64: deterministic on every platform
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n ? size_t(next() % n) : 0; }
};

const char* const kTokens[] = {
    "0", "1", "-1", "-0", "7", "255", "1048576", "1048577", "4294967296", "9223372036854775807",
    "9223372036854775808", "18446744073709551615", "99999999999999999999999", "1e308", "0.5",
    "1.0", "true", "false", "null", "\"\"", "\"F32\"", "\"F64\"", "\"I64\"", "[]", "{}",
    "[0,0]", "\"\\ud800\"", "\"LSTM\"", "\"GRU\"", "\"RNN\"", "\"Dense\"", "\"Embedding\"",
    "\"LastStep\"", "\"softmax\"", "\"tokens\"", "\"features\"", "\"float64\"", ",", ":", "{",
    "}", "[", "]", "\"", "\\", "\\\"", "NaN"};

uint64_t get_u64(const std::vector<uint8_t>& b) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | b[size_t(k)];
  return v;
}

void set_u64(std::vector<uint8_t>& b, uint64_t v) {
  for (int k = 0; k < 8; ++k) b[size_t(k)] = uint8_t(v >> (8 * k));
}

// Replaces bytes [at, at + len) of the header and keeps the length prefix consistent, so
// the mutation reaches the JSON and model checks rather than the length check.
void splice_header(std::vector<uint8_t>& b, size_t at, size_t len, const std::string& with) {
  b.erase(b.begin() + long(at), b.begin() + long(at + len));
  b.insert(b.begin() + long(at), with.begin(), with.end());
  set_u64(b, get_u64(b) - len + with.size());
}

void mutate(std::vector<uint8_t>& b, const std::vector<std::vector<uint8_t>>& seeds, Rng& r) {
  const bool has_header = b.size() >= 8 && get_u64(b) <= b.size() - 8 && get_u64(b) > 0;
  switch (r.below(has_header ? 10 : 6)) {
    case 0:  // flip a bit
      if (!b.empty()) b[r.below(b.size())] ^= uint8_t(1u << r.below(8));
      break;
    case 1:  // an interesting byte
      if (!b.empty()) b[r.below(b.size())] = uint8_t("\0\xff\"{}[],:-09 \\e."[r.below(17)]);
      break;
    case 2:  // truncate
      b.resize(r.below(b.size() + 1));
      break;
    case 3: {  // delete or duplicate a chunk
      if (b.empty()) break;
      const size_t at = r.below(b.size()), len = 1 + r.below(std::min<size_t>(64, b.size() - at));
      if (r.below(2)) b.erase(b.begin() + long(at), b.begin() + long(at + len));
      else b.insert(b.begin() + long(at), b.begin() + long(at), b.begin() + long(at + len));
      break;
    }
    case 4: {  // splice with another seed
      const auto& o = seeds[r.below(seeds.size())];
      const size_t cut = r.below(b.size() + 1), from = r.below(o.size() + 1);
      b.resize(cut);
      b.insert(b.end(), o.begin() + long(from), o.end());
      break;
    }
    case 5:  // tweak the length prefix
      if (b.size() >= 8) set_u64(b, get_u64(b) + uint64_t(int64_t(r.below(17)) - 8));
      break;
    default: {  // header-aware: replace a JSON token (number, string, punctuation)
      const size_t n = size_t(get_u64(b));
      const size_t at = 8 + r.below(n);
      size_t len = 1;
      const auto c = b[at];
      if (c == '"') {
        while (at + len < 8 + n && b[at + len] != '"') ++len;
        len = std::min(len + 1, 8 + n - at);
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        while (at + len < 8 + n && ((b[at + len] >= '0' && b[at + len] <= '9') || b[at + len] == '.'))
          ++len;
      }
      splice_header(b, at, len, kTokens[r.below(sizeof kTokens / sizeof *kTokens)]);
      break;
    }
  }
}

void add_seed(const std::filesystem::path& p, std::vector<std::vector<uint8_t>>& seeds) {
  std::ifstream f(p, std::ios::binary);
  seeds.emplace_back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  double max_time = 10;
  uint64_t runs = UINT64_MAX, seed = 1;
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-max_total_time=", 0) == 0) max_time = std::atof(a.c_str() + 16);
    else if (a.rfind("-runs=", 0) == 0) runs = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (a.rfind("-seed=", 0) == 0) seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (std::filesystem::is_directory(a)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(a))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());  // deterministic order
      for (const auto& f : files) add_seed(f, seeds);
    } else {
      add_seed(a, seeds);
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  pyrnn_set_num_threads(1);
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  Rng r{seed};
  const auto start = std::chrono::steady_clock::now();
  uint64_t done = 0, loaded = 0;
  std::vector<uint8_t> b;
  while (done < runs) {
    if ((done & 255) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= max_time)
      break;
    b = seeds[r.below(seeds.size())];
    const size_t n = 1 + r.below(4);
    for (size_t k = 0; k < n; ++k) mutate(b, seeds, r);
    pyrnn_model* m = nullptr;
    // Exact-size heap copy so that AddressSanitizer catches any read past the end.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[b.size() ? b.size() : 1]);
    if (!b.empty()) std::memcpy(exact.get(), b.data(), b.size());
    if (pyrnn_model_load_memory(exact.get(), b.size(), &m) == PYRNN_OK) {
      ++loaded;
      pyrnn_model_free(m);
      // Mutants that still load are worth mutating further.
      if (seeds.size() < 4096) seeds.push_back(b);
    }
    LLVMFuzzerTestOneInput(exact.get(), b.size());
    ++done;
  }
  std::printf("fuzz_loader: %llu inputs, %llu loaded, %zu seeds, seed=%llu\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(loaded),
              seeds.size(), static_cast<unsigned long long>(seed));
  return 0;
}
#endif
