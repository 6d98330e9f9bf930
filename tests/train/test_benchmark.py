"""fer_lib.train.benchmark: matmul peak and the CPU precision grid (tiny sizes, no timing assertions)."""

import json
import re
from types import SimpleNamespace

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fer_lib.core.device import cpu_bf16_supported
from fer_lib.models.cnn import MODEL_NAMES, build_model
from fer_lib.train import benchmark

TINY = dict(batch_size=8, steps=1, warmup=1, model_kwargs={"small": {"width": 8}}, matmul_n=64, matmul_repeats=1)


@pytest.fixture(scope="module")
def tiny_grid():
    before = torch.get_num_threads()
    df = benchmark.precision_grid(["small"], threads=(1,), precisions=("fp32",), **TINY)
    return df, before


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])  # bf16 is measured even if emulated
def test_matmul_peak_flops_is_2n3_over_the_fastest_multiply(dtype, monkeypatch):
    """The real multiplies run; a scripted clock makes the FLOP/s exact: 2 * n**3 / (fastest seconds per multiply)."""
    clock = iter([
        0.0,                  # start of the time budget
        0.0, 0.25,            # the first multiply: 0.25 s, so min_repeat_seconds=0.5 times 2 per repeat
        1.0, 1.0, 1.25,       # repeat 1 (budget check, start, end): 0.25 s / 2 = 0.125 s each
        2.0, 2.0, 2.0625,     # repeat 2: 0.03125 s each, the fastest
        3.0, 3.0, 3.015625,   # repeat 3 would be faster still, but 3 s is past max_seconds: not run
    ])
    monkeypatch.setattr(benchmark, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    flops = benchmark.matmul_peak_flops(dtype, n=64, repeats=3, max_seconds=2.5, min_repeat_seconds=0.5)
    assert flops == 2 * 64**3 / 0.03125


def test_matmul_peak_flops_rejects_other_dtype():
    with pytest.raises(ValueError, match=r"dtype must be one of"):
        benchmark.matmul_peak_flops(torch.float64, n=8)


def test_grid_one_row_with_documented_columns(tiny_grid):
    df, _ = tiny_grid
    assert list(df.columns) == list(benchmark.GRID_COLUMNS)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["model"] == "small" and row["threads"] == 1 and row["precision"] == "fp32"
    assert bool(row["native_bf16"]) == cpu_bf16_supported()
    assert row["images_per_s"] > 0  # a timing: no exact value to expect, the columns below follow from it
    peaks = df.attrs["peaks_gflops"][1]  # GFLOP/s by precision at 1 thread
    assert row["peak_gflops"] == peaks["fp32"]
    assert row["fraction_of_peak"] == pytest.approx(row["achieved_gflops"] / peaks["fp32"])
    assert row["fraction_of_best_peak"] == pytest.approx(row["achieved_gflops"] / max(peaks.values()))
    assert row["achieved_gflops"] == pytest.approx(row["images_per_s"] * row["train_gflop_per_image"])
    assert row["fer2013_epoch_minutes"] == pytest.approx(benchmark.FER2013_TRAIN_IMAGES / row["images_per_s"] / 60)
    assert set(df.attrs["peaks_gflops"][1]) == set(benchmark.PRECISIONS)  # both peaks measured


def test_grid_train_flops_about_three_times_forward(tiny_grid):
    df, _ = tiny_grid
    torch.manual_seed(0)
    model = build_model("small", 7, width=8)
    model.train()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(4, 1, 48, 48))
    forward_gflop_per_image = counter.get_total_flops() / 4 / 1e9
    # by hand: 2 * 9 * c_in * c_out FLOPs per output pixel of each 3x3 conv (blocks at 48, 24 and 12 pixels),
    # 2 * in * out for Linear(32, 128) and Linear(128, 7)
    convs = [(1, 8, 48), (8, 8, 48), (8, 16, 24), (16, 16, 24), (16, 32, 12), (32, 32, 12)]
    by_hand = sum(2 * 9 * c_in * c_out * side**2 for c_in, c_out, side in convs) + 2 * 32 * 128 + 2 * 128 * 7
    assert forward_gflop_per_image == pytest.approx(by_hand / 1e9)
    ratio = df.iloc[0]["train_gflop_per_image"] / forward_gflop_per_image
    assert 2.0 < ratio <= 3.0 + 1e-6  # backward ~2x forward (no input gradient for the first conv)
    assert df.iloc[0]["parameters"] == sum(p.numel() for p in model.parameters())


