"""Notebook 03's glue and results: variants, shipping, scores, tables, ``summary.json`` and closing text.

Covers the functions notebook 03 calls instead of inline code
(:mod:`fer_lib.experiments.spatial` and :mod:`fer_lib.experiments.spatial_results`),
on small hand-made tables whose expected values can be worked out by hand.
"""

import numpy as np
import pandas as pd
import pytest

from fer_lib.data.ckplus import CKPlus48Data
from fer_lib.data.constants import CKPLUS_CLASSES, CKPLUS_CLASSES_6, FER2013_CLASSES
from fer_lib.data.fer2013 import FER2013Data
from fer_lib.evaluate.predictions import fold_table as predictions_fold_table
from fer_lib.evaluate.predictions import predictions_frame
from fer_lib.experiments import spatial, spatial_results
from fer_lib.models.checkpoint import load_checkpoint
from fer_lib.train.config import get_recipe

SIZE = 16


def toy_fer(n_train=70, n_test=14):
    """Tiny FER-2013 of SIZE x SIZE images: class k has a bright bar in row band k."""
    rng = np.random.default_rng(0)
    y = np.arange(n_train + 2 * n_test) % 7
    X = rng.integers(0, 60, size=(len(y), SIZE, SIZE)).astype(np.uint8)
    band = SIZE // 7
    for i, c in enumerate(y):
        X[i, c * band:(c + 1) * band] += 180
    usage = np.array(["Training"] * n_train + ["PublicTest"] * n_test + ["PrivateTest"] * n_test, dtype=object)
    return FER2013Data(X, y.astype(np.int64), usage, "toy")


def toy_ck48():
    """14 clips of 3 frames, two per CK+ class (contempt included), one subject per pair."""
    rng = np.random.default_rng(1)
    labels = np.arange(14) % len(CKPLUS_CLASSES)
    sids = np.array([f"S{k:03d}_001" for k in range(14)], dtype=object)
    return CKPlus48Data(rng.integers(0, 255, size=(14, 3, SIZE, SIZE)).astype(np.uint8), labels.astype(np.int64),
                        np.array([f"S{k // 2:03d}" for k in range(14)], dtype=object), sids,
                        np.zeros((14, 3), dtype=np.int64),
                        pd.DataFrame(columns=["sequence_id", "label", "n_frames", "reason"]), "toy")


def fer_frame(probs, y, *, variant="small-smoke", seed=0, split="PrivateTest", ids=None):
    probs = np.asarray(probs, dtype=float)
    ids = [f"{split}{i}" for i in range(len(y))] if ids is None else ids
    return predictions_frame(probs, np.asarray(y), ids, FER2013_CLASSES, dataset="fer2013", protocol="canonical",
                             model="spatial", variant=variant, seed=seed, split=split)


def one_hot(pred, n=7):
    """Probabilities that put 0.9 on ``pred`` (the rest spread evenly)."""
    probs = np.full((len(pred), n), 0.1 / (n - 1))
    probs[np.arange(len(pred)), pred] = 0.9
    return probs


def fer_metrics_table():
    """Metrics of 3 runs: small-smoke seeds 0 and 1, small-paper seed 0 (accuracies chosen by hand)."""
    rows = []
    for variant, seed, pub, priv, f1 in [("small-smoke", 0, 0.60, 0.50, 0.40), ("small-smoke", 1, 0.70, 0.40, 0.30),
                                         ("small-paper", 0, 0.20, 0.25, 0.10)]:
        for split, acc in (("PublicTest", pub), ("PrivateTest", priv)):
            rows.append({"dataset": "fer2013", "protocol": "canonical", "model": "spatial", "variant": variant,
                         "seed": seed, "fold": -1, "split": split, "accuracy": acc, "macro_f1": f1, "n": 10})
    return pd.DataFrame(rows)


def fer_runs_table():
    return pd.DataFrame({"variant": ["small-smoke", "small-smoke", "small-paper"], "seed": [0, 1, 0],
                         "checkpoint": ["a.pt", "b.pt", "c.pt"], "best_epoch": [6, 5, 2], "epochs_run": [6, 6, 2],
                         "stop_reason": ["epochs"] * 3, "completed": [True] * 3,
                         "train_seconds": [20.04, 19.96, 6.56], "predict_seconds": [0.91, 1.0, 0.4],
                         "images_per_s": [500.0, 400.0, 300.0], "reused": [False] * 3})


