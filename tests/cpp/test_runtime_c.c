/* The C API from C99 through the shared library: load (path and memory), run, step,
 * batch, tokens, errors, against tests/cpp/models/*.expected.txt. Usage: test_runtime_c MODELS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyrnn/pyrnn.h"

static int failed = 0;

#define CHECK(cond, msg)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      ++failed;                                                                       \
      printf("FAIL %s:%d: %s (%s) last error: %s\n", __FILE__, __LINE__, #cond, msg, \
             pyrnn_last_error());                                                     \
    }                                                                                 \
  } while (0)

/* Reads the values of line `key` ("key count v1 v2 ...") into a new array. */
static double* read_line(const char* path, const char* key, size_t* count) {
  FILE* f = fopen(path, "r");
  char word[64];
  double* v = NULL;
  *count = 0;
  if (!f) return NULL;
  while (fscanf(f, "%63s", word) == 1) {
    size_t n = 0, i;
    if (fscanf(f, "%zu", &n) != 1) break;
    if (strcmp(word, key) == 0) {
      v = (double*)malloc((n ? n : 1) * sizeof(double));
      for (i = 0; i < n; ++i)
        if (fscanf(f, "%lf", &v[i]) != 1) break;
      *count = n;
      break;
    }
    for (i = 0; i < n; ++i) {
      double skip;
      if (fscanf(f, "%lf", &skip) != 1) break;
    }
  }
  fclose(f);
  return v;
}

static int close_to(const float* got, const double* want, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i)
    if (fabs((double)got[i] - want[i]) > 2e-4 + 2e-4 * fabs(want[i])) return 0;
  return 1;
}

static char path_buf[2][1024];
static const char* model_path(const char* dir, const char* name, const char* ext, int which) {
  snprintf(path_buf[which], sizeof path_buf[which], "%s/%s%s", dir, name, ext);
  return path_buf[which];
}

static void test_features(const char* dir) {
  const char* exp = model_path(dir, "lstm_dense", ".expected.txt", 1);
  pyrnn_model* model = NULL;
  pyrnn_model_info info;
  pyrnn_state* s = NULL;
  size_t nx, nrun, nsteps, t, T;
  double* x = read_line(exp, "x", &nx);
  double* run = read_line(exp, "run", &nrun);
  double* steps = read_line(exp, "steps", &nsteps);
  float xf[64], y[64], yb[64];
  CHECK(x && run && steps && nx <= 64, "expected file");
  if (!x || !run || !steps) return;
  for (t = 0; t < nx; ++t) xf[t] = (float)x[t];

  CHECK(pyrnn_model_load(model_path(dir, "lstm_dense", ".pyrnn", 0), &model) == PYRNN_OK, "load");
  if (!model) return;
  CHECK(pyrnn_model_get_info(model, &info) == PYRNN_OK, "info");
  CHECK(info.input_size == 3 && info.output_size == 2 && info.can_step && !info.input_is_tokens,
        "info values");
  T = nx / info.input_size;
  CHECK(pyrnn_run(model, NULL, xf, T, y, 64) == PYRNN_OK, "run");
  CHECK(close_to(y, run, nrun), "run matches Python");

  CHECK(pyrnn_state_create(model, &s) == PYRNN_OK, "state");
  for (t = 0; t < T; ++t) {
    CHECK(pyrnn_step(s, xf + t * 3, 3, y, 2) == PYRNN_OK, "step");
    CHECK(close_to(y, steps + t * 2, 2), "step matches Python");
  }
  /* Batch of two streams: the second one starts two steps later. */
  {
    pyrnn_state* a = NULL;
    pyrnn_state* b = NULL;
    pyrnn_batch* batch = NULL;
    pyrnn_state* both[2];
    float xb[6];
    CHECK(pyrnn_state_create(model, &a) == PYRNN_OK && pyrnn_state_create(model, &b) == PYRNN_OK,
          "states");
    CHECK(pyrnn_batch_create(model, 2, &batch) == PYRNN_OK, "batch");
    both[0] = a;
    both[1] = b;
    CHECK(pyrnn_step_batch(batch, both, 1, xf, yb) == PYRNN_OK, "batch n=1");
    CHECK(pyrnn_step_batch(batch, both, 1, xf + 3, yb) == PYRNN_OK, "batch n=1");
    for (t = 2; t < T; ++t) {
      memcpy(xb, xf + t * 3, 3 * sizeof(float));
      memcpy(xb + 3, xf + (t - 2) * 3, 3 * sizeof(float));
      CHECK(pyrnn_step_batch(batch, both, 2, xb, yb) == PYRNN_OK, "batch n=2");
      CHECK(close_to(yb, steps + t * 2, 2), "stream a");
      CHECK(close_to(yb + 2, steps + (t - 2) * 2, 2), "stream b");
    }
    pyrnn_batch_free(batch);
    pyrnn_state_free(a);
    pyrnn_state_free(b);
  }
  /* Errors: status + message, nothing thrown. */
  CHECK(pyrnn_step(s, xf, 2, y, 2) == PYRNN_ERR_INVALID_ARGUMENT, "x_count");
  CHECK(strstr(pyrnn_last_error(), "x_count") != NULL, "message names x_count");
  CHECK(pyrnn_step(s, xf, 3, y, 1) == PYRNN_ERR_INVALID_ARGUMENT, "y_count");
  CHECK(pyrnn_step_token(s, 0, y, 2) == PYRNN_ERR_INVALID_ARGUMENT, "token on features");
  CHECK(pyrnn_step(NULL, xf, 3, y, 2) == PYRNN_ERR_INVALID_ARGUMENT, "NULL state");
  {
    pyrnn_state* none = s;
    CHECK(pyrnn_state_create(NULL, &none) == PYRNN_ERR_INVALID_ARGUMENT && none == NULL, "NULL model");
  }
  pyrnn_state_free(s);
  pyrnn_state_free(NULL);
  pyrnn_model_free(NULL);
  pyrnn_batch_free(NULL);

  /* From memory. */
  {
    FILE* f = fopen(model_path(dir, "lstm_dense", ".pyrnn", 0), "rb");
    long size;
    unsigned char* bytes;
    pyrnn_model* m2 = NULL;
    CHECK(f != NULL, "open");
    if (f) {
      fseek(f, 0, SEEK_END);
      size = ftell(f);
      fseek(f, 0, SEEK_SET);
      bytes = (unsigned char*)malloc((size_t)size);
      CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size, "read");
      fclose(f);
      CHECK(pyrnn_model_load_memory(bytes, (size_t)size, &m2) == PYRNN_OK, "load_memory");
      free(bytes);
      CHECK(pyrnn_run(m2, NULL, xf, T, y, 64) == PYRNN_OK && close_to(y, run, nrun), "memory run");
      pyrnn_model_free(m2);
      CHECK(pyrnn_model_load_memory("", 0, &m2) == PYRNN_ERR_FORMAT && m2 == NULL, "empty");
    }
  }
  pyrnn_model_free(model);
  free(x);
  free(run);
  free(steps);
}

