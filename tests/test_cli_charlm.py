"""`pyrnn train`, `pyrnn sample` and `pyrnn evaluate` on a small text: they work together
through the model file (which carries the vocabulary) and fail with clear messages."""
from __future__ import annotations

import json

import pytest

import pyrnn
from pyrnn.cli import main

TEXT = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(1500))


@pytest.fixture(autouse=True)
def restore_threads():
    before = pyrnn.get_num_threads()
    yield
    pyrnn.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("charlm")
    (folder / "corpus").mkdir()
    (folder / "corpus" / "a.txt").write_text(TEXT[:30000], encoding="utf-8")
    (folder / "corpus" / "b.txt").write_text(TEXT[30000:], encoding="utf-8")
    out = folder / "run"
    code = main(["train", str(folder / "corpus"), "--cell", "gru", "--hidden", "48",
                 "--seq-len", "40", "--batch-size", "16", "--epochs", "2", "--lr", "0.01",
                 "--rounds", "2", "--out", str(out), "--threads", "1"])
    pyrnn.set_num_threads(1)
    assert code == 0
    return folder, out


def test_train_writes_model_metrics_sample(trained):
    _, out = trained
    for name in ("model.pyrnn", "metrics.json", "sample.txt", "bpc_curve.svg",
                 "hidden_units.html"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["model"]["cell"] == "gru" and m["model"]["hidden"] == 48
    assert len(m["curve"]) == 4  # 2 epochs x 2 rounds
    assert m["val_bpc"] < m["ngram_bpc"]["1-gram"]  # learnt something from the text


def test_sample_uses_prime_temperature_and_length(trained, capsys):
    _, out = trained
    args = ["sample", str(out / "model.pyrnn"), "--prime", "def f", "--length", "60",
            "--temperature", "0", "--threads", "1"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("def f") and len(first.rstrip("\n")) >= 60
    assert main(args) == 0
    assert capsys.readouterr().out == first  # temperature 0 is deterministic
    assert main(["sample", str(out), "--num", "2", "--seed", "3", "--length", "10"]) == 0
    assert capsys.readouterr().out.count("--- sample") == 2


def test_evaluate_reports_bits_per_char_and_perplexity(trained, capsys, tmp_path):
    folder, out = trained
    held = tmp_path / "held.txt"
    held.write_text(TEXT[-5000:] + "\u00e9", encoding="utf-8")  # one unknown character
    assert main(["evaluate", str(out / "model.pyrnn"), str(held), "--json",
                 "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0 < r["bits_per_char"] < 5 and abs(r["perplexity"] - 2 ** r["bits_per_char"]) < 1e-9
    assert r["dropped_unknown"] == 1
    assert main(["evaluate", str(out / "model.pyrnn"), str(held)]) == 0
    text = capsys.readouterr().out
    assert "bits per character" in text and "dropped 1" in text


def test_clear_errors(trained, tmp_path, capsys):
    _, out = trained
    assert main(["sample", str(tmp_path / "missing.pyrnn")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["sample", str(out / "model.pyrnn"), "--prime", "\u4e2d"]) == 1
    assert "not in the model's vocabulary" in capsys.readouterr().err
    assert main(["sample", str(out / "model.pyrnn"), "--temperature", "-1"]) == 1
    assert "temperature" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nothing.txt"), "--out", str(tmp_path / "o")]) == 1
    assert "no such file" in capsys.readouterr().err
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("abc", encoding="utf-8")
    assert main(["train", str(tiny), "--out", str(tmp_path / "o")]) == 1
    assert "too few" in capsys.readouterr().err
    assert main(["train", str(tiny), "--hidden", "0", "--out", str(tmp_path / "o")]) == 1
    assert "hidden" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tiny), "--cell", "transformer"])
