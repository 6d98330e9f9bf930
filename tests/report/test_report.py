"""Test sets and arms, paired tests, claims and the results page (fer_lib.report)."""

import json

import numpy as np
import pandas as pd
import pytest
from factories import arm
from scipy import stats as st

from fer_lib.data.constants import CKPLUS_CLASSES, FER2013_CLASSES
from fer_lib.evaluate import stats
from fer_lib.evaluate.predictions import (
    class_lists,
    load_run_predictions,
    save_predictions,
)
from fer_lib.report import arms as study_arms
from fer_lib.report import claims as paper_claims
from fer_lib.report import paired_tests, results
from fer_lib.run import publish

CK = CKPLUS_CLASSES


def folds_of(model, variant, accs, seed=0, n=10, **kw):
    """One arm over len(accs) folds of n samples each, with accuracy accs[k] in fold k."""
    return pd.concat([arm(np.arange(n) < round(a * n), model=model, variant=variant, seed=seed, fold=k, **kw)
                      for k, a in enumerate(accs)], ignore_index=True)


SPATIAL = [0.5, 0.6, 0.7, 0.6, 0.5]
HYBRID = [0.7, 0.7, 0.8, 0.9, 0.6]
TEMPORAL = [0.6, 0.6, 0.8, 0.7, 0.7]


@pytest.fixture(scope="module")
def ck_set():
    frames = [folds_of("spatial", "transfer", SPATIAL), folds_of("spatial", "scratch", SPATIAL),
              folds_of("spatial", "transfer", SPATIAL[::-1], seed=1),
              folds_of("temporal", "lstm", TEMPORAL), folds_of("hybrid", "cnn-rnn", HYBRID)]
    return study_arms.collect_test_sets({"nb": pd.concat(frames, ignore_index=True)})[("ckplus48", "7class")]


def test_collect_test_sets_uses_the_class_lists_saved_with_mixed_tables(tmp_path):
    fer = arm([True, False, True], model="spatial", variant="vgg", dataset="fer2013", protocol="canonical",
              split="PrivateTest", classes=FER2013_CLASSES, fold=-1, ids=["5", "6", "7"])
    ck = arm([True, True, False, True], model="spatial", variant="transfer", y=[0, 3, 5, 6])
    save_predictions([fer, ck], tmp_path / "artifacts" / "03_spatial_baseline")
    loaded = load_run_predictions(tmp_path)
    mixed = loaded["03_spatial_baseline"]
    # the union of columns: CK+'s anger, contempt, sadness come after FER-2013's classes
    assert [c for c in mixed.columns if c.startswith("prob_")][-3:] == ["prob_anger", "prob_contempt", "prob_sadness"]
    assert class_lists(mixed) == {("ckplus48", "7class"): CK, ("fer2013", "canonical"): FER2013_CLASSES}
    sets = study_arms.collect_test_sets(loaded)
    assert sorted(sets) == [("ckplus48", "7class"), ("fer2013", "canonical")]
    ck_set = sets[("ckplus48", "7class")]
    assert [c for c in ck_set.columns if c.startswith("prob_")] == [f"prob_{c}" for c in CK]
    assert (ck_set["notebook"] == "03_spatial_baseline").all() and ck_set["y_true"].tolist() == [0, 3, 5, 6]
    assert len([c for c in sets[("fer2013", "canonical")].columns if c.startswith("prob_")]) == 7
    # the class lists travel with the rows through any concatenation
    by_hand = study_arms.collect_test_sets({"nb": pd.concat([fer, ck], ignore_index=True)})
    assert [c for c in by_hand[("ckplus48", "7class")].columns if c.startswith("prob_")] == [f"prob_{c}" for c in CK]
    # a table of an older fer_lib (no class_names column) in the wrong column order is refused
    old = pd.concat([fer, ck], ignore_index=True).drop(columns="class_names")
    with pytest.raises(ValueError, match=r"does not reproduce y_pred = argmax.*run its notebook again"):
        study_arms.collect_test_sets({"nb": old})


def test_save_predictions_refuses_two_class_lists_for_one_test_set(tmp_path):
    a = arm([True, False], model="spatial", variant="v", classes=("x", "y", "z"))
    b = arm([True, False], model="hybrid", variant="v", classes=("x", "y", "w"))
    with pytest.raises(ValueError, match=r"ckplus48/7class come with 2 class lists \[\['x', 'y', 'z'\]"):
        save_predictions([a, b], tmp_path)


