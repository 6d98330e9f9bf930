"""Small builders of test inputs shared by test files in several folders (importable: tests/ is on sys.path)."""

import numpy as np

from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.evaluate.predictions import predictions_frame


def arm(correct, *, model, variant, seed=0, fold=0, dataset="ckplus48", protocol="7class", split="test",
        classes=CKPLUS_CLASSES, ids=None, y=None):
    """Predictions of one arm: sample i is right when correct[i] (else predicted as the next class)."""
    correct = np.asarray(correct, dtype=bool)
    n, k = len(correct), len(classes)
    y = np.arange(n) % k if y is None else np.asarray(y)
    pred = np.where(correct, y, (y + 1) % k)
    probs = np.full((n, k), 0.2 / (k - 1))
    probs[np.arange(n), pred] = 0.8
    ids = ids if ids is not None else [f"S{fold:03d}_{i:03d}" for i in range(n)]
    return predictions_frame(probs, y, ids, classes, dataset=dataset, protocol=protocol, model=model,
                             variant=variant, seed=seed, split=split, fold=fold)