@pytest.fixture(scope="module")
def settings():
    config = get_recipe("smoke", epochs=1, lr=0.01, augment="none", tta="flip", max_train_samples=None)
    return spatial.fer_settings("small", "smoke", config, [0, 1], paper_epochs=1, paper_seeds=[0])


# --------------------------------------------------------------------------- FER-2013 variants


def test_fer_settings_main_recipe_then_paper(settings):
    assert list(settings) == ["small-smoke", "small-paper"]
    main, paper = settings.values()
    assert (main.recipe, main.seeds, main.config.tta) == ("smoke", [0, 1], "flip")
    assert (paper.recipe, paper.seeds, paper.config.epochs) == ("paper", [0], 1)
    assert (paper.config.optimizer, paper.config.lr, paper.config.batch_size) == ("adam", 1e-4, 32)
    only = spatial.fer_settings("vgg", "ours", main.config, [2], paper=False)
    assert list(only) == ["vgg-ours"] and only["vgg-ours"].seeds == [2]


def test_fer_settings_refuses_empty_seeds_and_a_doubled_paper_variant(settings):
    config = settings["small-smoke"].config
    with pytest.raises(ValueError, match="seeds must name at least one seed"):
        spatial.fer_settings("small", "smoke", config, [])
    with pytest.raises(ValueError, match="paper_seeds must name at least one seed"):
        spatial.fer_settings("small", "smoke", config, [0], paper_seeds=[])
    with pytest.raises(ValueError, match="'small-paper' twice"):
        spatial.fer_settings("small", "paper", config, [0])
    with pytest.raises(ValueError, match="seeds must be an integer >= 0; got -1"):
        spatial.fer_settings("small", "smoke", config, [-1])


def test_recipes_table_shows_the_recipe_fields_and_seeds(settings):
    table = spatial_results.recipes_table(settings)
    assert list(table.columns) == ["small-smoke", "small-paper"]
    assert list(table.index) == [*spatial_results.RECIPE_FIELDS, "seeds"]
    assert table.loc["seeds"].tolist() == ["[0, 1]", "[0]"]
    assert table.loc["tta"].tolist() == ["flip", "none"]
    assert table.loc["lr"].tolist() == [0.01, 1e-4]
    assert table.loc["epochs"].tolist() == [1, 1]


def test_train_fer2013_variants_concatenates_every_variant_and_logs(settings, tmp_path):
    small = {"width": 4, "fc_dim": 16}
    one_seed = {v: s._replace(seeds=[0]) for v, s in settings.items()}
    lines = []
    runs = spatial.train_fer2013_variants(toy_fer(), "small", one_seed, tmp_path, model_kwargs=small, log=lines.append)
    assert runs.runs[["variant", "seed"]].values.tolist() == [["small-smoke", 0], ["small-paper", 0]]
    assert [line.split(":")[0] for line in lines] == ["small-smoke", "small-paper"]
    assert all(" 1 seed(s) in " in line for line in lines)
    assert len(runs.predictions) == 2 * 2 * 14  # 2 variants x (PublicTest + PrivateTest) x 14 images
    assert set(runs.histories["variant"]) == {"small-smoke", "small-paper"}
    _, meta = load_checkpoint(tmp_path / "small-paper" / "seed0" / "best.pt", device="cpu")  # the paper recipe's run
    assert {k: meta["recipe"][k] for k in ("optimizer", "lr", "epochs", "seed")} == {
        "optimizer": "adam", "lr": 1e-4, "epochs": 1, "seed": 0}
    assert meta["n_train"] == 70 and meta["model_spec"]["kwargs"]["width"] == 4
    again = []
    spatial.train_fer2013_variants(toy_fer(), "small", {"small-paper": one_seed["small-paper"]}, tmp_path,
                                   model_kwargs=small, resume=True, log=again.append)
    assert again[-1] == "reused from an earlier run's last.pt (resume=True): [{'variant': 'small-paper', 'seed': 0}]"
    with pytest.raises(ValueError, match="settings must hold at least one variant"):
        spatial.train_fer2013_variants(toy_fer(), "small", {}, tmp_path)


# --------------------------------------------------------------------------- selection and scores


def test_select_rows_picks_one_run_and_split():
    frame = pd.concat([fer_frame(one_hot([0, 1]), [0, 1], seed=s, split=sp)
                       for s in (0, 1) for sp in ("PublicTest", "PrivateTest")], ignore_index=True)
    assert len(spatial.select_rows(frame, "small-smoke", 1)) == 4
    rows = spatial.select_rows(frame, "small-smoke", 1, split="PrivateTest")
    assert rows["sample_id"].tolist() == ["PrivateTest0", "PrivateTest1"] and set(rows["seed"]) == {1}
    assert spatial.select_rows(frame, "small-paper", 0).empty