def test_collect_test_sets_leaves_out_other_tables_with_a_warning():
    a = arm([True, False], model="spatial", variant="v")
    video = pd.DataFrame({"frame": [0, 1], "p_happy": [0.5, 0.4]})
    with pytest.warns(UserWarning, match=r"08_video: predictions.parquet is not in the format .* left out"):
        sets = study_arms.collect_test_sets({"03": a, "08_video": video})
    assert list(sets) == [("ckplus48", "7class")]


def test_collect_test_sets_rejects_different_class_lists():
    a = arm([True, False], model="spatial", variant="v", classes=("x", "y", "z"))
    b = arm([True, False], model="hybrid", variant="v", classes=("x", "y", "w"))
    with pytest.raises(ValueError, match="predicted with different classes by nb03"):
        study_arms.collect_test_sets({"nb03": a, "nb05": b})
    cols = [c for c in a.columns if not c.startswith("prob_")]
    shuffled = a[cols + ["prob_y", "prob_x", "prob_z"]]  # columns not in the order y_true indexes
    shuffled = shuffled.drop(columns="class_names")  # and no class list saved with them
    with pytest.raises(ValueError, match="does not reproduce y_pred = argmax"):
        study_arms.collect_test_sets({"nb": shuffled})


def test_primary_arm_rows_are_the_reported_rows_of_each_primary_arm(ck_set):
    rows = study_arms.primary_arm_rows(ck_set)
    assert list(rows) == [("spatial", "transfer"), ("temporal", "lstm"), ("hybrid", "cnn-rnn")]
    reported = study_arms.report_rows(ck_set)
    for (model, variant), arm_rows in rows.items():
        pd.testing.assert_frame_equal(arm_rows, study_arms.select_arm(reported, model, variant))
        assert set(arm_rows["split"]) <= set(study_arms.REPORT_SPLITS) and len(arm_rows)


def test_iter_primary_arms_walks_every_set_then_every_family(ck_set):
    other = ck_set[ck_set["model"] != "temporal"]
    walked = list(study_arms.iter_primary_arms({("ckplus48", "7class"): ck_set, ("ckplus48", "6class"): other}))
    assert [w[:4] for w in walked] == [
        ("ckplus48", "7class", "spatial", "transfer"), ("ckplus48", "7class", "temporal", "lstm"),
        ("ckplus48", "7class", "hybrid", "cnn-rnn"), ("ckplus48", "6class", "spatial", "transfer"),
        ("ckplus48", "6class", "hybrid", "cnn-rnn")]
    for (_, _, model, variant, rows), expected in zip(walked, study_arms.primary_arm_rows(ck_set).values()):
        pd.testing.assert_frame_equal(rows, expected)
    assert list(study_arms.iter_primary_arms({})) == []


def test_primary_variant_preference_then_sorted_fallback(ck_set):
    assert study_arms.primary_arms(ck_set) == {"spatial": "transfer", "temporal": "lstm", "hybrid": "cnn-rnn"}
    only = ck_set[ck_set["variant"] != "transfer"]
    assert study_arms.primary_variant(only, "spatial") == "scratch"
    fer = pd.concat([arm([True], model="spatial", variant=v) for v in ("zeta", "alpha")])
    assert study_arms.primary_variant(fer, "spatial") == "alpha"
    # our FER-2013 recipe before the seed papers' recipe, whatever the CNN
    fer = pd.concat([arm([True], model="spatial", variant=v) for v in ("small-paper", "small-smoke")])
    assert study_arms.primary_variant(fer, "spatial") == "small-smoke"
    fer = pd.concat([arm([True], model="spatial", variant=v) for v in ("small-paper", "small-short")])
    assert study_arms.primary_variant(fer, "spatial") == "small-short"
    fer = pd.concat([arm([True], model="spatial", variant=v)
                     for v in ("fastvgg-cpu-prior-corrected", "fastvgg-cpu", "fastvgg-paper")])
    assert study_arms.primary_variant(fer, "spatial") == "fastvgg-cpu"
    fer = pd.concat([arm([True], model="spatial", variant=v) for v in ("vgg-paper", "vgg-ours", "resnet18-ours")])
    assert study_arms.primary_variant(fer, "spatial") == "resnet18-ours"
    assert study_arms.primary_variant(fer, "hybrid") is None
    with pytest.raises(ValueError, match=r"model must be one of \['spatial', 'temporal', 'hybrid', 'landmarks'\]; got 'cnn'"):
        study_arms.primary_variant(fer, "cnn")
    table = study_arms.arms_table(ck_set)
    assert table[["model", "variant", "primary"]].values.tolist()[:3] == [
        ["spatial", "transfer", True], ["spatial", "scratch", False], ["temporal", "lstm", True]]
    assert table.set_index("variant").loc["transfer", "seeds"] == "0, 1"


