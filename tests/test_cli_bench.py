"""The ``pyrnn`` command line and ``pyrnn bench``: help, usage errors, command isolation, and
a tiny end-to-end benchmark run whose table, JSON and result checks are verified."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
import textwrap
from importlib import metadata

import numpy as np
import pytest

import pyrnn
from pyrnn import _core, cli
from pyrnn.commands import bench

TINY = ["--shape", "3,5,7,9", "--stream-hidden", "6", "--repeats", "1", "--warmup", "1",
        "--threads", "1", "--peak-size", "64", "--min-sample-time", "0.001", "--quiet"]


@pytest.fixture(autouse=True)
def no_cool_down(monkeypatch):
    """The pause between frameworks only matters for timing, not for these checks."""
    monkeypatch.setattr(bench, "COOL_DOWN_S", 0.0)
    monkeypatch.setattr(bench, "SPIN_AFTER_S", {})


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_help_lists_bench(tmp_path):
    # Outside the source tree, so the installed package (with its compiled core) is used.
    proc = subprocess.run([sys.executable, "-m", "pyrnn", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "bench" in proc.stdout and "usage: pyrnn" in proc.stdout


def test_console_script_points_at_main():
    eps = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "pyrnn"]
    assert eps, "the pyrnn console script is not installed"
    assert eps[0].value == "pyrnn.cli:main"
    assert eps[0].load() is cli.main


def test_bench_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for option in ("--quick", "--json", "--cells", "--shapes", "--shape", "--modes", "--threads",
                   "--repeats", "--dtype"):
        assert option in out


@pytest.mark.parametrize("argv, message", [
    (["bench", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["bench", "--cells", "lstm,transformer"], "argument --cells"),
    (["bench", "--shapes", "e"], "argument --shapes"),
    (["bench", "--shape", "1,2,3"], "argument --shape: expected B,T,I,H"),
    (["bench", "--threads", "0"], "argument --threads"),
    (["bench", "--modes", "fast"], "argument --modes"),
    (["bench", "--dtype", "float16"], "argument --dtype"),
    (["bench", "--repeats", "-1"], "argument --repeats"),
    (["bench", "--warmup", "-1"], "argument --warmup"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    ([], "a command is required"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_is_refused_before_running(tmp_path, capsys):
    code = cli.main(["bench", *TINY, "--json", str(tmp_path / "missing" / "out.json")])
    assert code == 2
    assert "argument --json" in capsys.readouterr().err
    assert cli.main(["bench", *TINY, "--markdown", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_broken_command_does_not_break_others(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "fakecmds"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "broken.py").write_text('"""A command whose dependency is missing."""\n'
                                   "import no_such_module_for_pyrnn_tests\n")
    (pkg / "hello_world.py").write_text(textwrap.dedent('''\
        """Say hello."""
        def add_parser(subparsers):
            p = subparsers.add_parser("hello-world", help="say hello")
            p.add_argument("--name", default="pyrnn")
            return p
        def run(args):
            print(f"hello {args.name}")
            return 0
        '''))
    (pkg / "_helper.py").write_text('"""Not a command."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "_COMMANDS_DIR", pkg)
    monkeypatch.setattr(cli, "_PACKAGE", "fakecmds")

    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "hello-world" in out and "Say hello." in out
    assert "broken" in out and "A command whose dependency is missing." in out
    assert "_helper" not in out

    assert cli.main(["hello-world", "--name", "you"]) == 0
    assert capsys.readouterr().out.strip() == "hello you"

    assert cli.main(["broken"]) == 1
    assert "no_such_module_for_pyrnn_tests" in capsys.readouterr().err