def test_grid_restores_thread_count(tiny_grid):
    _, before = tiny_grid
    assert torch.get_num_threads() == before


def test_grid_restores_thread_count_with_other_threads():
    before = torch.get_num_threads()
    benchmark.precision_grid(["small"], threads=(2,), precisions=("fp32",), **TINY)
    assert torch.get_num_threads() == before


def test_grid_peak_never_falls_with_more_threads(monkeypatch):
    # a measured 2-thread peak below the 1-thread one (small matrices, a noisy machine) is no ceiling
    def fake_peak(dtype, n, repeats, device):
        return {1: 90e9, 2: 60e9}[torch.get_num_threads()]

    monkeypatch.setattr(benchmark, "matmul_peak_flops", fake_peak)
    df = benchmark.precision_grid(["small"], threads=(2, 1), precisions=("fp32",), **TINY)
    assert df.attrs["measured_peaks_gflops"] == {1: {"fp32": 90.0, "bf16": 90.0}, 2: {"fp32": 60.0, "bf16": 60.0}}
    assert df.attrs["peaks_gflops"][2] == {"fp32": 90.0, "bf16": 90.0}
    assert df.set_index("threads")["peak_gflops"].to_dict() == {1: 90.0, 2: 90.0}


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(precisions=("fp16",)), r"precisions must be drawn from \['fp32', 'bf16'\]; got unknown \['fp16'\]"),
        (dict(precisions=()), r"precisions must be a non-empty list"),
        (dict(model_names=["alexnet"]), re.escape(f"model_names must be drawn from {list(MODEL_NAMES)}; got unknown ['alexnet']")),
        (dict(threads=(0,)), r"threads must be an integer >= 1; got 0"),
        (dict(threads=()), r"threads must be a non-empty sequence of integers >= 1"),
        (dict(threads="2"), r"threads must be a non-empty sequence"),
        (dict(batch_size=1), r"batch_size must be an integer >= 2; got 1"),
        (dict(model_kwargs={"smal": {}}), r"model_kwargs keys must be drawn from .*smal"),
    ],
)
def test_grid_errors_name_the_parameter(kwargs, pattern):
    args = dict(model_names=["small"], threads=(1,), precisions=("fp32",), **TINY)
    args.update(kwargs)
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=pattern):
        benchmark.precision_grid(**args)
    assert torch.get_num_threads() == before


def test_cli_grid_writes_json_and_csv(tmp_path, capsys):
    out_json, out_csv = tmp_path / "grid.json", tmp_path / "grid.csv"
    df = benchmark.main([
        "--grid", "--models", "small", "--threads", "1", "--precisions", "fp32",
        "--steps", "1", "--warmup-steps", "0", "--batch-size", "8", "--matmul-n", "64",
        "--model-kwargs", '{"small": {"width": 8}}', "--json", str(out_json), "--csv", str(out_csv),
    ])
    printed = capsys.readouterr().out
    assert "bf16 on this CPU:" in printed and torch.backends.cpu.get_cpu_capability() in printed
    assert "images_per_s" in printed
    data = json.loads(out_json.read_text())
    assert data["rows"] == json.loads(json.dumps(df.to_dict(orient="records")))
    assert data["machine"]["native_bf16"] == bool(df.iloc[0]["native_bf16"])
    import pandas as pd

    assert pd.read_csv(out_csv)["model"].tolist() == df["model"].tolist()


def test_cli_without_grid_still_parses_pipeline_options():
    with pytest.raises(SystemExit):
        benchmark.main(["--model", "nope"])