def test_sort_by_family():
    rows = pd.DataFrame({"dataset": ["d"] * 4, "model": ["hybrid", "spatial", "spatial", "temporal"],
                         "variant": ["h", "b", "a", "t"], "primary": [True, True, False, True]})
    assert study_arms.sort_by_family(rows)["variant"].tolist() == ["b", "a", "t", "h"]


def test_headline_table_pools_folds_then_averages_seeds(ck_set):
    head = study_arms.headline_table({("ckplus48", "7class"): ck_set}).set_index("variant")
    assert head.loc["transfer", "accuracy"] == pytest.approx(np.mean(SPATIAL))  # both seeds have mean 0.58
    assert head.loc["transfer", "n_seeds"] == 2 and head.loc["transfer", "n_folds"] == 5
    assert head.loc["transfer", "seed_sd"] == pytest.approx(0.0)
    assert head.loc["cnn-rnn", "fold_sd"] == pytest.approx(np.std(HYBRID, ddof=1))
    assert np.isnan(head.loc["cnn-rnn", "seed_sd"]) and head.loc["cnn-rnn", "n_samples"] == 50
    # FER-2013 PublicTest (model selection) is not reported
    fer = pd.concat([arm([True, False], model="spatial", variant="v", dataset="fer2013", protocol="canonical",
                         split=s, fold=-1, classes=FER2013_CLASSES) for s in ("PublicTest", "PrivateTest")])
    head = study_arms.headline_table(study_arms.collect_test_sets(fer))
    assert head["split"].tolist() == ["PrivateTest"] and head["n_folds"].tolist() == [0]


def test_fold_scores_average_seeds_within_folds_and_fold_sizes(ck_set):
    arms = study_arms.primary_arms(ck_set)
    scores = paired_tests.fold_scores(ck_set, arms)
    expected_spatial = (np.array(SPATIAL) + np.array(SPATIAL[::-1])) / 2
    np.testing.assert_allclose(scores["spatial"], expected_spatial)
    np.testing.assert_allclose(scores["hybrid"], HYBRID)
    assert list(scores.columns) == ["spatial", "temporal", "hybrid"] and scores.index.name == "fold"
    sizes = paired_tests.fold_sizes(ck_set)
    assert sizes["n_test"].tolist() == [10] * 5 and sizes["n_train"].tolist() == [30] * 5  # 50 - test - validation
    # a test-only view (CK+ sequences) takes its training sizes from the data set the models trained on
    view = ck_set[ck_set["fold"] < 5].assign(dataset="ckplus_sequences", split="first100pct")
    view = view[view["sample_id"].str[-3:].astype(int) < 4]  # 4 sequences per fold
    assert paired_tests.fold_split(view) == "first100pct"
    sizes = paired_tests.fold_sizes(view, train_from=ck_set)
    assert sizes["n_test"].tolist() == [4] * 5 and sizes["n_train"].tolist() == [30] * 5
    with pytest.raises(ValueError, match=r"metric must be one of \['accuracy', 'macro_f1'\]; got 'auc'"):
        paired_tests.fold_scores(ck_set, arms, metric="auc")
    with pytest.raises(ValueError, match="no predictions of hybrid/attention"):
        paired_tests.fold_scores(ck_set, {"hybrid": "attention"})


