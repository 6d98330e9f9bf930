"""Confusion matrices, confused pairs, error examples and calibration (fer_lib.evaluate.confusion)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fer_lib.data.ckplus import CKPlus48Data  # noqa: E402
from fer_lib.data.constants import CKPLUS_CLASSES, FER2013_CLASSES  # noqa: E402
from fer_lib.data.fer2013 import FER2013Data  # noqa: E402
from fer_lib.evaluate import (
    confusion,  # noqa: E402
    stats,
)
from fer_lib.evaluate.predictions import predictions_frame  # noqa: E402


def frame_from(y_true, y_pred, class_names=("a", "b", "c"), conf=0.7, sample_ids=None, seed=0):
    """A predictions table whose argmax is y_pred (probability ``conf`` on it)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(class_names)
    conf = np.broadcast_to(np.asarray(conf, dtype=float), y_true.shape)
    probs = np.tile(((1 - conf) / (k - 1))[:, None], (1, k))
    probs[np.arange(len(y_true)), y_pred] = conf
    ids = sample_ids if sample_ids is not None else [f"s{i}" for i in range(len(y_true))]
    return predictions_frame(probs, y_true, ids, class_names, dataset="ckplus48", protocol="7class",
                             model="spatial", variant="v", seed=seed, split="test", fold=0)


def test_confusion_counts_and_normalisation_known_values():
    counts = confusion.confusion_counts([0, 0, 0, 1, 1], [0, 1, 1, 1, 0], 3)
    assert counts.tolist() == [[1, 2, 0], [1, 1, 0], [0, 0, 0]]
    rows = confusion.normalize_confusion(counts, "true")
    np.testing.assert_allclose(rows[:2], [[1 / 3, 2 / 3, 0], [0.5, 0.5, 0]])
    assert np.isnan(rows[2]).all()  # class without samples: NaN, not 0
    cols = confusion.normalize_confusion(counts, "pred")
    np.testing.assert_allclose(cols[:, :2], [[0.5, 2 / 3], [0.5, 1 / 3], [0, 0]])
    assert np.isnan(cols[:, 2]).all()
    np.testing.assert_allclose(confusion.normalize_confusion(counts, "all").sum(), 1.0)
    assert confusion.normalize_confusion(counts, "none").dtype == float
    with pytest.raises(ValueError, match=r"normalize must be one of \['true', 'pred', 'all', 'none'\]; got 'row'"):
        confusion.normalize_confusion(counts, "row")
    with pytest.raises(ValueError, match=r"y_pred must hold class indices in \[0, 2\]"):
        confusion.confusion_counts([0], [3], 3)
    with pytest.raises(ValueError, match="same length"):
        confusion.confusion_counts([0, 1], [0], 3)


def test_confusion_frame_labels_and_difference():
    f = frame_from([0, 0, 1, 2], [0, 1, 1, 2])
    cm = confusion.confusion_frame(f)
    assert list(cm.index) == ["a", "b", "c"] and cm.index.name == "true" and cm.columns.name == "predicted"
    assert cm.loc["a", "b"] == 0.5 and cm.loc["b", "b"] == 1.0
    counts = confusion.confusion_frame(f, normalize="none")
    assert counts.to_numpy().sum() == 4
    other = confusion.confusion_frame(frame_from([0, 0, 1, 2], [0, 0, 1, 2]))
    diff = confusion.difference_matrix(other, cm)
    assert diff.loc["a", "a"] == 0.5 and diff.loc["a", "b"] == -0.5 and diff.loc["c", "c"] == 0
    with pytest.raises(ValueError, match="same classes in the same order"):
        confusion.difference_matrix(cm, cm.iloc[::-1])


