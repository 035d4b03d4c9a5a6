/* Embedding pyrnn in C: load a model trained in Python (train.py), stream it one time step
 * at a time with no allocation, and check the outputs against Python's.
 *
 *   embed MODEL.pyrnn [--expect EXPECTED.txt] [--steps T]
 *
 * Input, the same in train.py: feature models get x_t[i] = 0.8 sin(0.3 t + 0.5 i); token
 * models get token_t = (7 t + 3) mod vocab_size. Prints one line per step: t, y_t. With
 * --expect, compares every y_t with the whitespace-separated floats of the file and exits
 * 1 on a mismatch. Also advances 3 independent streams in one batched call per step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyrnn/pyrnn.h"

#define MAX_T 1000

static int die(const char* what, pyrnn_status s) {
  fprintf(stderr, "%s failed: %s: %s\n", what, pyrnn_status_string(s), pyrnn_last_error());
  return 1;
}

static void input_at(const pyrnn_model_info* info, size_t t, float* x, int64_t* token) {
  size_t i;
  if (info->input_is_tokens) {
    *token = (int64_t)((7 * t + 3) % info->vocab_size);
    return;
  }
  for (i = 0; i < info->input_size; ++i) x[i] = (float)(0.8 * sin(0.3 * (double)t + 0.5 * (double)i));
}

static pyrnn_status step(pyrnn_state* s, const pyrnn_model_info* info, size_t t, float* x, float* y) {
  int64_t token = 0;
  input_at(info, t, x, &token);
  if (info->input_is_tokens) return pyrnn_step_token(s, token, y, info->output_size);
  return pyrnn_step(s, x, info->input_size, y, info->output_size);
}

int main(int argc, char** argv) {
  const char* model_path = "model.pyrnn";
  const char* expect_path = NULL;
  size_t T = 20, t, i, out, bad = 0;
  pyrnn_model* model = NULL;
  pyrnn_state* state = NULL;
  pyrnn_model_info info;
  pyrnn_status s;
  float *x, *y, *all;
  int a;

  for (a = 1; a < argc; ++a) {
    if (strcmp(argv[a], "--expect") == 0 && a + 1 < argc) expect_path = argv[++a];
    else if (strcmp(argv[a], "--steps") == 0 && a + 1 < argc) T = (size_t)strtoul(argv[++a], NULL, 10);
    else model_path = argv[a];
  }
  if (T == 0 || T > MAX_T) T = 20;

  printf("pyrnn %s\n", pyrnn_version());
  if ((s = pyrnn_model_load(model_path, &model)) != PYRNN_OK) return die("pyrnn_model_load", s);
  pyrnn_model_get_info(model, &info);
  printf("model %s: %s input %zu, output %zu, %s\n", model_path,
         info.input_is_tokens ? "token" : "feature", info.input_is_tokens ? info.vocab_size : info.input_size,
         info.output_size, info.can_step ? "streamable" : "bidirectional (whole sequences only)");
  if (!info.can_step) {
    pyrnn_model_free(model);
    return 0;
  }
  out = info.output_size;
  x = (float*)calloc(info.input_size, sizeof(float));
  y = (float*)calloc(out, sizeof(float));
  all = (float*)calloc(T * out, sizeof(float));
  if ((s = pyrnn_state_create(model, &state)) != PYRNN_OK) return die("pyrnn_state_create", s);

  /* The real-time loop: one step per incoming sample; nothing is allocated in here. */
  for (t = 0; t < T; ++t) {
    if ((s = step(state, &info, t, x, y)) != PYRNN_OK) return die("pyrnn_step", s);
    memcpy(all + t * out, y, out * sizeof(float));
    printf("%3zu", t);
    for (i = 0; i < out && i < 8; ++i) printf(" %+.6f", y[i]);
    printf(out > 8 ? " ...\n" : "\n");
  }

  /* Three streams that started at steps 0, 1, 2 advance together in one call per step;
   * each must reproduce the single-stream outputs at its own position. */
  {
    pyrnn_batch* batch = NULL;
    pyrnn_state* streams[3] = {NULL, NULL, NULL};
    float xb[3 * 64], yb[3 * 64];
    int64_t tb[3];
    size_t k, mismatches = 0;
    if (info.input_size > 64 || out > 64) goto skip_batch;
    if ((s = pyrnn_batch_create(model, 3, &batch)) != PYRNN_OK) return die("pyrnn_batch_create", s);
    for (k = 0; k < 3; ++k)
      if ((s = pyrnn_state_create(model, &streams[k])) != PYRNN_OK) return die("pyrnn_state_create", s);
    for (t = 0; t + 2 < T; ++t) {
      size_t n = 0;
      for (k = 0; k < 3 && k <= t; ++k) { /* stream k is at position t - k */
        input_at(&info, t - k, xb + n * info.input_size, &tb[n]);
        ++n;
      }
      s = info.input_is_tokens ? pyrnn_step_batch_tokens(batch, streams, n, tb, yb)
                               : pyrnn_step_batch(batch, streams, n, xb, yb);
      if (s != PYRNN_OK) return die("pyrnn_step_batch", s);
      for (k = 0; k < n; ++k)
        for (i = 0; i < out; ++i)
          if (fabsf(yb[k * out + i] - all[(t - k) * out + i]) > 1e-5f) ++mismatches;
    }
    printf("batched streams: %s\n", mismatches ? "MISMATCH" : "match the single stream");
    bad += mismatches;
    for (k = 0; k < 3; ++k) pyrnn_state_free(streams[k]);
    pyrnn_batch_free(batch);
  }
skip_batch:

  if (expect_path) {
    FILE* f = fopen(expect_path, "r");
    size_t n = 0;
    double v, worst = 0;
    if (!f) {
      fprintf(stderr, "cannot open %s\n", expect_path);
      return 1;
    }
    while (n < T * out && fscanf(f, "%lf", &v) == 1) {
      const double err = fabs(v - (double)all[n]);
      if (err > worst) worst = err;
      if (err > 2e-4 + 2e-4 * fabs(v)) ++bad;
      ++n;
    }
    fclose(f);
    if (n != T * out) {
      fprintf(stderr, "%s holds %zu values, expected %zu\n", expect_path, n, T * out);
      ++bad;
    }
    printf("compared with %s: %s (largest difference %.2g)\n", expect_path,
           bad ? "MISMATCH" : "match", worst);
  }
  pyrnn_state_free(state);
  pyrnn_model_free(model);
  free(x);
  free(y);
  free(all);
  return bad ? 1 : 0;
}