def test_fold_level_tests_match_stats(ck_set):
    arms = study_arms.primary_arms(ck_set)
    scores = paired_tests.fold_scores(ck_set, arms)
    sizes = paired_tests.fold_sizes(ck_set)
    out = paired_tests.fold_level_tests(scores, sizes, arms, dataset="ckplus48", protocol="7class")
    assert list(out.columns) == list(paired_tests.PAIRED_TEST_COLUMNS) and len(out) == 9
    assert (out["level"] == "fold").all() and set(out["variant_b"]) == {"transfer", "lstm"}
    ref = stats.compare_fold_scores(scores, 30, 10, pairs=[("hybrid", "spatial"), ("temporal", "spatial"),
                                                            ("hybrid", "temporal")])
    np.testing.assert_allclose(out["p"], ref["p"])
    np.testing.assert_allclose(out["p_holm"], ref["p_holm"])
    hs = (out["model_a"] == "hybrid") & (out["model_b"] == "spatial")
    nb = out[(out["test"] == "corrected_resampled_ttest") & hs]
    direct = stats.corrected_resampled_ttest(scores["hybrid"], scores["spatial"], 30, 10)
    assert nb["p"].item() == pytest.approx(direct.p) and nb["statistic"].item() == pytest.approx(direct.t)
    tt = out[(out["test"] == "paired_ttest") & hs]
    assert tt["power"].item() == pytest.approx(stats.paired_ttest(scores["hybrid"], scores["spatial"]).power)
    assert out.loc[out["test"] != "paired_ttest", "power"].isna().all()
    assert paired_tests.fold_level_tests(scores[["spatial"]], sizes, arms).empty


def test_sample_level_tests_pair_common_seeds_and_match_stats(ck_set):
    out = paired_tests.sample_level_tests(ck_set, ("hybrid", "cnn-rnn"), ("spatial", "transfer"), n_boot=200,
                                          dataset="ckplus48", protocol="7class")
    assert out["seed"].tolist() == [0, 0, 0]  # the hybrid ran seed 0 only
    assert out["test"].tolist() == ["mcnemar", "paired_bootstrap", "naive_sample_ttest"]
    ca = np.concatenate([np.arange(10) < round(a * 10) for a in HYBRID])
    cb = np.concatenate([np.arange(10) < round(a * 10) for a in SPATIAL])
    rows = out.set_index("test")
    assert rows.loc["mcnemar", "p"] == pytest.approx(stats.mcnemar_test(ca, cb).p)
    ref = st.ttest_rel(ca.astype(float), cb.astype(float))
    assert rows.loc["naive_sample_ttest", "statistic"] == pytest.approx(ref.statistic)
    assert rows.loc["paired_bootstrap", "mean_diff"] == pytest.approx(ca.mean() - cb.mean())
    assert rows.loc["paired_bootstrap", "ci_low"] == pytest.approx(
        stats.paired_bootstrap_diff(ca, cb, n_boot=200).ci_low)
    assert (out["n"] == 50).all() and rows.loc["mcnemar", "note"].startswith("exact binomial")
    # samples predicted by one arm only are left out and counted in the note
    partial = ck_set[~((ck_set["model"] == "hybrid") & (ck_set["fold"] == 4))]
    out = paired_tests.sample_level_tests(partial, ("hybrid", "cnn-rnn"), ("spatial", "transfer"), n_boot=50)
    assert (out["n"] == 40).all() and "10 predictions without a partner" in out["note"].iloc[0]
    with pytest.raises(ValueError, match="n_boot must be an integer >= 1"):
        paired_tests.sample_level_tests(ck_set, ("hybrid", "cnn-rnn"), ("spatial", "transfer"), n_boot=0)


def test_seed_level_tests_known_values():
    frames = []
    for seed, (acc_a, acc_b) in enumerate([(0.7, 0.5), (0.8, 0.7), (0.6, 0.6)]):
        frames.append(arm(np.arange(10) < acc_a * 10, model="hybrid", variant="h", seed=seed))
        frames.append(arm(np.arange(10) < acc_b * 10, model="spatial", variant="s", seed=seed))
    frame = pd.concat(frames, ignore_index=True)
    out = paired_tests.seed_level_tests(frame, ("hybrid", "h"), ("spatial", "s"))
    ref = st.ttest_rel([0.7, 0.8, 0.6], [0.5, 0.7, 0.6])
    assert out["statistic"].item() == pytest.approx(ref.statistic)
    assert out["p"].item() == pytest.approx(ref.pvalue) and out["n"].item() == 3
    one = paired_tests.seed_level_tests(frame[frame["seed"] == 0], ("hybrid", "h"), ("spatial", "s"))
    assert np.isnan(one["p"].item()) and "needs >= 2 seeds" in one["note"].item()


