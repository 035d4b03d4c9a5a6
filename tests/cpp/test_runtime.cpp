// Runtime tests (ctest): every model in tests/cpp/models against the outputs
// make_models.py computed with the Python reference, step/run/batch agreement, state
// layout, errors, thread safety, no allocation on the step path, the C++ wrapper, the
// strict JSON reader, and the corpus of nasty files. Usage: test_runtime MODELS CORPUS
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "json.h"
#include "pyrnn/pyrnn.h"
#include "pyrnn/pyrnn.hpp"

// ---- allocation counter: replaces global new/delete for this program ----
static std::atomic<long> g_allocs{0};
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, std::align_val_t a) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  const size_t al = static_cast<size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace fs = std::filesystem;

static int g_failed = 0, g_checks = 0;

#define CHECK(cond, ...)                                             \
  do {                                                               \
    ++g_checks;                                                      \
    if (!(cond)) {                                                   \
      ++g_failed;                                                    \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
      std::printf(__VA_ARGS__);                                      \
      std::printf("\n");                                             \
    }                                                                \
  } while (0)

#define CHECK_OK(call)                                                                   \
  do {                                                                                   \
    const pyrnn_status s_ = (call);                                                      \
    CHECK(s_ == PYRNN_OK, "%s -> %s: %s", #call, pyrnn_status_string(s_), pyrnn_last_error()); \
  } while (0)

static std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// "key count v1 v2 ..." lines.
static std::map<std::string, std::vector<double>> read_expected(const fs::path& p) {
  std::map<std::string, std::vector<double>> out;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string key;
    size_t n = 0;
    if (!(is >> key >> n)) continue;
    std::vector<double> v(n);
    for (auto& x : v) is >> x;
    out[key] = v;
  }
  return out;
}

static bool close(const float* got, const std::vector<double>& want, size_t n, double* worst) {
  if (want.size() != n) return false;
  double w = 0;
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    w = std::max(w, err);
    ok &= err <= 2e-4 + 2e-4 * std::fabs(want[i]);  // float32 engine vs float64 reference
  }
  if (worst) *worst = w;
  return ok;
}

struct Case {
  std::string name;
  pyrnn_model* model = nullptr;
  pyrnn_model_info info{};
  size_t T = 0;
  std::vector<float> x;         // (T, input_size)
  std::vector<int64_t> tokens;  // (T)
  std::map<std::string, std::vector<double>> exp;
};

static pyrnn_status step_t(pyrnn_state* s, const Case& c, size_t t, float* y) {
  if (c.info.input_is_tokens) return pyrnn_step_token(s, c.tokens[t], y, c.info.output_size);
  return pyrnn_step(s, c.x.data() + t * c.info.input_size, c.info.input_size, y, c.info.output_size);
}

static pyrnn_status run_all(const Case& c, pyrnn_state* s, float* y, size_t y_count) {
  if (c.info.input_is_tokens) return pyrnn_run_tokens(c.model, s, c.tokens.data(), c.T, y, y_count);
  return pyrnn_run(c.model, s, c.x.data(), c.T, y, y_count);
}

