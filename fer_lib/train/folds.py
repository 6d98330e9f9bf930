"""Train and test a model on subject-independent folds (CK+), the same way for every model.

:func:`run_subject_folds` is the one fold runner of notebooks 03 (spatial),
04 (temporal-only) and 05 (hybrid), so their per-fold scores can be paired:

* the folds come from notebook 01 (``ckplus48_folds.csv``), by subject;
* for test fold ``k``, fold ``(k + 1) mod K`` is the **validation** fold (early
  stopping, best epoch) and the other ``K - 2`` folds are the training set, so
  the test fold never influences training or model selection
  (:func:`fold_masks`);
* ``mode="frames"`` trains a per-frame classifier on every frame of the
  training clips and predicts a clip by averaging its frames' probabilities
  (the spatial model); ``mode="clips"`` trains and predicts on whole clips
  (temporal and hybrid models);
* optionally, samples that belong to no fold join every training set
  (``extra_train``, e.g. FER-2013 images), and test-only samples with folds
  (:class:`ViewSet`, e.g. the prefixes of full sequences) are predicted by the
  model of their own test fold.
"""

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer_lib.core.reproducibility import seed_everything
from fer_lib.core.validation import check_option
from fer_lib.data.splits import ViewSet
from fer_lib.evaluate.predictions import metrics_table, predictions_frame

#: How a model sees a clip: frame by frame (averaged), or whole.
FOLD_MODES = ("frames", "clips")