def test_comparisons_families_then_variants(ck_set):
    assert paired_tests.comparisons(ck_set) == [
        (("hybrid", "cnn-rnn"), ("spatial", "transfer")),
        (("temporal", "lstm"), ("spatial", "transfer")),
        (("hybrid", "cnn-rnn"), ("temporal", "lstm")),
        (("spatial", "scratch"), ("spatial", "transfer")),
    ]


def test_matched_control_is_compared_with_the_hybrid_at_fold_and_sample_level(ck_set):
    from fer_lib.evaluate.predictions import SPATIAL_CONTROL_VARIANT

    assert study_arms.matched_control_arms(ck_set) is None  # no control in this run
    control = folds_of("spatial", SPATIAL_CONTROL_VARIANT, [0.9, 0.8, 0.9, 0.9, 0.8])
    with_control = study_arms.collect_test_sets({"nb": pd.concat([ck_set.drop(columns="notebook"), control],
                                                                 ignore_index=True)})[("ckplus48", "7class")]
    arms = study_arms.matched_control_arms(with_control)
    assert arms == {"hybrid": "cnn-rnn", "spatial": SPATIAL_CONTROL_VARIANT}
    pairs = paired_tests.comparisons(with_control)
    control_pair = (("hybrid", "cnn-rnn"), ("spatial", SPATIAL_CONTROL_VARIANT))
    assert pairs[:4] == paired_tests.comparisons(ck_set)[:3] + [control_pair]
    scores = paired_tests.fold_scores(with_control, arms)
    assert scores["spatial"].tolist() == pytest.approx([0.9, 0.8, 0.9, 0.9, 0.8])
    tests = paired_tests.fold_level_tests(scores, paired_tests.fold_sizes(with_control), arms,
                                          dataset="ckplus48", protocol="7class")
    assert set(tests["variant_b"]) == {SPATIAL_CONTROL_VARIANT} and len(tests) == 3  # one pair, three tests
    assert (tests["p_holm"] == tests["p"]).all()  # a family of one comparison
    assert tests["mean_diff"].iloc[0] == pytest.approx(np.mean(HYBRID) - 0.86)
    # where the control is the spatial primary (no notebook 03 arm), the family comparison covers it
    other_spatial = (with_control["model"] == "spatial") & (with_control["variant"] != SPATIAL_CONTROL_VARIANT)
    only_control = with_control[~other_spatial]
    assert study_arms.matched_control_arms(only_control) is None


def test_combine_tests_and_naive_vs_valid(ck_set):
    arms = study_arms.primary_arms(ck_set)
    scores = paired_tests.fold_scores(ck_set, arms)
    fold = paired_tests.fold_level_tests(scores, paired_tests.fold_sizes(ck_set), arms, dataset="ckplus48",
                                         protocol="7class")
    sample = paired_tests.sample_level_tests(ck_set, ("hybrid", "cnn-rnn"), ("spatial", "transfer"), n_boot=50,
                                             dataset="ckplus48", protocol="7class")
    tests = paired_tests.combine_tests(fold, sample)
    assert str(tests["seed"].dtype) == "Int64" and tests["seed"].isna().sum() == 9
    beside = paper_claims.naive_vs_valid(tests)
    assert len(beside) == 1
    row = beside.iloc[0]
    assert row["naive_t"] == pytest.approx(sample.set_index("test").loc["naive_sample_ttest", "statistic"])
    nb = fold[(fold["test"] == "corrected_resampled_ttest") & (fold["model_a"] == "hybrid")
              & (fold["model_b"] == "spatial")]
    assert row["corrected_p"] == pytest.approx(nb["p"].item())
    assert row["corrected_p_holm"] == pytest.approx(nb["p_holm"].item())
    records = paired_tests.pvalue_summary(tests)
    assert len(records) == len(tests) and records[0]["seed"] is None or pd.isna(records[0]["seed"])
    assert paired_tests.combine_tests().empty