static void test_model(const fs::path& dir, const std::string& name) {
  Case c;
  c.name = name;
  c.exp = read_expected(dir / (name + ".expected.txt"));
  CHECK_OK(pyrnn_model_load((dir / (name + ".pyrnn")).string().c_str(), &c.model));
  if (!c.model) return;
  CHECK_OK(pyrnn_model_get_info(c.model, &c.info));
  const pyrnn_model_info& info = c.info;
  c.T = size_t(c.exp["T"].at(0));
  if (info.input_is_tokens)
    for (double v : c.exp["tokens"]) c.tokens.push_back(int64_t(v));
  else
    for (double v : c.exp["x"]) c.x.push_back(float(v));
  const size_t out = info.output_size, run_T = info.has_last_step ? 1 : c.T;
  double worst = 0;

  // From memory: same model, same outputs; the buffer may be freed right after loading.
  {
    std::vector<uint8_t> bytes = read_bytes(dir / (name + ".pyrnn"));
    pyrnn_model* m2 = nullptr;
    CHECK_OK(pyrnn_model_load_memory(bytes.data(), bytes.size(), &m2));
    std::fill(bytes.begin(), bytes.end(), 0xAB);
    if (m2) {
      Case c2 = c;
      c2.model = m2;
      std::vector<float> y(run_T * out);
      CHECK_OK(run_all(c2, nullptr, y.data(), y.size()));
      CHECK(close(y.data(), c.exp["run"], y.size(), &worst), "%s: run (memory) err %g", name.c_str(), worst);
      pyrnn_model_free(m2);
    }
  }

  // Whole sequence from a zero state.
  std::vector<float> y(run_T * out);
  CHECK_OK(run_all(c, nullptr, y.data(), y.size()));
  CHECK(close(y.data(), c.exp["run"], y.size(), &worst), "%s: run err %g", name.c_str(), worst);
  CHECK(run_all(c, nullptr, y.data(), y.size() - 1) == PYRNN_ERR_INVALID_ARGUMENT, "%s: small y", name.c_str());

  // Run with a state: final state layout; then from the nonzero h0.
  pyrnn_state* s = nullptr;
  CHECK_OK(pyrnn_state_create(c.model, &s));
  std::vector<float> st(info.state_size);
  CHECK_OK(run_all(c, s, y.data(), y.size()));
  CHECK_OK(pyrnn_state_get(s, st.data(), st.size()));
  CHECK(close(st.data(), c.exp["state"], st.size(), &worst), "%s: state after run err %g", name.c_str(), worst);
  std::vector<float> h0;
  for (double v : c.exp["h0"]) h0.push_back(float(v));
  CHECK_OK(pyrnn_state_set(s, h0.data(), h0.size()));
  CHECK_OK(run_all(c, s, y.data(), y.size()));
  CHECK(close(y.data(), c.exp["run_h0"], y.size(), &worst), "%s: run from h0 err %g", name.c_str(), worst);
  CHECK_OK(pyrnn_state_get(s, st.data(), st.size()));
  CHECK(close(st.data(), c.exp["state_h0"], st.size(), &worst), "%s: state from h0 err %g", name.c_str(), worst);
  CHECK(pyrnn_state_set(s, h0.data(), h0.size() + 1) == PYRNN_ERR_INVALID_ARGUMENT, "set count");

  std::vector<float> yt(out);
  if (!info.can_step) {
    CHECK_OK(pyrnn_state_reset(s));
    const pyrnn_status r = step_t(s, c, 0, yt.data());
    CHECK(r == PYRNN_ERR_UNSUPPORTED, "%s: step on a bidirectional model gave %s", name.c_str(),
          pyrnn_status_string(r));
    CHECK(std::strstr(pyrnn_last_error(), "bidirectional") != nullptr, "message: %s", pyrnn_last_error());
    pyrnn_batch* b = nullptr;
    CHECK_OK(pyrnn_batch_create(c.model, 2, &b));
    CHECK(pyrnn_step_batch(b, &s, 1, c.x.data(), yt.data()) != PYRNN_OK, "batch on bidirectional");
    pyrnn_batch_free(b);
  } else {
    // T single steps == the per-step expected outputs; final state == run's.
    const std::vector<double>& steps = c.exp["steps"];
    CHECK_OK(pyrnn_state_reset(s));
    for (size_t t = 0; t < c.T; ++t) {
      CHECK_OK(step_t(s, c, t, yt.data()));
      std::vector<double> want(steps.begin() + long(t * out), steps.begin() + long((t + 1) * out));
      CHECK(close(yt.data(), want, out, &worst), "%s: step %zu err %g", name.c_str(), t, worst);
    }
    CHECK_OK(pyrnn_state_get(s, st.data(), st.size()));
    CHECK(close(st.data(), c.exp["state"], st.size(), &worst), "%s: state after steps err %g", name.c_str(), worst);
    // Stepping from h0 gives run_h0's outputs.
    CHECK_OK(pyrnn_state_set(s, h0.data(), h0.size()));
    for (size_t t = 0; t < c.T; ++t) CHECK_OK(step_t(s, c, t, yt.data()));
    const std::vector<double>& rh = c.exp["run_h0"];
    std::vector<double> last(rh.end() - long(out), rh.end());
    CHECK(close(yt.data(), last, out, &worst), "%s: steps from h0 err %g", name.c_str(), worst);

    // Batched streaming: stream k joins at call k and leaves after T steps; states are
    // passed in a shuffled order each call. Each must see exactly the expected outputs.
    const size_t K = 6;
    std::vector<pyrnn_state*> streams(K);
    for (auto& p : streams) CHECK_OK(pyrnn_state_create(c.model, &p));
    pyrnn_batch* b = nullptr;
    CHECK_OK(pyrnn_batch_create(c.model, K, &b));
    std::mt19937 rng(7);
    for (size_t call = 0; call < K + c.T - 1; ++call) {
      std::vector<size_t> active;
      for (size_t k = 0; k < K; ++k)
        if (call >= k && call - k < c.T) active.push_back(k);
      std::shuffle(active.begin(), active.end(), rng);
      std::vector<pyrnn_state*> ss;
      std::vector<float> xb;
      std::vector<int64_t> tb;
      for (size_t k : active) {
        const size_t t = call - k;
        ss.push_back(streams[k]);
        if (info.input_is_tokens) tb.push_back(c.tokens[t]);
        else xb.insert(xb.end(), c.x.begin() + long(t * info.input_size), c.x.begin() + long((t + 1) * info.input_size));
      }
      std::vector<float> yb(active.size() * out);
      if (info.input_is_tokens) CHECK_OK(pyrnn_step_batch_tokens(b, ss.data(), ss.size(), tb.data(), yb.data()));
      else CHECK_OK(pyrnn_step_batch(b, ss.data(), ss.size(), xb.data(), yb.data()));
      for (size_t i = 0; i < active.size(); ++i) {
        const size_t t = call - active[i];
        std::vector<double> want(steps.begin() + long(t * out), steps.begin() + long((t + 1) * out));
        CHECK(close(yb.data() + i * out, want, out, &worst), "%s: batch call %zu stream %zu err %g",
              name.c_str(), call, active[i], worst);
      }
    }
    for (auto* p : streams) {
      CHECK_OK(pyrnn_state_get(p, st.data(), st.size()));
      CHECK(close(st.data(), c.exp["state"], st.size(), &worst), "%s: batch final state err %g", name.c_str(), worst);
    }
    // Errors leave every state untouched: duplicates, too many, bad token, foreign state.
    std::vector<float> before(info.state_size), after(info.state_size);
    CHECK_OK(pyrnn_state_get(streams[0], before.data(), before.size()));
    std::vector<float> xb(3 * info.input_size, 0.5f), yb(8 * out);
    std::vector<int64_t> tb = {0, 0, 0};
    pyrnn_state* dup[3] = {streams[0], streams[1], streams[0]};
    pyrnn_status r = info.input_is_tokens ? pyrnn_step_batch_tokens(b, dup, 3, tb.data(), yb.data())
                                          : pyrnn_step_batch(b, dup, 3, xb.data(), yb.data());
    CHECK(r == PYRNN_ERR_INVALID_ARGUMENT, "duplicate state: %s", pyrnn_status_string(r));
    CHECK(std::strstr(pyrnn_last_error(), "twice") != nullptr, "message: %s", pyrnn_last_error());
    std::vector<pyrnn_state*> many(K + 1, streams[0]);
    r = info.input_is_tokens ? pyrnn_step_batch_tokens(b, many.data(), K + 1, tb.data(), yb.data())
                             : pyrnn_step_batch(b, many.data(), K + 1, xb.data(), yb.data());
    CHECK(r == PYRNN_ERR_INVALID_ARGUMENT, "n > max_streams");
    if (info.input_is_tokens) {
      int64_t badt[2] = {0, int64_t(info.vocab_size)};
      CHECK(pyrnn_step_batch_tokens(b, streams.data(), 2, badt, yb.data()) == PYRNN_ERR_INVALID_ARGUMENT, "token range");
      CHECK(pyrnn_step_token(streams[0], -1, yb.data(), out) == PYRNN_ERR_INVALID_ARGUMENT, "token -1");
      CHECK(pyrnn_step(streams[0], xb.data(), 1, yb.data(), out) == PYRNN_ERR_INVALID_ARGUMENT, "features on tokens");
      int64_t bad_seq[2] = {0, -5};
      CHECK(pyrnn_run_tokens(c.model, streams[0], bad_seq, 2, yb.data(), yb.size()) == PYRNN_ERR_INVALID_ARGUMENT, "run token");
    } else {
      CHECK(pyrnn_step(streams[0], xb.data(), info.input_size + 1, yb.data(), out) == PYRNN_ERR_INVALID_ARGUMENT, "x_count");
      CHECK(pyrnn_step(streams[0], nullptr, info.input_size, yb.data(), out) == PYRNN_ERR_INVALID_ARGUMENT, "x NULL");
      CHECK(pyrnn_step_token(streams[0], 0, yb.data(), out) == PYRNN_ERR_INVALID_ARGUMENT, "token on features");
    }
    CHECK(pyrnn_run(c.model, streams[0], c.x.data(), 0, yb.data(), yb.size()) != PYRNN_OK, "T = 0");
    CHECK_OK(pyrnn_state_get(streams[0], after.data(), after.size()));
    CHECK(before == after, "%s: a failed call changed a state", name.c_str());

    // No allocation on the step paths (after one warm-up call).
    long a0 = g_allocs.load();
    for (size_t t = 0; t < c.T; ++t) CHECK_OK(step_t(s, c, t, yt.data()));
    CHECK(g_allocs.load() == a0, "%s: step allocated %ld times", name.c_str(), g_allocs.load() - a0);
    std::vector<float> xk(K * std::max<size_t>(info.input_size, 1), 0.25f), yk(K * out);
    std::vector<int64_t> tk(K, 1);
    auto batch_call = [&]() {
      return info.input_is_tokens ? pyrnn_step_batch_tokens(b, streams.data(), K, tk.data(), yk.data())
                                  : pyrnn_step_batch(b, streams.data(), K, xk.data(), yk.data());
    };
    CHECK_OK(batch_call());
    a0 = g_allocs.load();
    for (int i = 0; i < 5; ++i) CHECK_OK(batch_call());
    CHECK(g_allocs.load() == a0, "%s: batch step allocated %ld times", name.c_str(), g_allocs.load() - a0);
    // Wrong model for a batch.
    pyrnn_model* other = nullptr;
    CHECK_OK(pyrnn_model_load((dir / (name + ".pyrnn")).string().c_str(), &other));
    pyrnn_state* foreign = nullptr;
    CHECK_OK(pyrnn_state_create(other, &foreign));
    pyrnn_state* mixed[2] = {streams[0], foreign};
    r = info.input_is_tokens ? pyrnn_step_batch_tokens(b, mixed, 2, tb.data(), yb.data())
                             : pyrnn_step_batch(b, mixed, 2, xb.data(), yb.data());
    CHECK(r == PYRNN_ERR_INVALID_ARGUMENT, "foreign state in batch");
    CHECK(run_all(c, foreign, y.data(), y.size()) == PYRNN_ERR_INVALID_ARGUMENT, "foreign state in run");
    pyrnn_state_free(foreign);
    pyrnn_model_free(other);

    // Threads: separate states on one shared model give the single-thread results.
    std::vector<std::vector<float>> results(4);
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th)
      threads.emplace_back([&, th]() {
        pyrnn_state* ts = nullptr;
        if (pyrnn_state_create(c.model, &ts) != PYRNN_OK) return;
        std::vector<float> yy(out);
        for (int rep = 0; rep < 50; ++rep) {
          pyrnn_state_reset(ts);
          for (size_t t = 0; t < c.T; ++t) step_t(ts, c, t, yy.data());
        }
        // Errors on this thread leave their own message.
        pyrnn_step_token(nullptr, 0, yy.data(), out);
        if (std::strstr(pyrnn_last_error(), "state is NULL")) results[th] = yy;
        pyrnn_state_free(ts);
      });
    for (auto& t : threads) t.join();
    std::vector<double> last_step(steps.end() - long(out), steps.end());
    for (int th = 0; th < 4; ++th)
      CHECK(close(results[th].data(), last_step, out, &worst), "%s: thread %d err %g", name.c_str(), th, worst);
    for (auto* p : streams) pyrnn_state_free(p);
    pyrnn_batch_free(b);
  }
  pyrnn_state_free(s);
  pyrnn_model_free(c.model);
}

