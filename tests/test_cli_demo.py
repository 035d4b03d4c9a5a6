"""`pyrnn demo --quick` end to end, in-process: it trains, prints bits per character, writes
every artifact into the folder it names and nothing anywhere else. ~10-20 s on one thread.
"""
from __future__ import annotations

import json

import pytest

import pyrnn
from pyrnn.cli import main


@pytest.fixture(autouse=True)
def restore_threads():
    before = pyrnn.get_num_threads()
    yield
    pyrnn.set_num_threads(before)


def test_demo_quick_runs_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default output folder is relative to the cwd
    assert main(["demo", "--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    runs = list((tmp_path / "pyrnn_runs").iterdir())
    assert [p.name.startswith("demo-quick-") for p in runs] == [True]
    folder = runs[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyrnn_runs"]  # nothing else
    for name in ("model.pyrnn", "metrics.json", "samples.txt", "hidden_units.html",
                 "bpc_curve.svg", "bpc_curve.csv"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["val_bpc"] < metrics["ngram_bpc"]["1-gram"]
    assert metrics["chars_trained"] > 0 and len(metrics["curve"]) >= 1
    assert "val" in out and "bpc" in out and str(folder) in out
    assert "sample at temperature" in out
    # the saved model samples through the CLI
    assert main(["sample", str(folder / "model.pyrnn"), "--prime", "def ", "--length", "40",
                 "--seed", "0", "--threads", "1"]) == 0
    assert capsys.readouterr().out.startswith("def ")


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--quick", "--seconds", "0", "--out", str(tmp_path / "o")]) == 1
    assert "--seconds" in capsys.readouterr().err
    assert main(["demo", "--quick", "--threads", "0", "--out", str(tmp_path / "o")]) == 1
    assert "threads" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "train", "sample", "evaluate", "experiment"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: pyrnn " + command in capsys.readouterr().out


def test_demo_says_when_it_ran_out_of_time():
    from dataclasses import replace
    from pyrnn.experiments import demo
    lines = []
    cfg = replace(demo.quick_config(), time_budget=0.2)  # a chunk or two of training
    result = demo.run(cfg, None, log=lines.append)
    best = min(result["ngram_bpc"].values())
    assert result["stopped_by_time_budget"] and result["val_bpc"] >= best
    hint = [s for s in lines if "has not overtaken the best n-gram" in s]
    assert len(hint) == 1 and "--seconds " in hint[0], lines


def test_suggest_seconds_covers_the_planned_text():
    from pyrnn.experiments.demo import _suggest_seconds
    assert _suggest_seconds(100.0, 1_000_000, 2_000_000) == 220  # 200 s + 10%, up to tens
    assert _suggest_seconds(240.0, 4_800_000, 9_600_000) == 530


def test_demo_gives_no_time_hint_when_its_epochs_ran_out():
    from dataclasses import replace
    from pyrnn.experiments import demo
    lines = []
    # One epoch, no budget, against a 5-gram it cannot beat in that time: the epochs ended
    # training, so more seconds would not help and the demo must not say they would.
    cfg = replace(demo.quick_config(), time_budget=None, epochs=1, ngram_orders=(1, 5))
    result = demo.run(cfg, None, log=lines.append)
    assert result["val_bpc"] >= min(result["ngram_bpc"].values())
    assert not result["stopped_by_time_budget"]
    assert not [s for s in lines if "has not overtaken" in s], lines