def test_claims_vs_measured(ck_set):
    empty = paper_claims.claims_vs_measured({})
    assert len(empty) == len(paper_claims.CLAIMS) and (empty["measured"] == paper_claims.NOT_MEASURED).all()
    assert list(empty.columns) == list(paper_claims.CLAIM_COLUMNS)
    fer = pd.concat([arm(np.arange(20) < 12, model="spatial", variant="vgg", dataset="fer2013", protocol="canonical",
                         split="PrivateTest", fold=-1, classes=FER2013_CLASSES, seed=s, ids=[str(i) for i in range(20)])
                     for s in (0, 1)])
    sets = {("ckplus48", "7class"): ck_set, **study_arms.collect_test_sets(fer)}
    claims = paper_claims.claims_vs_measured(sets).set_index("claim_id")
    assert claims.loc["A-ckplus-hybrid", "measured"] == pytest.approx(100 * np.mean(HYBRID))
    assert claims.loc["A-ckplus-hybrid", "measured_config"].startswith("hybrid/cnn-rnn")
    assert claims.loc["A-fer-spatial", "measured"] == pytest.approx(60.0)
    assert "mean of 2 seeds" in claims.loc["A-fer-spatial", "protocol_measured"]
    # seed paper B's FER-2013 hybrids: this run has no hybrid on FER-2013, and a spatial CNN is not one
    assert claims.loc["B-fer-attention", "measured"] == paper_claims.NOT_MEASURED
    assert claims.loc["B-fer-attention", "note"] == "no hybrid/attention on FER-2013 in this run"
    fer_hybrid = arm(np.arange(20) < 13, model="hybrid", variant="cnn-rnn", dataset="fer2013", protocol="canonical",
                     split="PrivateTest", fold=-1, classes=FER2013_CLASSES, ids=[str(i) for i in range(20)])
    with_hybrid = {("ckplus48", "7class"): ck_set, **study_arms.collect_test_sets(pd.concat([fer, fer_hybrid]))}
    claims = paper_claims.claims_vs_measured(with_hybrid).set_index("claim_id")
    assert claims.loc["B-fer-attention", "measured"] == pytest.approx(65.0)  # closest: the hybrid of another variant
    assert claims.loc["B-fer-attention", "note"] == (
        "no hybrid/attention on FER-2013 in this run; closest: hybrid/cnn-rnn on the same test set")
    assert claims.loc["B-own-videos", "measured"] == paper_claims.NOT_MEASURED
    ca = np.concatenate([np.arange(10) < round(a * 10) for a in HYBRID])
    cb = np.concatenate([np.arange(10) < round(a * 10) for a in SPATIAL])
    assert claims.loc["A-ttest", "measured"] == pytest.approx(round(stats.naive_sample_ttest(ca, cb).t, 2))
    assert "corrected resampled t-test over 5 folds" in claims.loc["A-ttest", "note"]
    assert [c.reported for c in paper_claims.CLAIMS] == [88.4, 80.0, 86.7, 87.5, 89.0, 100.0, 7.82]


def test_markdown_table_escapes_and_formats():
    text = results.markdown_table(pd.DataFrame({"a": ["x|y"], "b": [0.123456], "c": [np.nan]}), {"b": "{:.2f}"})
    assert text.splitlines() == ["| a | b | c |", "| --- | --- | --- |", "| x/y | 0.12 | – |"]


def test_results_page_from_a_run_folder(tmp_path, ck_set):
    run = tmp_path / "smoke"
    (run / "artifacts").mkdir(parents=True)
    (run / "run_log.json").write_text(json.dumps({"preset": "smoke", "data_dir": str(tmp_path / "realdata"),
                                                  "commit": "abc"}))
    page = results.results_markdown(publish.study_metrics(run))
    assert page.startswith("# Results summary") and "preset: `smoke`" in page and "commit: `abc`" in page
    assert "No model has saved predictions in this run yet." in page
    assert "has not saved its tests" in page and paper_claims.NOT_MEASURED in page
    assert "real data sets" in page and "synthetic" not in page
    save_predictions(ck_set.drop(columns="notebook"), run / "artifacts" / "05_hybrid")
    path = results.write_results_page(publish.read_metrics(run), tmp_path)
    page = path.read_text()
    assert path.name == "results.md" and "### CK+48, 7class" in page
    assert "| hybrid/cnn-rnn * | test | 74.0 |" in page  # mean of HYBRID, in %
    assert "recomputed from the predictions" in page