@dataclass(frozen=True)
class FoldRunResult:
    """Everything a fold run produced.

    Attributes
    ----------
    predictions : DataFrame
        One row per test sample, fold and seed (format of :mod:`fer_lib.evaluate.predictions`).
    metrics : DataFrame
        Accuracy / macro-F1 per seed, fold, data set and split, with
        ``val_fold``, ``best_epoch``, ``n_train``, ``n_test`` and ``seconds``.
    histories : DataFrame
        Training history of every fold and seed (``seed``, ``fold`` columns added).
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    histories: pd.DataFrame


def _fold_ids(folds):
    """Sorted fold ids; a run needs a test, a validation and at least one training fold."""
    fold_ids = sorted(set(np.asarray(folds).tolist()))
    if len(fold_ids) < 3:
        raise ValueError(f"folds must hold at least 3 folds (test, validation, training); got {fold_ids}")
    return fold_ids


def fold_masks(folds, test_fold):
    """Test, validation and training masks of one fold of :func:`run_subject_folds`.

    Parameters
    ----------
    folds : ndarray of shape (n,)
        Fold of each sample.
    test_fold : int
        One of the folds.

    Returns
    -------
    test, val, train : ndarray of shape (n,), bool
        The validation fold is the next fold id (cyclically) after ``test_fold``.
    val_fold : int
    """
    folds = np.asarray(folds)
    fold_ids = _fold_ids(folds)
    check_option("test_fold", test_fold, fold_ids)
    val_fold = fold_ids[(fold_ids.index(test_fold) + 1) % len(fold_ids)]
    test, val = folds == test_fold, folds == val_fold
    return test, val, ~(test | val), int(val_fold)


def _as_frames(X, y):
    n, t = X.shape[:2]
    return X.reshape(n * t, *X.shape[2:]), np.repeat(y, t)


def run_subject_folds(make_model, X, y, sample_ids, folds, class_names, config, *, mode, seeds=(0,),
                      dataset, protocol, model, variant, test_sets=(), extra_train=None, fold_subset=None,
                      progress=True, prepare=None, on_fold=None):
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
    config : fer_lib.train.config.TrainConfig
        Training recipe; its ``seed`` is replaced by each seed.
    mode : {"frames", "clips"}
        ``"frames"``: a per-frame classifier trained on every frame of the
        training clips, a clip predicted by the mean of its frames'
        probabilities; ``"clips"``: whole clips.
    seeds : sequence of int, default=(0,)
    dataset, protocol, model, variant : str
        Written into the predictions (see :mod:`fer_lib.evaluate.predictions`); those
        of ``X`` have split ``"test"``, those of a test set carry its own
        ``dataset`` and its views' names as ``split``.
    test_sets : sequence of ViewSet, default=()
        Samples that are only ever tested (e.g. the prefixes of full
        sequences): the model of test fold ``k`` predicts the samples of fold
        ``k`` of every view.
    extra_train : (ndarray of shape (m, T, H, W), ndarray of shape (m,)), optional
        Samples added to the training set of every fold (never to validation
        or test), e.g. :func:`fer_lib.faces.sequences.fer_static_clips`.
    fold_subset : sequence of int, optional
        Run only these test folds (for quick looks; reports then cover fewer folds).
    progress : bool, default=True
        A progress bar over folds and seeds.
    prepare : callable, optional
        ``prepare(model, (X_train, y_train), config)``, called on each fold's
        new model before training, with the training inputs exactly as
        ``train_model`` gets them (frames for ``mode="frames"``), e.g. a
        warm-up of the head on frozen CNN features
        (:func:`fer_lib.train.head.head_warmup`). Its time counts in ``seconds``.
    on_fold : callable, optional
        ``on_fold(seed, fold, model, train_result)``, called after each
        fold's predictions (e.g. to keep one fold's model).

    Returns
    -------
    FoldRunResult
        ``metrics`` has one row per seed, fold, data set and split; ``n_train``
        counts training clips, ``extra_train`` included.
    """
    from dataclasses import replace

    from fer_lib.train.loop import train_model
    from fer_lib.train.predict import predict

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
    test_sets = list(test_sets)
    for ts in test_sets:
        if not isinstance(ts, ViewSet):
            raise ValueError(f"test_sets must hold ViewSet objects; got {type(ts).__name__}")
        for name, view in ts.views.items():
            if view.shape[2:] != X.shape[2:]:
                raise ValueError(f"test set {ts.dataset!r} view {name!r} has frames of {view.shape[2:]}, X of "
                                 f"{X.shape[2:]}")
    n_extra = 0
    if extra_train is not None:
        X_extra, y_extra = (np.asarray(a) for a in extra_train)
        if X_extra.shape[1:] != X.shape[1:] or X_extra.dtype != np.uint8 or len(X_extra) != len(y_extra):
            raise ValueError(
                f"extra_train must be (uint8 array of shape (m, {', '.join(map(str, X.shape[1:]))}), labels of "
                f"shape (m,)); got {X_extra.dtype} {X_extra.shape} and {len(y_extra)} labels"
            )
        n_extra = len(y_extra)
    fold_ids = _fold_ids(folds)
    tests = fold_ids if fold_subset is None else [k for k in fold_ids if k in set(fold_subset)]
    n_classes = len(class_names)
    common = {"protocol": protocol, "model": model, "variant": variant}

    def predict_clips(net, x):
        if mode == "frames":
            n, t = x.shape[:2]
            return predict(net, x.reshape(n * t, *x.shape[2:]), config).reshape(n, t, -1).mean(axis=1)
        return predict(net, x, config)

    jobs = [(s, k) for s in seeds for k in tests]
    bar = None
    if progress:  # imported only when wanted (tqdm.auto warns in notebooks without ipywidgets)
        from tqdm.auto import tqdm

        jobs = bar = tqdm(jobs, desc=f"{model}/{variant} {protocol}")
    preds, rows, histories = [], [], []
    for seed, k in jobs:
        test, val, train, val_k = fold_masks(folds, k)
        seed_everything(int(seed))
        net = make_model(n_classes)
        train_xy, val_xy = (X[train], y[train]), (X[val], y[val])
        if extra_train is not None:
            train_xy = (np.concatenate([train_xy[0], X_extra]), np.concatenate([train_xy[1], y_extra]))
        if mode == "frames":
            train_xy, val_xy = _as_frames(*train_xy), _as_frames(*val_xy)
        t0 = time.perf_counter()
        fold_config = replace(config, seed=int(seed))
        if prepare is not None:
            prepare(net, train_xy, fold_config)
        result = train_model(net, train_xy, val_xy, fold_config, progress=False, class_names=tuple(class_names))
        probs = predict_clips(net, X[test])
        seconds = round(time.perf_counter() - t0, 2)
        run = {"seed": int(seed), "fold": int(k), "val_fold": val_k, "best_epoch": result.best_epoch,
               "n_train": int(train.sum()) + n_extra}
        frame = predictions_frame(probs, y[test], sample_ids[test], class_names, dataset=dataset, seed=seed,
                                  split="test", fold=k, **common)
        preds.append(frame)
        rows.append({**run, "dataset": dataset, "split": "test", "n_test": int(test.sum()), "seconds": seconds})
        for ts in test_sets:
            sel = np.asarray(ts.folds) == k
            if not sel.any():
                continue
            for name, view in ts.views.items():
                preds.append(predictions_frame(predict_clips(net, view[sel]), np.asarray(ts.y)[sel],
                                               np.asarray(ts.sample_ids)[sel], class_names, dataset=ts.dataset,
                                               seed=seed, split=name, fold=k, **common))
                rows.append({**run, "dataset": ts.dataset, "split": name, "n_test": int(sel.sum()),
                             "seconds": seconds})
        histories.append(result.history.assign(seed=int(seed), fold=int(k)))
        if bar is not None:
            bar.set_postfix(fold=k, acc=f"{(frame['y_true'] == frame['y_pred']).mean():.3f}")
        if on_fold is not None:
            on_fold(int(seed), int(k), net, result)
    predictions = pd.concat(preds, ignore_index=True)
    metrics = metrics_table(predictions).merge(pd.DataFrame(rows), on=["dataset", "seed", "fold", "split"])
    return FoldRunResult(predictions, metrics, pd.concat(histories, ignore_index=True))
