"""`pyrnn experiment`: listing, and one reduced experiment end to end through the command
line (its table, result.json and report in the folder it names)."""
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


def test_list(capsys):
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("reber", "embedded-reber", "sine", "adding", "charlm", "digits"):
        assert name in out


def test_reduced_reber_through_the_cli(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["experiment", "reber", "--reduced", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2.62 errors/sequence" in printed and str(out) in printed  # the lecture's number
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["size"] == "reduced" and result["rnn"]["test"]["sequences_with_errors"] == 0
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# pyrnn experiment reber")


def test_unknown_experiment_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["experiment", "nope"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_full_and_reduced_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "reber", "--full", "--reduced"])


def test_missing_optional_dataset_fails_cleanly(tmp_path, monkeypatch, capsys):
    from pyrnn.experiments import digits

    def absent():
        raise ImportError("the digits experiment needs scikit-learn ... pip install scikit-learn")
    monkeypatch.setattr(digits, "check_available", absent)
    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "digits"]) == 1
    assert "pip install scikit-learn" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no output folder left behind