def test_ship_checkpoint_copies_the_chosen_run(tmp_path):
    runs = fer_runs_table()
    for name, text in (("a.pt", "seed 0"), ("b.pt", "seed 1")):
        (tmp_path / name).write_text(text)
    runs["checkpoint"] = [str(tmp_path / p) for p in runs["checkpoint"]]
    shipped = spatial.ship_checkpoint(runs, "small-smoke", 1, tmp_path / "out" / spatial.CHECKPOINT_NAME)
    assert shipped == tmp_path / "out" / "spatial_fer2013.pt" and shipped.read_text() == "seed 1"
    with pytest.raises(ValueError, match="exactly one run of variant 'small-smoke' and seed 7; found 0"):
        spatial.ship_checkpoint(runs, "small-smoke", 7, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="found 2"):
        spatial.ship_checkpoint(pd.concat([runs, runs]), "small-smoke", 1, tmp_path / "x.pt")


def test_evaluate_predictions_scores_the_probability_columns():
    frame = fer_frame(one_hot([0, 1, 2, 2]), [0, 1, 2, 3])
    scores = spatial.evaluate_predictions(frame)
    assert scores["accuracy"] == 0.75 and scores["n"] == 4
    assert scores["per_class"].loc["fear", "recall"] == 1.0 and scores["per_class"].loc["happy", "recall"] == 0.0
    assert spatial.evaluate_predictions(frame, FER2013_CLASSES)["accuracy"] == 0.75
    with pytest.raises(ValueError, match=r"lack the probability columns \['prob_contempt'\]"):
        spatial.evaluate_predictions(frame, [*FER2013_CLASSES[:6], "contempt"])


def test_duplicate_free_scores_drop_the_leaked_test_images():
    # PrivateTest rows 0..3 are images 10..13; image 11 has a duplicate in Training (image 2), image 12
    # only one in PublicTest (not a training leak)
    frame = fer_frame(one_hot([0, 0, 2, 3]), [0, 1, 2, 3], ids=["10", "11", "12", "13"])
    pairs = pd.DataFrame({"i": [2, 12], "j": [11, 20], "group_i": ["Training", "PrivateTest"],
                          "group_j": ["PrivateTest", "PublicTest"]})
    assert spatial.duplicate_free_scores(frame, pairs) == {"accuracy": 1.0, "macro_f1": pytest.approx(3 / 7),
                                                            "n": 3, "n_removed": 1}
    everything = pd.DataFrame({"i": [1, 1, 1, 1], "j": [10, 11, 12, 13], "group_i": ["Training"] * 4,
                               "group_j": ["PrivateTest"] * 4})
    with pytest.raises(ValueError, match="every one of the 4 predictions has a duplicate"):
        spatial.duplicate_free_scores(frame, everything)


def test_metrics_with_run_info_joins_epochs_and_seconds():
    fer = pd.concat([fer_frame(one_hot([0, 1]), [0, 1], seed=0, split=sp) for sp in ("PublicTest", "PrivateTest")],
                    ignore_index=True)
    ck = predictions_frame(np.eye(6)[[0, 1, 1]], np.array([0, 1, 2]), ["a", "b", "c"], CKPLUS_CLASSES_6,
                           dataset="ckplus48", protocol="6class", model="spatial", variant="transfer", seed=0,
                           split="test", fold=3)
    cross = ck.assign(protocol="cross:fer2013", variant="small-smoke", fold=-1, split="all")
    ck_metrics = pd.DataFrame({"protocol": ["6class"], "variant": ["transfer"], "seed": [0], "fold": [3],
                               "best_epoch": [2], "seconds": [1.5]})
    runs = fer_runs_table().iloc[:1]
    metrics = spatial.metrics_with_run_info(pd.concat([fer, ck, cross], ignore_index=True), runs, ck_metrics)
    by = metrics.set_index(["dataset", "protocol", "split"])
    assert by.loc[("fer2013", "canonical", "PrivateTest"), ["best_epoch", "seconds"]].tolist() == [6, 20.04]
    assert by.loc[("ckplus48", "6class", "test"), ["best_epoch", "seconds", "accuracy"]].tolist() == [2, 1.5, 2 / 3]
    assert by.loc[("ckplus48", "cross:fer2013", "all"), ["best_epoch", "seconds"]].isna().all()
    assert list(metrics.columns[-2:]) == ["best_epoch", "seconds"]
    without_ck = spatial.metrics_with_run_info(fer, runs)
    assert without_ck["best_epoch"].tolist() == [6, 6]


