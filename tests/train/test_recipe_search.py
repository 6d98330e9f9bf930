"""The recipe search's arms and its ablation table (the training itself is tested in test_training)."""

import json

import numpy as np
import pytest

from fer_lib.models.cnn import MODEL_NAMES
from fer_lib.train.config import RECIPES, get_recipe
from fer_lib.train.recipe_search import (
    ABLATION_COLUMNS,
    ARMS,
    REFERENCE_ARM,
    ablation_table,
    run_arm,
)


def test_arms_are_valid_and_change_one_thing():
    assert REFERENCE_ARM in ARMS
    ref_model, ref_kwargs, ref_recipe, ref_over, _ = ARMS[REFERENCE_ARM]
    for arm, (model, kwargs, recipe, overrides, change) in ARMS.items():
        assert model in MODEL_NAMES and recipe in RECIPES and change
        get_recipe(recipe, **overrides)  # every override is a valid field and value
        n_changes = (model != ref_model) + (recipe != ref_recipe) + bool(overrides)
        assert n_changes == (0 if arm == REFERENCE_ARM else 1), arm


def _record(arm, acc, epochs=3):
    return {"arm": arm, "change": ARMS[arm][4], "epochs": epochs, "public_acc": acc - 0.01, "public_acc_tta": acc,
            "public_macro_f1_tta": acc - 0.1, "train_minutes": 12.5, "images_per_s": 90.0,
            "runtime": {"device": "cpu", "precision": "fp32", "threads": 1}}


def test_ablation_table(tmp_path):
    for arm, acc in ((REFERENCE_ARM, 0.60), ("small-cpu", 0.55)):
        (tmp_path / f"{arm}.json").write_text(json.dumps(_record(arm, acc)))
    (tmp_path / "fastvgg-cpu-nols.json").write_text(json.dumps(_record("fastvgg-cpu-nols", 0.7, epochs=5)))
    (tmp_path / "unrelated.json").write_text(json.dumps({"something": 1}))
    table = ablation_table(tmp_path)
    assert list(table.columns) == list(ABLATION_COLUMNS)
    assert list(table["arm"]) == [REFERENCE_ARM, "fastvgg-cpu-nols", "small-cpu"]
    delta = dict(zip(table["arm"], table["delta_vs_reference"]))
    assert delta[REFERENCE_ARM] == 0 and delta["small-cpu"] == pytest.approx(-5.0)
    assert np.isnan(delta["fastvgg-cpu-nols"])  # another budget: not comparable
    assert table.loc[0, "public_acc_tta"] == pytest.approx(60.0)


def test_ablation_table_without_records(tmp_path):
    with pytest.raises(FileNotFoundError, match="no arm records"):
        ablation_table(tmp_path)


def test_run_arm_validates_before_training(tmp_path):
    with pytest.raises(ValueError, match="arm must be one of"):
        run_arm(None, "fastvgg-huge", 3, tmp_path)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1; got 0"):
        run_arm(None, REFERENCE_ARM, 0, tmp_path)