def test_quick_defaults():
    parser = cli.build_parser(cli.discover_commands(), load="bench")
    s = bench.settings_from_args(parser.parse_args(["bench", "--quick"]))
    assert [x.label for x in s.shapes] == ["a", "d"]
    assert s.threads == [bench.usable_cpus()] and s.repeats == 3
    s = bench.settings_from_args(parser.parse_args(["bench", "--quick", "--shapes", "c",
                                                    "--threads", "1,2", "--repeats", "5"]))
    assert [x.label for x in s.shapes] == ["c"] and s.threads == [1, 2] and s.repeats == 5
    s = bench.settings_from_args(parser.parse_args(["bench", "--shape", "1,2,3,4"]))
    assert [(x.B, x.T, x.I, x.H) for x in s.shapes] == [(1, 2, 3, 4)]


def test_flops_follow_the_issue():
    a = bench.SHAPES["a"]
    assert bench.forward_flops("lstm", a) == 2 * 64 * 100 * 4 * 256 * (256 + 256)
    assert bench.case_flops("gru", a, "training") == 3 * bench.forward_flops("gru", a)


def test_tiny_run_prints_table_and_writes_json(tmp_path, capsys):
    path, md = tmp_path / "bench.json", tmp_path / "bench.md"
    code = cli.main(["bench", *TINY, "--json", str(path), "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "framework" in out and "GFLOP/s" in out and "%peak" in out
    assert "result checks: all passed" in out

    table = md.read_text()
    assert table.startswith("`pyrnn bench ") and "| cell |" in table
    assert table.count("\n| ") == 1 + len(bench.CELLS) * len(bench.MODES)  # header + cases

    report = json.loads(path.read_text())
    for key in ("pyrnn_version", "simd_target", "machine", "versions", "settings", "command",
                "load_before", "load_after", "peak", "results", "summary", "checks_ok"):
        assert key in report, key
    assert report["checks_ok"] is True and report["errors"] == []
    peak = report["peak"]["1"]
    assert peak["fma"] > 0 and peak["gemm"]["best"] > 0
    # probed before and after the cases; a busy moment in one must not set the peak
    assert len(peak["fma_probes"]) == 2 and peak["fma"] == max(peak["fma_probes"])
    for r in report["results"]:  # every % peak is of the FMA peak of its thread count
        if r["status"] == "ok" and r["pct_peak"] is not None:
            want = 100.0 * r["gflops"] / report["peak"][str(r["threads"])]["fma"]
            assert r["pct_peak"] == pytest.approx(want, rel=1e-12)
    assert report["command"].startswith("pyrnn bench ")

    rows = report["results"]
    cases = {(r["cell"], r["mode"]) for r in rows}
    assert cases == {(c, m) for c in bench.CELLS for m in bench.MODES}
    expected_fws = {"pyrnn", "reference", "capi"}
    if _installed("torch"):
        expected_fws.add("torch")
    if _installed("onnxruntime") and _installed("onnx"):
        expected_fws.add("onnxruntime")
    for r in rows:
        for key in ("framework", "status", "median_s", "times_s", "gflops", "pct_peak",
                    "speedup", "check", "threads", "B", "T", "I", "H", "flops"):
            assert key in r, key
        if r["framework"] == "onnxruntime" and r["mode"] == "training":
            assert r["status"] == "skipped"
            continue
        if r["framework"] == "capi" and r["mode"] != "streaming":
            assert r["status"] == "skipped" and "no " in r["note"], r
            continue
        if r["framework"] in expected_fws:
            assert r["status"] == "ok", r
            assert r["median_s"] > 0 and r["gflops"] > 0 and r["threads"] == 1
            assert r["check"]["ok"] and r["check"]["rel_error"] < 1e-4, r
            if r["framework"] == "pyrnn":
                assert r["check"]["against"] == "reference" and r["speedup"] is None
            else:
                assert r["check"]["against"] == "pyrnn"
                assert r["speedup"] == pytest.approx(
                    r["median_s"] / next(p["median_s"] for p in rows if p["framework"] == "pyrnn"
                                         and (p["cell"], p["mode"], p["shape"])
                                         == (r["cell"], r["mode"], r["shape"])))


def test_failed_check_gives_exit_1(monkeypatch, capsys):
    # A zero tolerance makes float32 checks fail: the run must say so and exit 1.
    monkeypatch.setattr(bench, "CHECK_TOLERANCE", {k: 0.0 for k in bench.CHECK_TOLERANCE})
    code = cli.main(["bench", *TINY, "--cells", "gru", "--modes", "inference",
                     "--compare", "none"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "FAILED" in out


def test_pct_peak_is_of_the_better_fma_probe(monkeypatch, tmp_path):
    # The probe runs before and after the cases; every % peak is of the higher one, even
    # when the first (taken while the rows were timed) was the lower.
    probes = iter([100.0, 200.0])
    monkeypatch.setattr(bench, "measure_fma_peak", lambda dtype: next(probes))
    path = tmp_path / "r.json"
    assert cli.main(["bench", *TINY, "--cells", "rnn", "--modes", "inference",
                     "--compare", "none", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["peak"]["1"]["fma"] == 200.0
    assert report["peak"]["1"]["fma_probes"] == [100.0, 200.0]
    row = next(r for r in report["results"] if r["framework"] == "pyrnn")
    assert row["pct_peak"] == pytest.approx(100.0 * row["gflops"] / 200.0, rel=1e-12)


def test_onnx_gate_permutation():
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper
    H, I = 2, 3
    w = {"weight_ih_l0": np.arange(4 * H * I, dtype=np.float32).reshape(4 * H, I),
         "weight_hh_l0": np.zeros((4 * H, H), np.float32),
         "bias_ih_l0": np.arange(4 * H, dtype=np.float32),
         "bias_hh_l0": 100 + np.arange(4 * H, dtype=np.float32)}
    model = onnx.load_model_from_string(bench.onnx_recurrent_model("lstm", w, I, H))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    # torch i,f,g,o -> ONNX i,o,f,c
    blocks = [w["weight_ih_l0"][k * H:(k + 1) * H] for k in (0, 3, 1, 2)]
    np.testing.assert_array_equal(init["W"][0], np.concatenate(blocks))
    assert init["B"].shape == (1, 8 * H)
    np.testing.assert_array_equal(init["B"][0, 4 * H:5 * H], 100 + np.arange(H))


# ---- capi: the C API (pyrnn.h) stepped from C++ ----

def _capi_rows(tmp_path, *extra):
    path = tmp_path / "capi.json"
    code = cli.main(["bench", *TINY, "--modes", "streaming", "--compare", "capi",
                     "--json", str(path), *extra])
    return code, json.loads(path.read_text())


def test_capi_column_times_and_checks_the_c_api(tmp_path, capsys):
    code, report = _capi_rows(tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "result checks: all passed" in out
    assert report["versions"]["capi"] == f"pyrnn.h {_core.capi_version()}"
    assert report["thread_control"]["capi"] == "pyrnn_set_num_threads"
    rows = [r for r in report["results"] if r["framework"] == "capi"]
    assert sorted(r["cell"] for r in rows) == sorted(bench.CELLS)
    for r in rows:
        assert r["status"] == "ok", r
        assert (r["mode"], r["B"], r["T"], r["H"], r["threads"]) == ("streaming", 1, 1, 6, 1)
        assert r["median_s"] > 0 and all(t > 0 for t in r["times_s"]), r
        assert r["calls_per_sample"] >= 1
        # The same kernels as pyrnn's Python stream on the same weights: (near) exact.
        assert r["check"]["against"] == "pyrnn" and r["check"]["ok"], r
        assert r["check"]["rel_error"] < 1e-6, r
        anchor = next(p for p in report["results"] if p["framework"] == "pyrnn"
                      and p["cell"] == r["cell"] and p["mode"] == "streaming")
        assert r["speedup"] == pytest.approx(r["median_s"] / anchor["median_s"])
    # One printed capi row per cell: name, a time, and a passed check.
    printed = re.findall(r"^ +capi +[0-9.]+ [mun]?s .* ok \de[+-]\d+$", out, re.M)
    assert len(printed) == len(bench.CELLS), out


def test_capi_check_fails_when_the_model_file_differs(tmp_path, monkeypatch, capsys):
    # The check compares the C API's own outputs: a model file with other weights fails it.
    real = bench.model_file_bytes

    def other_weights(p):
        w = dict(p.weights)
        w["weight_hh_l0"] = w["weight_hh_l0"] + np.float32(0.05)
        return real(bench.replace(p, weights=w))
    monkeypatch.setattr(bench, "model_file_bytes", other_weights)
    code, report = _capi_rows(tmp_path, "--cells", "gru")
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "1 FAILED" in out
    (row,) = [r for r in report["results"] if r["framework"] == "capi"]
    assert row["check"]["ok"] is False and row["check"]["rel_error"] > 1e-3


def test_capi_float64_is_a_clear_skip(tmp_path, capsys):
    code, report = _capi_rows(tmp_path, "--cells", "rnn", "--dtype", "float64")
    out = capsys.readouterr().out
    assert code == 0, out
    (row,) = [r for r in report["results"] if r["framework"] == "capi"]
    assert row["status"] == "skipped" and row["note"] == "the C API (pyrnn.h) is float32 only"
    assert re.search(r"^ +capi +skipped: the C API \(pyrnn\.h\) is float32 only$", out, re.M), out


def test_bench_restores_the_thread_count(tmp_path):
    # pyrnn and capi share the engine's thread count: restoring must undo in reverse.
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(3)
    try:
        code, _ = _capi_rows(tmp_path, "--cells", "rnn")
        assert code == 0
        assert pyrnn.get_num_threads() == 3 and _core.capi_get_num_threads() == 3
    finally:
        pyrnn.set_num_threads(before)


def test_capi_stream_steps_and_timed_steps_agree():
    p = bench.make_problem("lstm", bench.stream_shape(5), "streaming")
    stream = _core.CapiStream(bench.model_file_bytes(p))
    assert (stream.input_size, stream.output_size, stream.state_size) == (5, 5, 10)
    init = np.concatenate([p.h0.ravel(), p.c0.ravel()])
    xs = np.ascontiguousarray(p.x[:, 0])
    stream.set_state(init)
    ys = stream.steps(xs)
    after_steps = stream.get_state()
    np.testing.assert_array_equal(after_steps[:5], ys[-1])  # h is the LSTM's output
    # The timing loop really steps: 5 + 11 timed calls, cycling on, end where 16 steps do.
    stream.set_state(init)
    assert stream.time_steps(xs, 5) > 0 and stream.time_steps(xs, len(xs) - 5) > 0
    np.testing.assert_array_equal(stream.get_state(), after_steps)
    # ... and match pyrnn's Python stream on the same weights.
    expected = bench.PyrnnFramework().prepare(p).result()
    np.testing.assert_allclose(ys[:, None], expected["out"], rtol=0, atol=1e-6)


def test_capi_errors_raise_with_the_c_message():
    with pytest.raises(ValueError, match=r"pyrnn_model_load_memory: .*\(PYRNN_ERR_FORMAT\)"):
        _core.CapiStream(b"not a model")
    p = bench.make_problem("gru", bench.stream_shape(4), "streaming")
    stream = _core.CapiStream(bench.model_file_bytes(p))
    with pytest.raises(TypeError, match="float32 only"):
        stream.steps(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x: expected shape \(steps, input_size\) = \(2, 4\)"):
        stream.steps(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="state: expected shape"):
        stream.set_state(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="n: expected a number of steps >= 1"):
        stream.time_steps(np.zeros((2, 4), np.float32), 0)
    with pytest.raises(ValueError, match="n: expected a thread count"):
        _core.capi_set_num_threads(0)


def test_fma_peak_probe():
    gflops = pyrnn._core.fma_peak("float32", 0.01, 1)
    assert math.isfinite(gflops) and gflops > 0
    assert math.isfinite(pyrnn._core.fma_peak("float64", 0.01, 1))
    for kwargs, match in [({"dtype": "float16"}, "dtype: expected 'float32' or 'float64', got 'float16'"),
                          ({"seconds": 0.0}, "seconds: expected a duration in"),
                          ({"seconds": float("nan")}, "seconds: expected a duration in"),
                          ({"repeats": 0}, "repeats: expected at least 1, got 0")]:
        with pytest.raises(ValueError, match=re.escape(match)):
            pyrnn._core.fma_peak(**kwargs)


def test_peak_probe_runs_numpy_at_the_requested_threads(monkeypatch):
    # numpy's BLAS defaults to every CPU; a 1-thread peak must not be a 2-thread matmul,
    # whether or not the reference framework (which also limits it) is compared.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    matmul = np.matmul

    def spy(*args, **kwargs):
        seen.extend(info["num_threads"] for info in threadpoolctl.threadpool_info()
                    if info["user_api"] == "blas")
        return matmul(*args, **kwargs)

    monkeypatch.setattr(bench.np, "matmul", spy)
    peaks = bench.measure_gemm_peak("float32", 32, ["pyrnn"], 1, repeats=1)
    assert seen and set(seen) == {1}
    assert set(peaks) == {"pyrnn gemm", "numpy matmul", "best"}
    assert peaks["best"] == max(peaks["pyrnn gemm"], peaks["numpy matmul"])


def test_peak_probe_without_threadpoolctl_leaves_numpy_out_of_best(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import raises ImportError
    monkeypatch.setattr(bench, "usable_cpus", lambda: 2)
    peaks = bench.measure_gemm_peak("float32", 32, ["pyrnn"], 1, repeats=1)
    assert set(peaks) == {"pyrnn gemm", "numpy matmul (threads not controlled)", "best"}
    assert peaks["best"] == peaks["pyrnn gemm"]
    # At every usable CPU numpy's default is the requested count: it counts again.
    peaks = bench.measure_gemm_peak("float32", 32, ["pyrnn"], 2, repeats=1)
    assert peaks["best"] == max(peaks["pyrnn gemm"], peaks["numpy matmul"])


def _timed_call_order(monkeypatch, *extra, shape="3,5,7,9"):
    """The frameworks' timed calls, in order, of a one-case run against the reference
    (every sample is one call: a 1 ns sample time)."""
    log = []
    prepare = bench.PyrnnFramework.prepare

    def logged(self, p):
        prep = prepare(self, p)
        inner = prep.call

        def call():
            log.append(self.name)
            return inner()
        return dataclasses.replace(prep, call=call)

    monkeypatch.setattr(bench.PyrnnFramework, "prepare", logged)
    # Pauses are logged, not slept, on a clock they move: 0.05 s after pyrnn, 0.2 s after
    # the reference (whose workers may still spin when pyrnn ran in between).
    monkeypatch.setattr(bench, "COOL_DOWN_S", 0.05)
    monkeypatch.setattr(bench, "SPIN_AFTER_S", {"reference": 0.2})
    slept = [0.0]

    def pause(s):
        slept[0] += s
        log.append(f"pause {s:.2f}")
    monkeypatch.setattr(bench, "_pause", pause)
    monkeypatch.setattr(bench, "_clock", lambda: slept[0])  # only pauses take time
    tiny = [shape if a == "3,5,7,9" else a for a in TINY]
    args = ["bench", *tiny, "--cells", "rnn", "--modes", "inference", "--compare",
            "reference", "--repeats", "3", "--min-sample-time", "1e-9", *extra]
    assert cli.main(args) == 0
    # from the pause before the first timed call to the last call (the peak probes pause
    # too)
    first = min(log.index(name) for name in ("pyrnn", "reference"))
    first -= first > 0 and log[first - 1].startswith("pause")
    last = max(i for i, name in enumerate(log) if not name.startswith("pause"))
    return log[first:last + 1]


def test_frameworks_take_their_samples_in_turn(monkeypatch, capsys):
    # Round robin, each round beginning with the next framework: a disturbance of the
    # machine falls on both frameworks' samples alike. A sample after another framework's
    # waits for that one's worker threads to stop spinning.
    assert _timed_call_order(monkeypatch) == [
        "pause 0.20", "pyrnn", "pause 0.05", "reference", "reference", "pause 0.20", "pyrnn",
        "pyrnn", "pause 0.05", "reference"]
    assert "the frameworks' samples taken in turn" in capsys.readouterr().out


def test_a_pause_waits_for_every_framework_that_ran(monkeypatch, capsys):
    # T = 12 > PROXY_STEPS: the reference runs the proxy, then pyrnn does; the reference's
    # workers may still spin, so its 0.2 s count from its own run, not pyrnn's 0.05 s.
    order = _timed_call_order(monkeypatch, "--sequential", shape="3,12,7,9")
    assert order == ["pause 0.20"] + ["pyrnn"] * 3 + ["pause 0.20"] + ["reference"] * 3


def test_a_failure_of_pyrnn_while_sampling_ends_the_case(monkeypatch, tmp_path):
    prepare = bench.PyrnnFramework.prepare

    def failing(self, p):
        prep = prepare(self, p)
        if self.name != "pyrnn":
            return prep

        def call():
            raise RuntimeError("engine gone")
        return dataclasses.replace(prep, call=call)  # result() still works: warm-up passes

    monkeypatch.setattr(bench.PyrnnFramework, "prepare", failing)
    path, md = tmp_path / "r.json", tmp_path / "r.md"
    cli.main(["bench", *TINY, "--cells", "rnn", "--modes", "inference", "--compare",
              "reference", "--repeats", "3", "--json", str(path), "--markdown", str(md)])
    rows = {r["framework"]: r for r in json.loads(path.read_text())["results"]}
    assert rows["pyrnn"]["status"] == "error" and "engine gone" in rows["pyrnn"]["note"]
    assert rows["reference"]["status"] == "skipped" and "pyrnn failed" in rows["reference"]["note"]
    assert rows["reference"]["speedup"] is None
    assert "| rnn |" in md.read_text()


def test_sequential_takes_each_frameworks_samples_in_a_row(monkeypatch, capsys):
    order = _timed_call_order(monkeypatch, "--sequential", "--warmup", "2")
    # one more warm-up call each (the checked result() call is the first, after a pause)
    assert order == ["pause 0.20"] + ["pyrnn"] * 4 + ["pause 0.20"] + ["reference"] * 4
    assert "each framework's samples in a row" in capsys.readouterr().out
    parser = cli.build_parser(cli.discover_commands(), load="bench")
    settings = bench.settings_from_args(parser.parse_args(["bench", "--sequential"]))
    assert not settings.interleave and bench.command_line(settings).endswith(" --sequential")
    assert bench.settings_from_args(parser.parse_args(["bench"])).interleave


def test_sampler_keeps_its_budget():
    # timed(n) reports n * 0.1 s. The estimate decides the sample count up front; a wrong
    # (too small) estimate is caught while sampling: no sample starts past the budget.
    def fake(n):
        return 0.1 * n
    s = bench.Sampler(lambda: None, repeats=7, warmup=0, min_sample_s=1e-9, estimate=0.1,
                      budget_s=0.25, timed=fake)
    assert (s.samples, s.calls_per_sample) == (2, 1)
    s = bench.Sampler(lambda: None, repeats=7, warmup=0, min_sample_s=1e-9, estimate=0.01,
                      budget_s=0.25, timed=fake)
    assert s.samples == 7
    while not s.done:
        s.sample()
    assert s.times == [0.1, 0.1] and s.spent == pytest.approx(0.2)
    # without a budget every sample is taken; warm-up calls are timed(1) and counted
    s = bench.Sampler(lambda: None, repeats=3, warmup=2, min_sample_s=0.35, timed=fake)
    assert (s.warmup_calls, s.calls_per_sample) == (2, 4)
    while not s.done:
        s.sample()
    assert s.timing().times == pytest.approx([0.1] * 3)