# --------------------------------------------------------------------------- tables


def test_per_seed_table_and_seed_summary_markdown():
    metrics = fer_metrics_table()
    table = spatial_results.per_seed_table(metrics)
    assert table.loc[("small-smoke", 1), ("accuracy", "PublicTest")] == 0.7
    assert table.loc[("small-paper", 0), ("macro_f1", "PrivateTest")] == 0.1
    text = spatial_results.seed_summary_markdown(spatial.seed_summary(metrics, "PrivateTest"))
    assert text.splitlines() == [
        "**PrivateTest, mean ± sd over seeds**", "",
        "* `small-smoke`: accuracy 45.0 ± 7.1% (min 40.0, max 50.0), macro-F1 0.350 ± 0.071, 2 seed(s)",
        "* `small-paper`: accuracy 25.0 ± 0.0% (min 25.0, max 25.0), macro-F1 0.100 ± 0.000, 1 seed(s)"]


def test_training_cost_table_rounds_to_tenths():
    table = spatial_results.training_cost_table(fer_runs_table())
    assert list(table.columns) == list(spatial_results.COST_COLUMNS)
    assert table["train_seconds"].tolist() == [20.0, 20.0, 6.6] and table["predict_seconds"].tolist()[0] == 0.9


def test_measured_table_says_what_was_measured(settings):
    summary = spatial.seed_summary(fer_metrics_table(), "PrivateTest")
    table = spatial_results.measured_table(summary, settings, synthetic=True)
    assert list(table.columns) == list(spatial.literature_table().columns)
    assert table["accuracy"].tolist() == ["45.0 ± 7.1", "25.0 ± 0.0"]
    assert table.loc[0, "source"] == "this run (synthetic data, smoke)" and set(table["kind"]) == {"measured here"}
    assert table.loc[0, "protocol"].endswith("over 2 seed(s), epochs chosen on PublicTest, TTA flip")
    assert table.loc[1, "protocol"].endswith("TTA none")
    assert spatial_results.measured_table(summary, settings, synthetic=False).loc[0, "source"] == "this run (FER-2013)"


# --------------------------------------------------------------------------- cross-data-set


def hand_made_cross():
    """CrossRuns of 4 clips: as trained 2 right (anger, happy), prior removed 3 right."""
    y = np.array([0, 1, 3, 5])  # anger, disgust, happy, surprise
    frames, evaluations = {}, {}
    for kind, pred, suffix in (("as trained", [0, 3, 3, 0], ""),
                               ("FER-2013 prior removed", [0, 1, 3, 0], spatial.PRIOR_CORRECTED_SUFFIX)):
        frame = predictions_frame(np.eye(6)[pred], y, list("abcd"), CKPLUS_CLASSES_6, dataset="ckplus48",
                                  protocol=spatial.CROSS_PROTOCOL, model="spatial", variant="small-smoke" + suffix,
                                  seed=0, split=spatial.CROSS_SPLIT)
        frames[kind], evaluations[kind] = frame, spatial.evaluate_predictions(frame)
    prior = np.array([0.1, 0.015, 0.135, 0.25, 0.17, 0.11, 0.22])
    return spatial.CrossRuns(frames, evaluations, {"as trained": None, "FER-2013 prior removed": prior},
                             CKPLUS_CLASSES_6, FER2013_CLASSES, "small-smoke", 0)


