"""The loaders and the audit on the real data sets (skipped when ../shared/data is absent)."""

import numpy as np
import pytest

from fer_lib.data.audit import duplicate_summary, find_duplicates, leaked_test_images
from fer_lib.data.ckplus import (
    find_ckplus_sequences,
    load_ckplus48,
    load_ckplus_sequences,
)
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.data.fer2013 import load_fer2013
from fer_lib.data.splits import subject_folds, subject_overlap


@pytest.fixture(scope="module")
def fer(shared_data_dir):
    return load_fer2013(shared_data_dir)


def test_fer2013_canonical_split_counts(fer):
    counts = fer.counts()
    assert counts.sum().to_dict() == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert fer.images.shape == (35887, 48, 48) and fer.images.dtype == np.uint8
    assert counts.loc["disgust", "Training"] == 436 and counts.loc["happy", "Training"] == 7215


def test_fer2013_duplicates_across_splits_are_found(fer):
    pairs = find_duplicates(fer.images, fer.usage, fer.labels)
    summary = duplicate_summary(pairs, fer.splits)
    assert {"Training / PublicTest", "Training / PrivateTest"} <= set(summary["groups"])
    leaked = leaked_test_images(pairs, "Training", ["PublicTest", "PrivateTest"])
    assert 0 < leaked["PrivateTest"] < 3589 * 0.2  # a few percent, as the audit reports


def test_ckplus48_clips_subjects_and_folds(shared_data_dir):
    data = load_ckplus48(shared_data_dir)
    assert data.clips.shape == (327, 3, 48, 48)
    assert len(set(data.subjects)) == 118 and data.excluded.empty
    counts = np.bincount(data.labels, minlength=7)
    assert dict(zip(CKPLUS_CLASSES, counts.tolist())) == {
        "anger": 45, "contempt": 18, "disgust": 59, "fear": 25, "happy": 69, "sadness": 28, "surprise": 83}
    folds = subject_folds(data.subjects, data.labels, 10, seed=0, order_key=data.sequence_ids)
    assert subject_overlap(data.subjects, folds).empty


def test_ckplus_official_sequences(shared_data_dir):
    seqs = load_ckplus_sequences(find_ckplus_sequences(shared_data_dir))
    assert len(seqs.labelled) == 40 and len(seqs.unlabelled) == 0
    table = seqs.table()
    assert table["n_frames"].sum() == 684 and table["subject"].nunique() == 10
    assert seqs.labelled[0].frames().shape[1:] == (490, 640)
    # the 40 sequences' last three frames are also in CK+48, with the same labels
    ck48 = load_ckplus48(shared_data_dir)
    labels48 = dict(zip(ck48.sequence_ids, (CKPLUS_CLASSES[i] for i in ck48.labels)))
    assert all(labels48[s.sequence_id] == s.label for s in seqs.labelled)