// ---- the C++ wrapper ----
static void test_wrapper(const fs::path& dir) {
  auto exp = read_expected(dir / "lstm_dense.expected.txt");
  pyrnn::Model m = pyrnn::Model::load((dir / "lstm_dense.pyrnn").string());
  std::vector<float> x;
  for (double v : exp["x"]) x.push_back(float(v));
  double worst = 0;
  const std::vector<float> y = m.run(x);
  CHECK(close(y.data(), exp["run"], y.size(), &worst), "wrapper run err %g", worst);
  pyrnn::State s(m);
  std::vector<float> yt;
  for (size_t t = 0; t < 7; ++t) yt = s.step(std::vector<float>(x.begin() + long(3 * t), x.begin() + long(3 * t + 3)));
  std::vector<double> last(exp["steps"].end() - 2, exp["steps"].end());
  CHECK(close(yt.data(), last, 2, &worst), "wrapper step err %g", worst);
  CHECK(s.get().size() == m.info().state_size, "state size");
  bool threw = false;
  try {
    s.step(std::vector<float>(2, 0.f));
  } catch (const pyrnn::Error& e) {
    threw = e.status() == PYRNN_ERR_INVALID_ARGUMENT && std::strstr(e.what(), "x_count");
  }
  CHECK(threw, "wrapper throws pyrnn::Error with the message");
  threw = false;
  try {
    pyrnn::Model::load((dir / "does-not-exist.pyrnn").string());
  } catch (const pyrnn::Error& e) {
    threw = e.status() == PYRNN_ERR_IO;
  }
  CHECK(threw, "missing file -> PYRNN_ERR_IO");
  pyrnn::State kept = [&]() {  // the state keeps its model alive
    pyrnn::Model tmp = pyrnn::Model::load((dir / "gru_tokens.pyrnn").string());
    return pyrnn::State(tmp);
  }();
  CHECK(kept.step_token(3).size() == 11, "token step through a state that outlives its Model");
  pyrnn::Batch batch(m, 2);
  pyrnn::State s2(m);
  pyrnn_state* two[2] = {s.get_handle(), s2.get_handle()};
  std::vector<float> yb(4);
  batch.step(two, 2, x.data(), yb.data());
  CHECK(pyrnn::version() == "0.1.0", "version %s", pyrnn::version().c_str());
}