def test_cross_dataset_evaluation_scores_both_kinds(tiny_checkpoint):
    model, _ = load_checkpoint(tiny_checkpoint(size=SIZE, width=4), device="cpu")
    ck = toy_ck48()
    prior = np.linspace(1.0, 7.0, 7) / 28.0
    cross = spatial.cross_dataset_evaluation(model, ck, seed=3, variant="small-smoke", source_prior=prior)
    assert list(cross.predictions) == list(spatial.CROSS_KINDS) == ["as trained", "FER-2013 prior removed"]
    assert cross.class_names == CKPLUS_CLASSES_6 and cross.source_classes == FER2013_CLASSES
    assert cross.priors["as trained"] is None and np.array_equal(cross.priors["FER-2013 prior removed"], prior)
    direct = spatial.cross_dataset_predictions(model, ck, seed=3, variant="small-smoke", source_prior=prior)
    pd.testing.assert_frame_equal(cross.predictions["FER-2013 prior removed"], direct)
    for kind, frame in cross.predictions.items():
        assert cross.evaluations[kind]["n"] == 12  # 14 clips less the 2 contempt clips
        assert cross.evaluations[kind]["accuracy"] == (frame["y_true"] == frame["y_pred"]).mean()
    assert len(cross.frame) == 24 and set(cross.frame["seed"]) == {3}
    with pytest.raises(ValueError, match=r"source_prior must have shape \(7,\)"):
        spatial.cross_dataset_evaluation(model, ck, seed=3, variant="small-smoke", source_prior=prior[:6])


def test_cross_anchor_and_recall_tables():
    cross = hand_made_cross()
    table = spatial_results.cross_anchor_table(cross)
    assert table["model"].tolist() == ["ours, as trained", "ours, FER-2013 prior removed",
                                       *spatial.CKPLUS_ANCHORS]
    assert table["accuracy (%)"].tolist() == [50.0, 75.0, 68.8, 88.6]
    assert table["variant"].tolist()[:2] == ["small-smoke seed 0"] * 2 and table["clips"].tolist()[:2] == [4, 4]
    assert table["macro-F1"].iloc[2:].isna().all()
    recall = spatial_results.cross_recall_table(cross)
    assert recall.index.name == "recall per class" and list(recall.index) == list(CKPLUS_CLASSES_6)
    assert recall.loc["disgust"].tolist() == [0.0, 1.0] and recall.loc["surprise"].tolist() == [0.0, 0.0]


def test_cross_summaries_one_entry_per_kind():
    entries = spatial_results.cross_summaries(hand_made_cross())
    raw, fixed = entries["cross_fer2013_to_ckplus48"], entries["cross_fer2013_to_ckplus48_prior_corrected"]
    assert (raw["accuracy"], raw["n_clips"], raw["kind"], raw["variant"]) == (0.5, 4, "as trained", "small-smoke")
    assert fixed["variant"] == "small-smoke-prior-corrected" and fixed["accuracy"] == 0.75
    assert raw["classes"] == list(CKPLUS_CLASSES_6) and raw["anchors_percent"]["face-api.js expression net"] == 88.6
    assert raw["beats_face_api_js"] is False and "fer2013_training_prior" not in raw
    assert fixed["fer2013_training_prior"]["disgust"] == 0.015 and len(fixed["fer2013_training_prior"]) == 7


# --------------------------------------------------------------------------- summary.json and closing text


RUNTIME = {"device": "cpu", "precision": "fp32", "cpu_bf16": True, "channels_last": False, "threads": 1}


def fold_table():
    metrics = pd.DataFrame({"protocol": ["6class"] * 4, "variant": ["transfer"] * 4, "fold": [0, 0, 1, 2],
                            "seed": [0, 1, 0, 0], "accuracy": [0.5, 0.7, 0.4, 0.8]})
    return predictions_fold_table(metrics, "accuracy")


def test_fer2013_summary_reads_the_shipped_run(settings):
    entry = spatial_results.fer2013_summary(
        fer_metrics_table(), fer_runs_table(), settings, variant="small-smoke", seed=0, model_name="small",
        model_kwargs={"width": 8}, n_parameters=1234, runtime=RUNTIME,
        duplicate_free={"accuracy": 0.55, "macro_f1": 0.4, "n": 9, "n_removed": 1},
        tta_comparison=pd.DataFrame({"tta": ["none", "flip"], "accuracy": [0.5, 0.6]}))
    assert (entry["selected_publictest_accuracy"], entry["selected_privatetest_accuracy"]) == (0.6, 0.5)
    assert entry["selected_privatetest_macro_f1"] == 0.4 and entry["selected_seed"] == 0
    assert entry["train_seconds"] == {"small-paper": 6.56, "small-smoke": pytest.approx(40.0)}
    assert entry["images_per_s"] == {"small-paper": 300.0, "small-smoke": 450.0}
    assert [r["variant"] for r in entry["privatetest"]] == ["small-smoke", "small-paper"]
    assert entry["privatetest"][0]["accuracy_mean"] == pytest.approx(0.45)
    assert entry["recipes"]["small-paper"]["optimizer"] == "adam" and entry["tta"] == "flip"
    assert entry["checkpoint"] == "spatial_fer2013.pt" and entry["main_variant"] == "small-smoke"
    assert entry["benchmark"] is None and entry["recipe_search"] is None
    assert entry["publictest_tta_comparison"] == [{"tta": "none", "accuracy": 0.5}, {"tta": "flip", "accuracy": 0.6}]
    with pytest.raises(ValueError, match=r"variant must be one of the trained variants \['small-smoke', "):
        spatial_results.fer2013_summary(fer_metrics_table(), fer_runs_table(), settings, variant="vgg-ours", seed=0,
                                        model_name="small", model_kwargs={}, n_parameters=1, runtime=RUNTIME)
    with pytest.raises(ValueError, match=r"lack the \['PublicTest', 'PrivateTest'\] row\(s\)"):
        spatial_results.fer2013_summary(fer_metrics_table(), fer_runs_table(), settings, variant="small-smoke",
                                        seed=9, model_name="small", model_kwargs={}, n_parameters=1, runtime=RUNTIME)


