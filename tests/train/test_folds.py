"""The subject-fold protocol (fer_lib.train.folds.run_subject_folds)."""

import pytest
import torch

from fer_lib.models.cnn import build_model
from fer_lib.train.config import get_recipe
from fer_lib.train.folds import run_subject_folds


@pytest.mark.parametrize("mode", ["frames", "clips"])
def test_run_subject_folds_is_subject_independent_and_learns(mode, moving_blob_clips):
    X, y, subjects = moving_blob_clips()
    folds = subjects % 4  # 4 folds of 2 subjects
    ids = [f"S{s}_{k}" for k, s in enumerate(subjects)]
    config = get_recipe("smoke", epochs=4, max_train_samples=None, batch_size=16, augment="none", tta="none")

    if mode == "frames":
        def make(n):
            return build_model("small", n, width=8)
    else:
        class ClipNet(torch.nn.Module):
            def __init__(self, n):
                super().__init__()
                self.net = build_model("small", n, width=8)

            def forward(self, x):  # (n, T, 1, H, W): frame difference carries the motion
                return self.net(x[:, -1] - x[:, 0])

        def make(n):
            return ClipNet(n)

    result = run_subject_folds(make, X, y, ids, folds, ("right", "left"), config, mode=mode, seeds=(0,),
                               dataset="toy", protocol="7class", model="spatial", variant=mode, progress=False)
    preds = result.predictions
    assert len(preds) == len(X)  # every clip tested exactly once per seed
    assert sorted(preds["sample_id"]) == sorted(ids)
    assert set(result.metrics["fold"]) == {0, 1, 2, 3}
    assert (result.metrics["val_fold"] == (result.metrics["fold"] + 1) % 4).all()
    assert (result.metrics["n_train"] == 16).all()  # 2 folds of 8 clips: test and validation held out
    assert result.metrics["accuracy"].mean() >= 0.75


def test_run_subject_folds_validates_input(moving_blob_clips):
    X, y, subjects = moving_blob_clips(n_subjects=4)
    with pytest.raises(ValueError, match=r"mode must be one of \['frames', 'clips'\]; got 'video'"):
        run_subject_folds(None, X, y, subjects, subjects, ("a", "b"), get_recipe("smoke"), mode="video",
                          dataset="d", protocol="p", model="spatial", variant="v")
    with pytest.raises(ValueError, match="at least 3 folds"):
        run_subject_folds(None, X, y, subjects, subjects % 2, ("a", "b"), get_recipe("smoke"), mode="clips",
                          dataset="d", protocol="p", model="spatial", variant="v")
