/* pyrnn C API: load a .pyrnn model (docs/model-format.md) and run it with no Python.
 * Stable C99 ABI; every call returns a status and never lets an exception escape. */
#ifndef PYRNN_PYRNN_H
#define PYRNN_PYRNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(PYRNN_SHARED_BUILD)
#define PYRNN_API __declspec(dllexport)
#elif defined(_WIN32) && defined(PYRNN_SHARED)
#define PYRNN_API __declspec(dllimport)
#elif defined(__GNUC__)
#define PYRNN_API __attribute__((visibility("default")))
#else
#define PYRNN_API
#endif

#define PYRNN_VERSION_MAJOR 0
#define PYRNN_VERSION_MINOR 1
#define PYRNN_VERSION_PATCH 0

/* Every call that can fail returns one of these; on failure pyrnn_last_error() says why. */
typedef enum pyrnn_status {
  PYRNN_OK = 0,
  PYRNN_ERR_INVALID_ARGUMENT = 1, /* null pointer, wrong count, token out of range, ... */
  PYRNN_ERR_IO = 2,               /* the file cannot be opened or read */
  PYRNN_ERR_FORMAT = 3,           /* malformed safetensors container or header JSON */
  PYRNN_ERR_MODEL = 4,            /* well-formed file, invalid or inconsistent model */
  PYRNN_ERR_UNSUPPORTED = 5,      /* valid model, feature this runtime or call lacks */
  PYRNN_ERR_OUT_OF_MEMORY = 6,
  PYRNN_ERR_INTERNAL = 7
} pyrnn_status;

/* Threads: a loaded model is immutable, so any number of threads may use it at once, each
 * with its own states (and batches). A state or a batch is used by one thread at a time.
 * Free states and batches before their model. */

/* A loaded model: architecture, weights, and weights packed for streaming. */
typedef struct pyrnn_model pyrnn_model;
/* The recurrent state (h, c of every layer) of one stream, plus its step workspace. */
typedef struct pyrnn_state pyrnn_state;
/* Workspace to advance up to max_streams states of one model in one call. */
typedef struct pyrnn_batch pyrnn_batch;

typedef struct pyrnn_model_info {
  int input_is_tokens;  /* 1: inputs are token ids (first layer Embedding) */
  size_t input_size;    /* floats per step (features), 1 for token models */
  size_t vocab_size;    /* token models: ids are 0 .. vocab_size-1; else 0 */
  size_t output_size;   /* floats per step of the last layer */
  size_t num_layers;    /* entries of the architecture's "layers" */
  int can_step;         /* 0 if a layer is bidirectional: use pyrnn_run */
  int has_last_step;    /* 1: pyrnn_run returns only the last step */
  size_t state_size;    /* floats of recurrent state (all h and c) */
} pyrnn_model_info;

/* "0.1.0": the library's version (not the file format's, which is 1). */
PYRNN_API const char* pyrnn_version(void);
/* Message of the last failed call on this thread ("" if none); valid until this thread's
 * next failing call. Each thread has its own. */
PYRNN_API const char* pyrnn_last_error(void);
/* Short constant name of a status, e.g. "PYRNN_ERR_FORMAT". */
PYRNN_API const char* pyrnn_status_string(pyrnn_status status);

/* ---- models ---- */
PYRNN_API pyrnn_status pyrnn_model_load(const char* path, pyrnn_model** out);
/* The model copies what it needs: data may be freed once this returns. */
PYRNN_API pyrnn_status pyrnn_model_load_memory(const void* data, size_t size,
                                                pyrnn_model** out);
PYRNN_API void pyrnn_model_free(pyrnn_model* model); /* NULL is a no-op */
PYRNN_API pyrnn_status pyrnn_model_get_info(const pyrnn_model* model, pyrnn_model_info* info);

/* ---- states (one per stream; any number per model) ---- */
PYRNN_API pyrnn_status pyrnn_state_create(const pyrnn_model* model, pyrnn_state** out);
PYRNN_API void pyrnn_state_free(pyrnn_state* state); /* NULL is a no-op */
/* Zero h and c, as at creation. */
PYRNN_API pyrnn_status pyrnn_state_reset(pyrnn_state* state);
/* Copy the state_size floats of recurrent state out / in (to save, restore or fork a
 * stream). Layout: for each recurrent layer, layer index, direction: h (H) then c (H, LSTM). */
PYRNN_API pyrnn_status pyrnn_state_get(const pyrnn_state* state, float* dst, size_t count);
PYRNN_API pyrnn_status pyrnn_state_set(pyrnn_state* state, const float* src, size_t count);

/* ---- streaming: one time step; allocates nothing; one state per thread at a time ----
 * x has input_size floats (x_count must equal it); y receives output_size floats
 * (y_count >= output_size). Bidirectional models report PYRNN_ERR_UNSUPPORTED. */
PYRNN_API pyrnn_status pyrnn_step(pyrnn_state* state, const float* x, size_t x_count, float* y,
                                  size_t y_count);
PYRNN_API pyrnn_status pyrnn_step_token(pyrnn_state* state, int64_t token, float* y,
                                        size_t y_count);

/* ---- batched streaming: advance n independent states of one model in one call ----
 * The states are gathered into contiguous (n, H) buffers, each layer runs once for all
 * of them, and the new states are scattered back; streams may join or leave between
 * calls freely. x is (n, input_size) (or n tokens), y is (n, output_size). A state may
 * appear once per call. Allocates nothing (workspace sized by pyrnn_batch_create). */
PYRNN_API pyrnn_status pyrnn_batch_create(const pyrnn_model* model, size_t max_streams,
                                          pyrnn_batch** out);
PYRNN_API void pyrnn_batch_free(pyrnn_batch* batch); /* NULL is a no-op */
PYRNN_API pyrnn_status pyrnn_step_batch(pyrnn_batch* batch, pyrnn_state* const* states,
                                        size_t n, const float* x, float* y);
PYRNN_API pyrnn_status pyrnn_step_batch_tokens(pyrnn_batch* batch, pyrnn_state* const* states,
                                               size_t n, const int64_t* tokens, float* y);

/* ---- whole sequence (any model, including bidirectional) ----
 * x is (T, input_size) time-major (or T tokens). y receives (T, output_size) floats, or
 * output_size if the model has a LastStep layer; y_count must be at least that.
 * state may be NULL (zero initial state, nothing kept); otherwise it supplies the initial
 * state and receives the final one, as PyTorch's (h0, c0) -> (h_n, c_n); for
 * unidirectional models pyrnn_run over T steps equals T calls of pyrnn_step.
 * Allocates workspace proportional to T (not a real-time call). */
PYRNN_API pyrnn_status pyrnn_run(const pyrnn_model* model, pyrnn_state* state, const float* x,
                                 size_t T, float* y, size_t y_count);
PYRNN_API pyrnn_status pyrnn_run_tokens(const pyrnn_model* model, pyrnn_state* state,
                                        const int64_t* tokens, size_t T, float* y,
                                        size_t y_count);

/* ---- threads ----
 * Kernels may split large layers over OpenMP threads (default: the number of cores).
 * Real-time callers often want 1. Applies to every call from every thread. */
PYRNN_API void pyrnn_set_num_threads(int n);
PYRNN_API int pyrnn_get_num_threads(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PYRNN_PYRNN_H */