def test_ckplus_summary_and_fold_summaries(settings):
    entry = spatial_results.ckplus_summary(fold_table(), settings["small-smoke"].config, recipe="smoke", seeds=[0, 1],
                                           head_epochs=40, head_lr=0.002, wall_seconds=12.345)
    assert entry["wall_seconds"] == 12.3 and entry["seeds"] == [0, 1] and entry["config"]["lr"] == 0.01
    folds = entry["folds"]["6class/transfer"]
    assert folds["per_fold"] == [0.6, 0.4, 0.8]  # fold 0 is the mean of its two seeds
    assert folds["mean"] == pytest.approx(0.6) and folds["sd"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"missing \['mean', 'sd'\]"):
        spatial_results.fold_summaries(fold_table().drop(index=["mean", "sd"]))


def test_notebook_summary_and_closing_markdown(settings):
    fer = spatial_results.fer2013_summary(
        fer_metrics_table(), fer_runs_table(), settings, variant="small-smoke", seed=0, model_name="small",
        model_kwargs={}, n_parameters=1, runtime=RUNTIME,
        duplicate_free={"accuracy": 0.55, "macro_f1": 0.4, "n": 9, "n_removed": 1})
    ck = spatial_results.ckplus_summary(fold_table(), settings["small-smoke"].config, recipe="smoke", seeds=[0],
                                        head_epochs=40, head_lr=0.002, wall_seconds=1.0)
    summary = spatial_results.notebook_summary(preset="smoke", synthetic=True, device="cpu", fer2013=fer,
                                               ckplus48=ck, cross=hand_made_cross(), wall_seconds=151.96)
    assert sorted(summary) == ["ckplus48", "cross_fer2013_to_ckplus48", "cross_fer2013_to_ckplus48_prior_corrected",
                               "data_dir_is_synthetic", "device", "fer2013", "preset", "wall_seconds"]
    assert summary["wall_seconds"] == 152.0 and summary["data_dir_is_synthetic"] is True
    lines = spatial_results.closing_markdown(summary).splitlines()
    assert lines[0] == ("* **FER-2013** (synthetic smoke data, small, cpu): `small-smoke` PrivateTest 45.0 ± 7.1% "
                        "over 2 seed(s), macro-F1 0.350; `small-paper` PrivateTest 25.0 ± 0.0% over 1 seed(s), "
                        "macro-F1 0.100. Shipped: `small-smoke` seed 0 (chosen on PublicTest), PrivateTest 50.0% "
                        "(55.0% without the images duplicated in Training). Training took 7 s (small-paper), "
                        "40 s (small-smoke) (cpu, fp32, 1 thread).")
    assert lines[1] == ("* **CK+48**, 10 subject-independent folds, mean ± sd over folds: "
                        "6class transfer 60.0 ± 20.0%.")
    assert lines[2].startswith("* **FER-2013 model on CK+48 without CK+ training** (6 shared classes, 4 clips): "
                               "50.0% as trained, 75.0% with FER-2013's class prior removed")
    assert lines[3].startswith("* These are **synthetic smoke** numbers")
    assert lines[4] == "* Notebook wall time: 152 s."
    fer_only = spatial_results.notebook_summary(preset="full", synthetic=False, device="cuda", fer2013=fer,
                                                wall_seconds=3.0)
    text = spatial_results.closing_markdown(fer_only)
    assert "(real data, small, cuda)" in text and "CK+48" not in text and "synthetic" not in text
    assert len(text.splitlines()) == 2
