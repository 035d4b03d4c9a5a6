"""A character-level LSTM on the Python standard library's sources in ~30 lines of pyrnn:
truncated BPTT with fit_stream, bits per character against an n-gram, sampling, and the
hidden-unit visualisation. (`pyrnn demo` does the same with more care and reporting.)

    python examples/char_lm.py          # ~30 s; writes char_lm_units*.html/svg here
"""
import math

import pyrnn
from pyrnn.data import CharVocab, ngram_baseline, python_stdlib_corpus, train_val_split
from pyrnn.experiments.charlm import write_visualisation

# One thread: on a machine busy with other work, more threads can be many times slower
# (each time step waits for the slowest); on an idle multi-core box raise it.
pyrnn.set_num_threads(1)
text = python_stdlib_corpus(max_chars=1_000_000)          # read from disk, no network
vocab = CharVocab.from_text(text)
train, val = train_val_split(vocab.encode(text), 0.05)

model = pyrnn.Sequential([pyrnn.Embedding(vocab.size, 32),
                          pyrnn.LSTM(32, 128, batch_first=True),
                          pyrnn.Dense(128, vocab.size)])
model.compile(optimizer=pyrnn.optim.Adam(model, lr=3e-3, clipnorm=5.0),
              loss="cross_entropy", metrics=["bpc"])
model.fit_stream(train, batch_size=32, seq_len=100, epochs=1, validation_data=val[:50_000],
                 verbose=1)

bpc = model.evaluate_stream(val, batch_size=32, seq_len=100)["loss"] / math.log(2)
print(f"validation: {bpc:.3f} bits/char; 3-gram: "
      f"{ngram_baseline(train, val, n=3, vocab_size=vocab.size):.3f}")
print("def " + model.generate("def ", 300, temperature=0.7, vocab=vocab, seed=0))

start = text.find("\n", len(train)) + 1
info = write_visualisation(model, vocab, text[start:start + 1500], "char_lm_units.html",
                           analysis_text=text[start:start + 20_000])
print("units:", ", ".join(f"{u['unit']} ~ {u['feature']} (r={u['r']:+.2f})"
                          for u in info["units"][:3]), "-> char_lm_units.html")