static void test_tokens(const char* dir) {
  const char* exp = model_path(dir, "gru_tokens", ".expected.txt", 1);
  pyrnn_model* model = NULL;
  pyrnn_state* s = NULL;
  size_t nt, nsteps, t;
  double* tok = read_line(exp, "tokens", &nt);
  double* steps = read_line(exp, "steps", &nsteps);
  int64_t tokens[16];
  float y[11 * 16];
  CHECK(tok && steps && nt <= 16, "expected file");
  if (!tok || !steps) return;
  for (t = 0; t < nt; ++t) tokens[t] = (int64_t)tok[t];
  CHECK(pyrnn_model_load(model_path(dir, "gru_tokens", ".pyrnn", 0), &model) == PYRNN_OK, "load");
  if (!model) return;
  CHECK(pyrnn_state_create(model, &s) == PYRNN_OK, "state");
  for (t = 0; t < nt; ++t) {
    CHECK(pyrnn_step_token(s, tokens[t], y, 11) == PYRNN_OK, "step_token");
    CHECK(close_to(y, steps + t * 11, 11), "token step matches Python");
  }
  CHECK(pyrnn_run_tokens(model, NULL, tokens, nt, y, 11 * 16) == PYRNN_OK, "run_tokens");
  CHECK(close_to(y, steps, nsteps), "run_tokens matches Python");
  CHECK(pyrnn_step_token(s, 11, y, 11) == PYRNN_ERR_INVALID_ARGUMENT, "token out of range");
  CHECK(pyrnn_run(model, NULL, y, 1, y, 11) == PYRNN_ERR_INVALID_ARGUMENT, "features on tokens");
  pyrnn_state_free(s);
  pyrnn_model_free(model);
  free(tok);
  free(steps);
}

static void test_errors(const char* dir) {
  pyrnn_model* model = NULL;
  pyrnn_state* s = NULL;
  float x[2] = {0, 0}, y[3];
  CHECK(pyrnn_model_load(model_path(dir, "missing", ".pyrnn", 0), &model) == PYRNN_ERR_IO, "io");
  CHECK(model == NULL, "no model on failure");
  CHECK(strlen(pyrnn_last_error()) > 0, "message");
  CHECK(strcmp(pyrnn_status_string(PYRNN_ERR_FORMAT), "PYRNN_ERR_FORMAT") == 0, "status string");
  CHECK(pyrnn_model_load(model_path(dir, "bilstm_last", ".pyrnn", 0), &model) == PYRNN_OK, "load");
  if (!model) return;
  CHECK(pyrnn_state_create(model, &s) == PYRNN_OK, "state");
  CHECK(pyrnn_step(s, x, 2, y, 3) == PYRNN_ERR_UNSUPPORTED, "bidirectional step");
  CHECK(strstr(pyrnn_last_error(), "pyrnn_run") != NULL, "message says use pyrnn_run");
  CHECK(pyrnn_run(model, s, x, 1, y, 3) == PYRNN_OK, "bidirectional run");
  pyrnn_state_free(s);
  pyrnn_model_free(model);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    printf("usage: test_runtime_c MODELS_DIR\n");
    return 2;
  }
  CHECK(strcmp(pyrnn_version(), "0.1.0") == 0, "version");
  CHECK(PYRNN_VERSION_MAJOR == 0 && PYRNN_VERSION_MINOR == 1, "version macros");
  pyrnn_set_num_threads(1);
  CHECK(pyrnn_get_num_threads() == 1, "threads");
  test_features(argv[1]);
  test_tokens(argv[1]);
  test_errors(argv[1]);
  printf("%s\n", failed ? "FAILED" : "ok");
  return failed ? 1 : 0;
}