// ---- the strict JSON reader ----
static void test_json() {
  using pyrnn::rt::parse_json;
  auto ok = [](const char* s) {
    try {
      parse_json(s, std::strlen(s), "t", 100);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  };
  const char* good[] = {"{}", "[]", " [1, -2.5e3, 0, 0.0, 1E+2, true, false, null] ", "\"\\u00e9\\ud83d\\ude00\"",
                        "{\"a\":{\"b\":[\"\\n\\t\\\\\\/\"]}}", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "-0"};
  for (const char* s : good) CHECK(ok(s), "should parse: %s", s);
  const char* bad[] = {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "NaN", "Infinity",
                       "tru", "nul", "[1 2]", "{\"a\" 1}", "{a:1}", "'a'", "\"\\x\"", "\"\\ud800\"",
                       "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\x01\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                       "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"", "{\"a\":1,\"a\":2}", "[] []", "\"abc",
                       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"};
  for (const char* s : bad) CHECK(!ok(s), "should fail: %s", s);
  std::string many = "[";
  for (int i = 0; i < 200; ++i) many += "0,";
  many += "0]";
  CHECK(!ok(many.c_str()), "value cap");
  const auto v = parse_json("{\"n\": 9223372036854775807, \"m\": 9223372036854775808}", 52, "t", 10);
  CHECK(v.find("n")->is_uint && v.find("n")->uint == 9223372036854775807ull, "2^63-1");
  CHECK(!v.find("m")->is_uint, "2^63 is not a uint");
  CHECK(pyrnn::rt::json_number_value("0.25") == 0.25, "number value");
}

// ---- corpus and generated nasty files ----
static void test_corpus(const fs::path& corpus, const fs::path& models) {
  std::ifstream f(corpus / "EXPECTED.txt");
  std::string file, status;
  int n = 0;
  while (f >> file >> status) {
    ++n;
    pyrnn_model* m = nullptr;
    const pyrnn_status s = pyrnn_model_load((corpus / file).string().c_str(), &m);
    CHECK(s != PYRNN_OK && m == nullptr, "%s loaded", file.c_str());
    CHECK(status == pyrnn_status_string(s), "%s: expected %s, got %s (%s)", file.c_str(), status.c_str(),
          pyrnn_status_string(s), pyrnn_last_error());
    CHECK(std::strlen(pyrnn_last_error()) > 10, "%s: no message", file.c_str());
    const std::vector<uint8_t> bytes = read_bytes(corpus / file);
    // Exactly sized heap copy: ASan sees any read past the end.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.size() + 1]);
    if (!bytes.empty()) std::memcpy(exact.get(), bytes.data(), bytes.size());
    const pyrnn_status s2 = pyrnn_model_load_memory(bytes.empty() ? nullptr : exact.get(), bytes.size(), &m);
    CHECK(s2 == s, "%s: memory load gave %s, file load %s", file.c_str(), pyrnn_status_string(s2), pyrnn_status_string(s));
  }
  CHECK(n > 50, "corpus has %d files", n);

  // Generated: a valid container whose architecture JSON has too many values, too many
  // layer entries, and a file with a 1 MB space-padded header.
  auto with_arch = [](const std::string& arch) {
    std::string meta = "{\"__metadata__\":{\"format\":\"pyrnn.model\",\"version\":\"1\",\"architecture\":\"";
    for (char ch : arch) meta += ch == '"' ? std::string("\\\"") : std::string(1, ch);
    meta += "\"}}";
    std::vector<uint8_t> out(8 + meta.size());
    const uint64_t n = meta.size();
    for (int k = 0; k < 8; ++k) out[size_t(k)] = uint8_t(n >> (8 * k));
    std::memcpy(out.data() + 8, meta.data(), meta.size());
    return out;
  };
  std::string arch = "{\"dtype\":\"float32\",\"batch_first\":true,\"input\":{\"kind\":\"features\",\"size\":2},\"layers\":[";
  for (int i = 0; i < 40000; ++i) arch += "0,";
  arch += "0]}";
  auto blob = with_arch(arch);
  pyrnn_model* m = nullptr;
  CHECK(pyrnn_model_load_memory(blob.data(), blob.size(), &m) == PYRNN_ERR_MODEL, "40000 values");
  CHECK(std::strstr(pyrnn_last_error(), "values") != nullptr, "msg: %s", pyrnn_last_error());
  arch = "{\"dtype\":\"float32\",\"batch_first\":true,\"input\":{\"kind\":\"features\",\"size\":2},\"layers\":[";
  for (int i = 0; i < 1025; ++i) arch += "{\"type\":\"Dropout\",\"name\":\"d" + std::to_string(i) + "\",\"p\":0},";
  arch.back() = ']';
  arch += "}";
  blob = with_arch(arch);
  CHECK(pyrnn_model_load_memory(blob.data(), blob.size(), &m) == PYRNN_ERR_MODEL, "1025 layers: %s", pyrnn_last_error());
  std::vector<uint8_t> padded(8 + (1 << 20), ' ');
  const uint64_t hn = 1 << 20;
  for (int k = 0; k < 8; ++k) padded[size_t(k)] = uint8_t(hn >> (8 * k));
  padded[8] = '{';
  padded[9] = '}';
  CHECK(pyrnn_model_load_memory(padded.data(), padded.size(), &m) == PYRNN_ERR_MODEL, "padded: %s", pyrnn_last_error());
  CHECK(pyrnn_model_load_memory(nullptr, 0, &m) == PYRNN_ERR_FORMAT, "empty");
  CHECK(pyrnn_model_load_memory(nullptr, 10, &m) == PYRNN_ERR_INVALID_ARGUMENT, "NULL data");
  CHECK(pyrnn_model_load(nullptr, &m) == PYRNN_ERR_INVALID_ARGUMENT, "NULL path");
  CHECK(pyrnn_model_load(models.string().c_str(), &m) == PYRNN_ERR_IO, "a directory: %s", pyrnn_last_error());

  // Every truncation of every valid model fails cleanly; random corruption never crashes.
  std::mt19937 rng(12345);
  for (const auto& e : fs::directory_iterator(models)) {
    if (e.path().extension() != ".pyrnn") continue;
    const std::vector<uint8_t> bytes = read_bytes(e.path());
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      std::unique_ptr<uint8_t[]> exact(new uint8_t[cut ? cut : 1]);
      if (cut) std::memcpy(exact.get(), bytes.data(), cut);
      const pyrnn_status s = pyrnn_model_load_memory(exact.get(), cut, &m);
      CHECK(s == PYRNN_ERR_FORMAT, "%s cut at %zu: %s", e.path().filename().c_str(), cut, pyrnn_status_string(s));
    }
    for (int i = 0; i < 3000; ++i) {
      std::vector<uint8_t> b = bytes;
      const int flips = 1 + int(rng() % 3);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
      if (pyrnn_model_load_memory(b.data(), b.size(), &m) == PYRNN_OK) {
        pyrnn_model_info info{};
        pyrnn_model_get_info(m, &info);
        pyrnn_state* s = nullptr;
        std::vector<float> x(4 * info.input_size, 0.1f), y(4 * info.output_size);
        std::vector<int64_t> t(4, 0);
        if (pyrnn_state_create(m, &s) == PYRNN_OK) {
          if (info.input_is_tokens) pyrnn_run_tokens(m, s, t.data(), 4, y.data(), y.size());
          else pyrnn_run(m, s, x.data(), 4, y.data(), y.size());
          pyrnn_state_free(s);
        }
        pyrnn_model_free(m);
        m = nullptr;
      }
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::printf("usage: test_runtime MODELS_DIR CORPUS_DIR\n");
    return 2;
  }
  const fs::path models = argv[1], corpus = argv[2];
  CHECK(std::strcmp(pyrnn_version(), "0.1.0") == 0, "version %s", pyrnn_version());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(models)) {
    const std::string f = e.path().filename().string();
    const std::string suffix = ".expected.txt";
    if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
      names.push_back(f.substr(0, f.size() - suffix.size()));
  }
  std::sort(names.begin(), names.end());
  CHECK(names.size() >= 6, "found %zu models", names.size());
  for (const auto& n : names) {
    const int before = g_failed;
    test_model(models, n);
    std::printf("%-16s %s\n", n.c_str(), g_failed == before ? "ok" : "FAILED");
  }
  // Training state (optimizer.* tensors, extra metadata) is ignored.
  pyrnn_model* m = nullptr;
  CHECK_OK(pyrnn_model_load((models / "lstm_dense_with_optimizer.pyrnn").string().c_str(), &m));
  pyrnn_model_free(m);
  test_wrapper(models);
  test_json();
  test_corpus(corpus, models);
  std::printf("%d checks, %d failed\n", g_checks, g_failed);
  return g_failed ? 1 : 0;
}