def test_per_class_metrics_and_support_known_values():
    f = frame_from([0, 0, 1, 1], [0, 1, 1, 1], class_names=("x", "y"))
    m = confusion.per_class_metrics(f)
    np.testing.assert_allclose(m.loc["x"][["precision", "recall", "f1"]], [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(m.loc["y"][["precision", "recall", "f1"]], [2 / 3, 1.0, 0.8])
    assert m["support"].tolist() == [2, 2]
    # the same samples under two seeds count once in class_support
    both = pd.concat([f, f.assign(seed=1)], ignore_index=True)
    assert confusion.class_support(both).tolist() == [2, 2]
    assert confusion.per_class_metrics(both)["support"].tolist() == [4, 4]


def test_confused_pairs_ordered_and_symmetric():
    counts = pd.DataFrame([[5, 3, 0], [1, 6, 2], [0, 0, 4]], index=list("abc"), columns=list("abc"))
    top = confusion.confused_pairs(counts)
    assert list(zip(top["true"], top["predicted"])) == [("a", "b"), ("b", "c"), ("b", "a")]
    np.testing.assert_allclose(top["rate"], [3 / 8, 2 / 9, 1 / 9])
    assert len(confusion.confused_pairs(counts, k=1)) == 1
    sym = confusion.confused_pairs(counts, symmetric=True)
    assert list(zip(sym["a"], sym["b"])) == [("a", "b"), ("b", "c")]
    np.testing.assert_allclose(sym["rate"], [4 / 17, 2 / 13])
    with pytest.raises(ValueError, match="k must be an integer >= 1; got 0"):
        confusion.confused_pairs(counts, k=0)


def test_focus_pairs_match_either_data_sets_names():
    names = list(CKPLUS_CLASSES)  # anger, contempt, disgust, fear, happy, sadness, surprise
    c = pd.DataFrame(np.diag([10] * 7), index=names, columns=names)
    c.loc["anger", "disgust"] = 4
    c.loc["fear", "surprise"] = 5
    rates = confusion.focus_pair_rates(c).set_index("pair")
    assert rates.loc["angry/disgust", "a"] == "anger" and rates.loc["angry/disgust", "a_as_b"] == 4
    assert rates.loc["angry/disgust", "rate_a_as_b"] == pytest.approx(4 / 14)
    assert rates.loc["fear/surprise", "rate_a_as_b"] == pytest.approx(5 / 15)
    assert rates.loc["fear/surprise", "b_as_a"] == 0
    assert not rates.loc["sad/neutral", "present"]  # CK+ has no neutral
    assert np.isnan(rates.loc["sad/neutral", "rate_a_as_b"])
    assert confusion.canonical_class("sadness") == "sad" and confusion.canonical_class("contempt") == "contempt"


def test_select_errors_most_confident_first_and_once_per_sample():
    # true a (0) predicted b (1) on s1, s2, s3 with different confidences; s1 also under seed 1
    f0 = frame_from([0, 0, 0, 0], [1, 1, 1, 0], conf=[0.6, 0.9, 0.5, 0.8], sample_ids=["s1", "s2", "s3", "s4"])
    f1 = frame_from([0], [1], conf=[0.95], sample_ids=["s1"], seed=1)
    both = pd.concat([f0, f1], ignore_index=True)
    picked = confusion.select_errors(both, "a", "b", n=2)
    assert picked["sample_id"].tolist() == ["s1", "s2"]
    np.testing.assert_allclose(picked["confidence"], [0.95, 0.9])
    assert confusion.select_errors(both, "a", "b", n=10)["sample_id"].tolist() == ["s1", "s2", "s3"]
    r1 = confusion.select_errors(both, "a", "b", n=2, order="random", seed=3)
    r2 = confusion.select_errors(both, "a", "b", n=2, order="random", seed=3)
    assert r1["sample_id"].tolist() == r2["sample_id"].tolist() and len(r1) == 2
    assert confusion.select_errors(both, "b", "a").empty
    with pytest.raises(ValueError, match=r"true_class must be one of \['a', 'b', 'c'\]; got 'z'"):
        confusion.select_errors(both, "z", "a")
    with pytest.raises(ValueError, match=r"order must be one of \['confident', 'random'\]"):
        confusion.select_errors(both, "a", "b", order="worst")


def test_calibration_wraps_stats():
    f = frame_from([0, 1, 2, 0, 1], [0, 1, 0, 0, 2], conf=[0.9, 0.8, 0.7, 0.6, 0.55])
    curve, ece = confusion.calibration(f, n_bins=5)
    probs = f[["prob_a", "prob_b", "prob_c"]].to_numpy()
    assert ece == pytest.approx(stats.expected_calibration_error(probs, f["y_true"], 5))
    np.testing.assert_array_equal(curve.count, stats.reliability_curve(probs, f["y_true"], 5).count)


def _fer_data():
    images = np.arange(4 * 48 * 48, dtype=np.int64).reshape(4, 48, 48) % 256
    return FER2013Data(images=images.astype(np.uint8), labels=np.array([0, 6, 3, 4]),
                       usage=np.array(["Training", "PublicTest", "PrivateTest", "PrivateTest"], dtype=object),
                       source="x.csv")


def _ck_data():
    clips = np.zeros((2, 3, 48, 48), np.uint8)
    clips[0, -1] = 7
    clips[1, -1] = 9
    return CKPlus48Data(clips=clips, labels=np.array([0, 5]), subjects=np.array(["S1", "S2"], dtype=object),
                        sequence_ids=np.array(["S001_001", "S002_001"], dtype=object),
                        frame_numbers=np.zeros((2, 3), np.int64), excluded=pd.DataFrame(), root="x")


def test_sample_images_by_row_and_sequence_id():
    fer = _fer_data()
    images, ok = confusion.sample_images(fer, ["2", "1"], expected=["happy", "sad"])
    np.testing.assert_array_equal(images, fer.images[[2, 1]])
    assert ok.tolist() == [True, False]  # row 1 is neutral
    with pytest.raises(ValueError, match=r"FER-2013 row numbers in \[0, 3\]; got \['7'\]"):
        confusion.sample_images(fer, ["7"])
    ck = _ck_data()
    images, ok = confusion.sample_images(ck, ["S002_001"], expected=["sad"])  # sadness == sad (canonical)
    assert images.shape == (1, 48, 48) and images[0, 0, 0] == 9 and ok.tolist() == [True]
    with pytest.raises(ValueError, match=r"CK\+48 sequence ids of the data; unknown \['S009_001'\]"):
        confusion.sample_images(ck, ["S009_001"])
    with pytest.raises(ValueError, match="data must be FER2013Data or CKPlus48Data"):
        confusion.sample_images(object(), ["1"])


def test_error_example_rows_and_figures():
    fer = _fer_data()
    # row 3 is sad: predicted neutral (an error of the focus pair sad/neutral); row 2 is happy, right
    f = frame_from([4, 3], [6, 3], class_names=FER2013_CLASSES, sample_ids=["3", "2"])
    rows, mismatched = confusion.error_example_rows(f, "spatial/v", fer)
    assert mismatched == 0 and len(rows) == 1
    label, images, titles = rows[0]
    assert label == "spatial/v\nsad → neutral" and images.shape == (1, 48, 48) and titles[0].startswith("3\n")
    fig = confusion.plot_error_examples(rows, suptitle="x")
    (ax,) = fig.axes  # one row, one image
    assert ax.get_ylabel() == "spatial/v\nsad → neutral" and ax.get_title() == "3\np=0.70"
    assert fig._suptitle.get_text() == "x"
    np.testing.assert_array_equal(ax.images[0].get_array(), fer.images[3])  # row 3 of the data, as drawn
    assert confusion.plot_error_examples([("empty", np.zeros((0, 48, 48)), [])]) is None

    cm = confusion.confusion_frame(f)  # happy -> happy, sad -> neutral
    right = confusion.confusion_frame(frame_from([4, 3], [4, 3], class_names=FER2013_CLASSES))  # both right
    expected_cm = np.full((7, 7), np.nan)
    expected_cm[3] = expected_cm[4] = 0.0
    expected_cm[3, 3] = expected_cm[4, 6] = 100.0  # percent of the true class
    expected_right = expected_cm.copy()
    expected_right[4, 6], expected_right[4, 4] = 0.0, 100.0

    panels = confusion.plot_confusion_panels({"one": cm, "two": right})
    assert [a.get_title() for a in panels.axes] == ["one", "two", ""]  # two panels and their shared colour bar
    assert [a.get_ylabel() for a in panels.axes] == ["true", "", "% of the true class"]
    np.testing.assert_array_equal(np.asarray(panels.axes[0].collections[0].get_array()), expected_cm)
    np.testing.assert_array_equal(np.asarray(panels.axes[1].collections[0].get_array()), expected_right)
    assert panels.axes[0].collections[0].get_clim() == (0, 100)

    diff = confusion.plot_difference(confusion.difference_matrix(cm, right))
    assert [a.get_ylabel() for a in diff.axes] == ["true", "difference (percentage points)"]
    np.testing.assert_array_equal(np.asarray(diff.axes[0].collections[0].get_array()), expected_cm - expected_right)
    assert diff.axes[0].collections[0].get_clim() == (-100.0, 100.0)  # symmetric about 0, to the largest change
    assert [t.get_text() for t in diff.axes[0].texts] == ["+0"] * 11 + ["-100", "+0", "+100"]  # rows happy, sad

    # both samples at confidence 0.7, one right: bin (0.5, 0.75] holds 2 at accuracy 0.5, ECE |0.7 - 0.5|
    rel_ax, count_ax = confusion.plot_reliability({"m": confusion.calibration(f, n_bins=4)}).axes
    assert [line.get_label() for line in rel_ax.lines] == ["perfect calibration", "m (ECE 20.0%)"]
    assert rel_ax.lines[1].get_xdata().tolist() == [0.7] and rel_ax.lines[1].get_ydata().tolist() == [0.5]
    assert [b.get_height() for b in count_ax.patches] == [0, 0, 2, 0]
    with pytest.raises(ValueError, match="at least 1 confusion matrix"):
        confusion.plot_confusion_panels({})
    plt.close("all")


def test_load_image_sources_reports_what_is_absent(tmp_path):
    sources, absent = confusion.load_image_sources(tmp_path, ["fer2013", "ckplus_sequences", "video"])
    assert sources == {}
    assert "FER-2013 not found" in absent["fer2013"]
    assert "CK+48" in absent["ckplus_sequences"]  # shown through CK+48 (IMAGE_SOURCES)
    assert absent["video"].startswith("no image lookup for 'video'")
