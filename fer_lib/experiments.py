"""Train and test a model on subject-independent folds (CK+), the same way for every model.

:func:`run_subject_folds` is the one protocol used by notebooks 03 (spatial),
04 (temporal-only) and 05 (hybrid), so their per-fold scores can be paired:

* the folds come from notebook 01 (``ckplus48_folds.csv``), by subject;
* for test fold ``k``, fold ``(k + 1) mod K`` is the **validation** fold (early
  stopping, best epoch) and the other ``K - 2`` folds are the training set, so
  the test fold never influences training or model selection;
* ``mode="frames"`` trains a per-frame classifier on every frame of the
  training clips and predicts a clip by averaging its frames' probabilities
  (the spatial model); ``mode="clips"`` trains and predicts on whole clips
  (temporal and hybrid models).
"""

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import CKPLUS_CLASSES
from .predictions import metrics_table, predictions_frame
from .reproducibility import seed_everything
from .validation import check_option

#: CK+ protocols: all 7 classes, or the 6 basic emotions (contempt removed).
CKPLUS_PROTOCOLS = ("7class", "6class")

#: How a model sees a clip: frame by frame (averaged), or whole.
FOLD_MODES = ("frames", "clips")


def protocol_subset(labels, protocol, class_names=CKPLUS_CLASSES):
    """Select the samples and re-index the labels of a CK+ protocol.

    Parameters
    ----------
    labels : ndarray of shape (n,)
        Indices into ``class_names``.
    protocol : {"7class", "6class"}
        ``"6class"`` drops contempt.
    class_names : sequence of str

    Returns
    -------
    mask : ndarray of shape (n,), bool
        Samples kept.
    labels : ndarray of shape (n_kept,), int64
        Labels re-indexed into the protocol's classes.
    class_names : tuple of str
    """
    check_option("protocol", protocol, CKPLUS_PROTOCOLS)
    labels = np.asarray(labels)
    names = tuple(class_names)
    kept = names if protocol == "7class" else tuple(c for c in names if c != "contempt")
    lookup = np.array([kept.index(c) if c in kept else -1 for c in names])
    new = lookup[labels]
    mask = new >= 0
    return mask, new[mask].astype(np.int64), kept


@dataclass(frozen=True)
class FoldRunResult:
    """Everything a fold run produced.

    Attributes
    ----------
    predictions : DataFrame
        One row per test sample, fold and seed (format of :mod:`fer_lib.predictions`).
    metrics : DataFrame
        Accuracy / macro-F1 per seed and fold, with ``best_epoch`` and ``seconds``.
    histories : DataFrame
        Training history of every fold and seed (``seed``, ``fold`` columns added).
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    histories: pd.DataFrame


def _as_frames(X, y):
    n, t = X.shape[:2]
    return X.reshape(n * t, *X.shape[2:]), np.repeat(y, t)


def run_subject_folds(make_model, X, y, sample_ids, folds, class_names, config, *, mode, seeds=(0,),
                      dataset, protocol, model, variant, fold_subset=None, progress=True):
    """Cross-validate a model over subject-independent folds.

    Parameters
    ----------
    make_model : callable
        ``make_model(n_classes) -> torch.nn.Module``, called once per fold and
        seed after seeding (so a fold's initial weights depend only on the seed).
    X : ndarray of shape (n, T, H, W), uint8
        Clips.
    y : ndarray of shape (n,)
        Labels (indices into ``class_names``).
    sample_ids : array-like of shape (n,)
        Sequence ids.
    folds : ndarray of shape (n,)
        Fold of each clip (from notebook 01).
    class_names : sequence of str
    config : fer_lib.training.TrainConfig
        Training recipe; its ``seed`` is replaced by each seed.
    mode : {"frames", "clips"}
    seeds : sequence of int, default=(0,)
    dataset, protocol, model, variant : str
        Written into the predictions (see :mod:`fer_lib.predictions`).
    fold_subset : sequence of int, optional
        Run only these test folds (for quick looks; reports then cover fewer folds).
    progress : bool, default=True
        A progress bar over folds and seeds.

    Returns
    -------
    FoldRunResult
    """
    from dataclasses import replace

    from tqdm.auto import tqdm

    from .training import predict, train_model

    check_option("mode", mode, FOLD_MODES)
    X, y, folds = np.asarray(X), np.asarray(y), np.asarray(folds)
    sample_ids = np.asarray(sample_ids).astype(str)
    if X.ndim != 4 or X.dtype != np.uint8:
        raise ValueError(f"X must be a uint8 array of shape (n, T, H, W); got {X.dtype} {X.shape}")
    if not len(X) == len(y) == len(folds) == len(sample_ids):
        raise ValueError(
            f"X, y, folds and sample_ids must have the same length; got {len(X)}, {len(y)}, "
            f"{len(folds)}, {len(sample_ids)}"
        )
    fold_ids = sorted(set(folds.tolist()))
    if len(fold_ids) < 3:
        raise ValueError(f"folds must hold at least 3 folds (test, validation, training); got {fold_ids}")
    tests = fold_ids if fold_subset is None else [k for k in fold_ids if k in set(fold_subset)]
    n_classes = len(class_names)
    jobs = [(s, k) for s in seeds for k in tests]
    preds, rows, histories = [], [], []
    bar = tqdm(jobs, desc=f"{model}/{variant} {protocol}", disable=not progress)
    for seed, k in bar:
        val_k = fold_ids[(fold_ids.index(k) + 1) % len(fold_ids)]
        test, val = folds == k, folds == val_k
        train = ~(test | val)
        seed_everything(int(seed))
        net = make_model(n_classes)
        train_xy, val_xy = (X[train], y[train]), (X[val], y[val])
        if mode == "frames":
            train_xy, val_xy = _as_frames(*train_xy), _as_frames(*val_xy)
        t0 = time.perf_counter()
        result = train_model(net, train_xy, val_xy, replace(config, seed=int(seed)), progress=False,
                             class_names=tuple(class_names))
        x_test = X[test]
        if mode == "frames":
            n, t = x_test.shape[:2]
            probs = predict(net, x_test.reshape(n * t, *x_test.shape[2:]), config).reshape(n, t, -1).mean(axis=1)
        else:
            probs = predict(net, x_test, config)
        seconds = time.perf_counter() - t0
        frame = predictions_frame(probs, y[test], sample_ids[test], class_names, dataset=dataset,
                                  protocol=protocol, model=model, variant=variant, seed=seed, split="test",
                                  fold=k)
        preds.append(frame)
        acc = float((frame["y_true"] == frame["y_pred"]).mean())
        rows.append({"seed": int(seed), "fold": int(k), "val_fold": int(val_k), "best_epoch": result.best_epoch,
                     "n_train": int(train.sum()), "n_test": int(test.sum()), "seconds": round(seconds, 2)})
        histories.append(result.history.assign(seed=int(seed), fold=int(k)))
        bar.set_postfix(fold=k, acc=f"{acc:.3f}")
    predictions = pd.concat(preds, ignore_index=True)
    metrics = metrics_table(predictions).merge(pd.DataFrame(rows), on=["seed", "fold"])
    return FoldRunResult(predictions, metrics, pd.concat(histories, ignore_index=True))
