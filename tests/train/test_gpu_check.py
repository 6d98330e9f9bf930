"""The prepared GPU check runs on a CPU at smoke size, so that it cannot rot before a GPU is lent."""

import json

import pytest

from fer_lib.train import gpu_check


def test_gpu_check_smoke_on_cpu(tmp_path):
    out = tmp_path / "gpu-check.json"
    report = gpu_check.main(["--smoke", "--device", "cpu", "--json", str(out)])
    assert report["ok"] and list(report["checks"]) == list(gpu_check.CHECKS)
    assert json.loads(out.read_text())["device"] == "cpu"
    assert report["checks"]["bf16"]["runtime"]["device"] == "cpu"
    assert "CUDA-only" in report["checks"]["fp16"]["note"]
    full = report["checks"]["full_recipe"]
    assert (full["source"], full["model"], full["recipe"]) == ("smoke: 512 toy images", "small", "ours")
    assert full["seconds_per_epoch"] > 0 and full["images_per_s"] > 0  # timings: no exact value to expect
    # the projection scales the measured epoch to the full recipe: 60 epochs x 3 seeds, in minutes
    assert full["projected_minutes_60_epochs_3_seeds"] == pytest.approx(full["seconds_per_epoch"] * 60 * 3 / 60)


def test_gpu_check_reports_a_failing_check_and_exits_non_zero(monkeypatch, capsys):
    def broken(*args):
        raise RuntimeError("no kernel image is available")

    monkeypatch.setattr(gpu_check, "_check_clips", broken)
    monkeypatch.setattr(gpu_check, "_full_recipe", lambda *a: {"source": "skipped", "seconds_per_epoch": 1.0,
                                                                 "images_per_s": 1.0,
                                                                 "projected_minutes_60_epochs_3_seeds": 3.0})
    monkeypatch.setattr(gpu_check, "_check_pipeline", lambda *a: {})
    with pytest.raises(SystemExit) as exc:
        gpu_check.main(["--smoke", "--device", "cpu"])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "gpu_check: clips: failed" in out and "no kernel image is available" in out and "FAILED on cpu" in out
