"""The subject-fold protocol (fer_lib.train.folds.run_subject_folds)."""

import numpy as np
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


def test_no_subject_of_the_test_or_validation_fold_is_trained_on():
    # clip k holds only the value k, so the training arrays a fold's model sees name their clips (and subjects)
    subjects = np.repeat(np.arange(10), 3)  # 10 subjects of 3 clips
    folds = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])[subjects]  # 5 folds of 2 subjects
    X = np.broadcast_to(np.arange(30, dtype=np.uint8)[:, None, None, None], (30, 2, 8, 8)).copy()
    y = np.arange(30) % 2
    seen, by_fold = [], {}

    def prepare(model, train_xy, config):
        seen.append(np.unique(train_xy[0]).astype(int))

    def on_fold(seed, fold, model, result):
        by_fold[fold] = seen[-1]

    config = get_recipe("smoke", epochs=1, max_train_samples=None, batch_size=4, augment="none", tta="none")
    result = run_subject_folds(lambda n: build_model("small", n, width=4), X, y, [f"S{s:03d}_{k}" for k, s in
                               enumerate(subjects)], folds, ("a", "b"), config, mode="frames", seeds=(0,),
                               dataset="toy", protocol="7class", model="spatial", variant="v", progress=False,
                               prepare=prepare, on_fold=on_fold)
    assert sorted(by_fold) == [0, 1, 2, 3, 4]
    for fold, clips in by_fold.items():
        val_fold = (fold + 1) % 5
        trained_subjects = set(subjects[clips].tolist())
        assert trained_subjects == set(subjects[(folds != fold) & (folds != val_fold)].tolist())
        assert not trained_subjects & set(subjects[folds == fold].tolist())  # disjoint from the test fold
        assert not trained_subjects & set(subjects[folds == val_fold].tolist())  # and from the validation fold
    assert sorted(result.predictions["fold"].value_counts().tolist()) == [6] * 5


def test_run_subject_folds_validates_input(moving_blob_clips):
    X, y, subjects = moving_blob_clips(n_subjects=4)
    with pytest.raises(ValueError, match=r"mode must be one of \['frames', 'clips'\]; got 'video'"):
        run_subject_folds(None, X, y, subjects, subjects, ("a", "b"), get_recipe("smoke"), mode="video",
                          dataset="d", protocol="p", model="spatial", variant="v")
    with pytest.raises(ValueError, match="at least 3 folds"):
        run_subject_folds(None, X, y, subjects, subjects % 2, ("a", "b"), get_recipe("smoke"), mode="clips",
                          dataset="d", protocol="p", model="spatial", variant="v")
