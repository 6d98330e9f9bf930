"""The arms of the pre-registered landmark comparison (``book/protocol.md``): inputs, trainer, fold design.

**Arms** (:data:`ARM_INPUTS`, :func:`arm_inputs`). Every arm feeds the same
network (:class:`fer_lib.models.landmarks.LandmarkGRU`) ``T`` frames of 136
values built from a sequence's resampled onset-to-apex trajectory (shape
``(T, 136)``, :func:`landmark_trajectories`):

============== ======================================================
arm            the ``T`` input frames
============== ======================================================
``trajectory`` the trajectory itself (the motion)
``apex``       the apex (last) frame, repeated ``T`` times
``mean``       the mean of the ``T`` frames, repeated ``T`` times
``two-frame``  the onset frame ``T/2`` times, then the apex ``T/2`` times
============== ======================================================

so the shapes, the network and the number of optimiser updates are the same
in every arm; only what the frames hold differs.

**Trainer** (:func:`train_arm`, :class:`LandmarkRecipe`). The protocol's
recipe: AdamW (learning rate 1e-3, weight decay 1e-4), batch size 32, a fixed
number of epochs (60), plain cross-entropy, no augmentation; after every epoch
the validation accuracy is measured and the weights of the best epoch are kept
(ties: the earliest); the test sequences are predicted once, with those
weights. Everything is a tensor in memory, batches are index slices (no
``DataLoader``), and a run depends only on its data and ``seed``: the seed
fixes the initial weights, the order of the batches and the dropout masks, so
two arms trained with one seed on the same fold start from the same weights
and see the sequences in the same order. The global torch random state is
left as it was.

**Design** (:func:`run_arms`). For each repeat ``r`` the folds are
:func:`fer_lib.data.splits.subject_folds` of the protocol's sequences
(``seed=r``, balanced by label, ordered by sequence id); for each test fold
``k`` the validation fold is ``(k + 1) mod n_folds`` and the other folds train
(:func:`fer_lib.train.folds.fold_masks`); every seed trains every arm on the
same folds with the same recipe. Two controls run through the same code:

* ``labels_shuffled=True`` (negative control): within each run the training
  labels are permuted (a permutation drawn from ``(repeat, fold, seed)``, the
  same for every arm; class counts kept); validation and test labels are intact;
* ``reversed_task=True`` (positive control): every sequence appears twice, as
  recorded (class ``"onset-to-apex"``) and with its frames reversed (class
  ``"apex-to-onset"``); both copies take the fold of their sequence (folds drawn
  exactly as for the primary task, so by subject). The ``mean`` arm is blind to
  order by construction: both copies of a sequence give it the same input (bit
  for bit), so it scores exactly 50% on every test fold. The ``apex`` and ``two-frame`` arms are
  *not* order-free on this task: they see which end of the sequence is neutral.

Predictions follow :mod:`fer_lib.evaluate.predictions` (dataset
:data:`LANDMARK_DATASET`, model :data:`LANDMARK_MODEL`, variant = the arm,
:func:`arm_variant`) with an extra ``repeat`` column, since ``(seed, fold)``
recurs in every repeat; the controls' ``protocol`` carries their task
(:data:`TASKS`, e.g. ``"7class:reversed"``), so that a control's rows never
mix with the primary test's.
"""

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from fer_lib.core.validation import check_fraction, check_option, check_positive_int, check_subset
from fer_lib.data.ckplus import CKPLUS_PROTOCOLS, protocol_subset
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.data.splits import subject_folds
from fer_lib.evaluate.predictions import metrics_table, predictions_frame
from fer_lib.faces.landmarks import normalize_landmarks, trajectory_features
from fer_lib.models.landmarks import LANDMARK_CELLS, build_landmark_model
from fer_lib.train.folds import fold_masks
from fer_lib.train.runtime import cpu_threads

#: The arms of H1: what the network sees at each of its ``T`` steps (see the module docstring).
ARM_INPUTS = ("trajectory", "apex", "mean", "two-frame")

#: ``dataset`` of the predictions of :func:`run_arms`.
LANDMARK_DATASET = "ckplus_landmarks"

#: ``model`` of the predictions of :func:`run_arms`.
LANDMARK_MODEL = "landmarks"

#: Classes of the positive control (:func:`reversed_task_data`): as recorded, and time-reversed.
REVERSED_CLASSES = ("onset-to-apex", "apex-to-onset")

#: Tasks of :func:`run_arms`: the primary test and the two controls. A control's
#: ``protocol`` in the predictions is ``"<protocol>:<task>"``.
TASKS = ("primary", "labels-shuffled", "reversed")

#: Frames per resampled sequence in the protocol (``T``).
PROTOCOL_LENGTH = 16

_SHUFFLE_TAG = 16_001  # random-stream tag of the negative control's label permutations


# --------------------------------------------------------------------------- inputs


def landmark_trajectories(points, length=PROTOCOL_LENGTH):
    """The protocol's trajectories: one similarity per sequence (onset's eyes), resampled to ``length`` frames.

    Parameters
    ----------
    points : CKPlusLandmarkSequences, or list of ndarray of shape (T_i, 68, 2)
        Raw landmark sequences, frames from onset to apex
        (:func:`fer_lib.data.ckplus.load_ckplus_landmark_sequences`).
    length : int, default=16
        Frames after resampling (onset and apex kept).

    Returns
    -------
    ndarray of shape (n, length, 136), float32
        :func:`fer_lib.faces.landmarks.normalize_landmarks` (reference ``"first"``)
        then :func:`fer_lib.faces.landmarks.trajectory_features` (mode ``"trajectory"``).
    """
    seqs = list(getattr(points, "points", points))
    return trajectory_features(normalize_landmarks(seqs, "first"), length=length, mode="trajectory")


def _check_trajectories(name, x, min_frames=1):
    """``x`` as a float32 ndarray of shape (n, T, D), n >= 1, T >= ``min_frames``, finite."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers of shape (n, T, 136)") from None
    if arr.ndim != 3 or len(arr) == 0 or arr.shape[1] < min_frames or arr.shape[2] == 0:
        raise ValueError(f"{name} must have shape (n, T, 136) with n >= 1 and T >= {min_frames}; got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return arr


def arm_inputs(features_trajectory, arm):
    """The ``T`` input frames of one arm, from the resampled trajectories.

    Parameters
    ----------
    features_trajectory : ndarray of shape (n, T, 136)
        Onset-to-apex trajectories (:func:`landmark_trajectories`).
    arm : {"trajectory", "apex", "mean", "two-frame"}
        See :data:`ARM_INPUTS`.

    Returns
    -------
    ndarray of shape (n, T, 136), float32
        ``"trajectory"``: a copy of the input; ``"apex"``: frame ``T - 1`` at
        every step; ``"mean"``: the mean over the ``T`` frames at every step;
        ``"two-frame"``: frame 0 at steps ``0 .. T/2 - 1``, frame ``T - 1`` at
        steps ``T/2 .. T - 1``.

    Raises
    ------
    ValueError
        Unknown ``arm``, a wrong shape, non-finite values, or an odd ``T``
        for ``"two-frame"``.
    """
    check_option("arm", arm, ARM_INPUTS)
    x = _check_trajectories("features_trajectory", features_trajectory, min_frames=2)
    t = x.shape[1]
    if arm == "trajectory":
        out = x.copy()
    elif arm == "apex":
        out = np.repeat(x[:, -1:], t, axis=1)
    elif arm == "mean":
        # summed in sorted order, so that the mean does not depend on the order of the frames even in its last bit
        out = np.repeat(np.sort(x, axis=1).mean(axis=1, dtype=np.float64, keepdims=True), t, axis=1)
    else:  # "two-frame"
        if t % 2:
            raise ValueError(f"the two-frame arm needs an even number of frames T (T/2 onset, T/2 apex); got T={t}")
        out = np.concatenate([np.repeat(x[:, :1], t // 2, axis=1), np.repeat(x[:, -1:], t // 2, axis=1)], axis=1)
    return np.ascontiguousarray(out, dtype=np.float32)


def reversed_task_data(features_trajectory, subjects, sequence_ids):
    """The positive control's samples: every sequence as recorded, then time-reversed.

    Parameters
    ----------
    features_trajectory : ndarray of shape (n, T, D)
    subjects, sequence_ids : array-like of shape (n,)

    Returns
    -------
    X : ndarray of shape (2n, T, D), float32
        The ``n`` sequences as given, then the same ``n`` with the frame order reversed.
    y : ndarray of shape (2n,), int64
        0 (``"onset-to-apex"``) for the first ``n``, 1 (``"apex-to-onset"``) for the others.
    subjects : ndarray of shape (2n,), object
    sample_ids : ndarray of shape (2n,), object
        ``"<sequence id>:onset-to-apex"`` and ``"<sequence id>:apex-to-onset"``.
    origin : ndarray of shape (2n,), int64
        Index of each sample's sequence (``0..n-1`` twice).
    """
    x = _check_trajectories("features_trajectory", features_trajectory)
    n = len(x)
    subjects = np.asarray(subjects, dtype=object)
    ids = np.asarray(sequence_ids, dtype=object)
    if len(subjects) != n or len(ids) != n:
        raise ValueError(f"subjects and sequence_ids must have length {n}; got {len(subjects)} and {len(ids)}")
    X = np.ascontiguousarray(np.concatenate([x, x[:, ::-1]]), dtype=np.float32)
    y = np.repeat(np.arange(2, dtype=np.int64), n)
    sample_ids = np.array([f"{s}:{c}" for c in REVERSED_CLASSES for s in ids], dtype=object)
    return X, y, np.concatenate([subjects, subjects]), sample_ids, np.tile(np.arange(n, dtype=np.int64), 2)


def arm_variant(arm, cell="gru", appearance=False):
    """The ``variant`` of an arm in the predictions.

    Parameters
    ----------
    arm : {"trajectory", "apex", "mean", "two-frame"}
    cell : {"gru", "lstm", "attention"}, default="gru"
    appearance : bool, default=False
        Whether the model has H2's appearance branch.

    Returns
    -------
    str
        The arm (``"trajectory"``), the cell after a slash when it is not the
        protocol's GRU (``"trajectory/lstm"``), then ``"+appearance"`` for H2
        (``"trajectory+appearance"``).
    """
    check_option("arm", arm, ARM_INPUTS)
    check_option("cell", cell, LANDMARK_CELLS)
    return arm + ("" if cell == "gru" else f"/{cell}") + ("+appearance" if appearance else "")


# --------------------------------------------------------------------------- trainer


@dataclass(frozen=True)
class LandmarkRecipe:
    """The protocol's training recipe, the same for every arm.

    Attributes
    ----------
    epochs : int, default=60
        Passes over the training sequences (fixed; the best epoch is selected afterwards).
    batch_size : int, default=32
    lr : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=1e-4
        AdamW (decoupled) weight decay.
    label_smoothing : float, default=0.0
    """

    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0

    def __post_init__(self):
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        check_fraction("weight_decay", self.weight_decay, 0.0, 1.0)
        check_fraction("label_smoothing", self.label_smoothing, 0.0, 1.0)

    def updates(self, n_train):
        """Optimiser updates of a run on ``n_train`` sequences: ``epochs * ceil(n_train / batch_size)``."""
        return self.epochs * -(-int(n_train) // self.batch_size)


#: The recipe of ``book/protocol.md`` (version 1).
PROTOCOL_RECIPE = LandmarkRecipe()


@dataclass(frozen=True, eq=False)
class ArmRun:
    """One training run of :func:`train_arm`.

    Attributes
    ----------
    probs : ndarray of shape (n_test, n_classes), float64
        Test-set class probabilities of the selected epoch's weights.
    best_epoch : int
        Selected epoch, 1-based (the earliest of the best validation accuracies).
    val_accuracy : float
        Validation accuracy of the selected epoch.
    val_history : ndarray of shape (epochs,)
        Validation accuracy after every epoch.
    loss_history : ndarray of shape (epochs,)
        Mean training loss of every epoch (over its batches, weighted by batch size).
    n_updates : int
        Optimiser updates made.
    seconds : float
        Wall time of the run.
    """

    probs: np.ndarray
    best_epoch: int
    val_accuracy: float
    val_history: np.ndarray
    loss_history: np.ndarray
    n_updates: int
    seconds: float


def _tensor_set(name, x, y=None, n_classes=None):
    x = torch.from_numpy(_check_trajectories(name, x))
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels of {name} must be integers of shape ({len(x)},); got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels of {name} must lie in 0..{n_classes - 1} (n_classes={n_classes}); "
                         f"got {y.min()}..{y.max()}")
    return x, torch.from_numpy(y.astype(np.int64))


def _appearance_sets(appearance, sizes):
    if appearance is None:
        return (None, None, None), 0
    if not isinstance(appearance, (tuple, list)) or len(appearance) != 3:
        raise ValueError("appearance must be None or a tuple (train, val, test) of arrays of shape (n, appearance_dim)")
    out = []
    for part, size, a in zip(("train", "val", "test"), sizes, appearance):
        arr = np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float32)
        if arr.ndim != 2 or len(arr) != size or arr.shape[1] == 0 or not np.isfinite(arr).all():
            raise ValueError(f"appearance[{part}] must be finite, of shape ({size}, appearance_dim); got {arr.shape}")
        out.append(torch.from_numpy(np.ascontiguousarray(arr)))
    dims = {a.shape[1] for a in out}
    if len(dims) != 1:
        raise ValueError(f"appearance train, val and test must have one appearance_dim; got {sorted(dims)}")
    return tuple(out), dims.pop()


def train_arm(X_train, y_train, X_val, y_val, X_test, *, n_classes, seed, recipe=PROTOCOL_RECIPE, cell="gru",
              appearance=None, model_kwargs=None):
    """Train the landmark network once and predict the test sequences with the best validation epoch's weights.

    Parameters
    ----------
    X_train, X_val, X_test : ndarray of shape (n_*, T, 136)
        An arm's inputs (:func:`arm_inputs`), float32.
    y_train, y_val : ndarray of shape (n_*,), int
        Class indices.
    n_classes : int
    seed : int
        Fixes the initial weights, the batch order and the dropout masks.
    recipe : LandmarkRecipe, default=PROTOCOL_RECIPE
    cell : {"gru", "lstm", "attention"}, default="gru"
        :data:`fer_lib.models.landmarks.LANDMARK_CELLS`.
    appearance : tuple of 3 ndarray of shape (n_*, appearance_dim), optional
        H2's appearance vectors of the train, val and test sequences; the
        model gets an appearance branch of that size.
    model_kwargs : dict, optional
        Other arguments of :func:`fer_lib.models.landmarks.build_landmark_model`
        (``encoder_dim``, ``hidden_size``, ``dropout``).

    Returns
    -------
    ArmRun

    Raises
    ------
    ValueError
        Inconsistent shapes, labels out of range, an empty set, a bad seed or recipe.
    """
    if not isinstance(recipe, LandmarkRecipe):
        raise ValueError(f"recipe must be a LandmarkRecipe; got {type(recipe).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    xtr, ytr = _tensor_set("X_train", X_train, y_train, n_classes)
    xva, yva = _tensor_set("X_val", X_val, y_val, n_classes)
    xte, _ = _tensor_set("X_test", X_test)
    shapes = {tuple(x.shape[1:]) for x in (xtr, xva, xte)}
    if len(shapes) != 1:
        got = [tuple(x.shape) for x in (xtr, xva, xte)]
        raise ValueError(f"X_train, X_val and X_test must share (T, D); got shapes {got}")
    (atr, ava, ate), appearance_dim = _appearance_sets(appearance, (len(xtr), len(xva), len(xte)))
    kwargs = {**dict(model_kwargs or {}), "cell": cell, "appearance_dim": appearance_dim,
              "input_dim": xtr.shape[2]}
    t0 = time.perf_counter()
    n, bs = len(xtr), recipe.batch_size
    val_history, loss_history = np.zeros(recipe.epochs), np.zeros(recipe.epochs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_landmark_model(n_classes, **kwargs)
        optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        order = torch.Generator().manual_seed(int(seed))
        best_acc, best_epoch, best_state = -1.0, 0, None
        updates = 0
        for epoch in range(recipe.epochs):
            model.train()
            perm = torch.randperm(n, generator=order)
            total = 0.0
            for start in range(0, n, bs):
                idx = perm[start:start + bs]
                logits = model(xtr[idx], None if atr is None else atr[idx])
                loss = F.cross_entropy(logits, ytr[idx], label_smoothing=recipe.label_smoothing)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
                updates += 1
            loss_history[epoch] = total / n
            model.eval()
            with torch.inference_mode():
                acc = float((model(xva, ava).argmax(dim=1) == yva).double().mean())
            val_history[epoch] = acc
            if acc > best_acc:  # strictly better: ties keep the earliest epoch
                best_acc, best_epoch = acc, epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(best_state)
        model.eval()
        with torch.inference_mode():
            probs = torch.softmax(model(xte, ate).double(), dim=1).numpy()
    return ArmRun(probs=probs, best_epoch=best_epoch, val_accuracy=best_acc, val_history=val_history,
                  loss_history=loss_history, n_updates=updates, seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- design


@dataclass(frozen=True, eq=False)
class LandmarkArmRuns:
    """Everything :func:`run_arms` produced.

    Attributes
    ----------
    predictions : DataFrame
        One row per test sample, repeat, fold, seed and arm
        (:mod:`fer_lib.evaluate.predictions` format, plus ``repeat``).
    metrics : DataFrame
        One row per run: :func:`fer_lib.evaluate.predictions.metrics_table`'s
        scores of its test fold, then ``val_fold``, ``best_epoch``,
        ``val_accuracy``, ``val_majority_rate`` and ``test_majority_rate``
        (accuracy of always predicting the training folds' most frequent
        class), ``n_train``, ``n_val``, ``n_test``, ``n_updates``, ``seconds``, ``threads``.
    folds : DataFrame
        The folds used: one row per repeat and sample (``repeat``,
        ``sample_id``, ``sequence_id``, ``subject``, ``label``, ``fold``).
    histories : DataFrame
        Per run and epoch: ``variant``, ``repeat``, ``fold``, ``seed``,
        ``epoch`` (1-based), ``train_loss``, ``val_accuracy``.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    folds: pd.DataFrame
    histories: pd.DataFrame


def _index_list(name, values):
    """``values`` as a tuple of distinct non-negative ints; an int ``k`` means ``range(k)``."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        return tuple(range(check_positive_int(name, values)))
    try:
        out = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be a count or a list of non-negative integers; got {values!r}") from None
    if not out or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in out):
        raise ValueError(f"{name} must be a count or a non-empty list of non-negative integers; got {values!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value; got {list(out)}")
    return tuple(int(v) for v in out)


def run_arms(sequences_features, labels, subjects, arms, *, sequence_ids, protocol, repeats, seeds, n_folds=10,
             epochs=60, labels_shuffled=False, reversed_task=False, class_names=CKPLUS_CLASSES, cell="gru",
             appearance=None, progress=True):
    """Train and test arms on the protocol's repeated subject-independent folds.

    Parameters
    ----------
    sequences_features : ndarray of shape (n, T, 136)
        Onset-to-apex trajectories of all labelled sequences (:func:`landmark_trajectories`).
    labels : ndarray of shape (n,), int
        Indices into ``class_names`` (the CK+ classes); ``protocol`` selects and re-indexes them.
    subjects : array-like of shape (n,)
        Subject of each sequence: folds hold whole subjects.
    arms : sequence of {"trajectory", "apex", "mean", "two-frame"}
        :data:`ARM_INPUTS`, each at most once.
    sequence_ids : array-like of shape (n,)
        Unique ids (``"S005_001"``): the predictions' ``sample_id`` and the folds' order key.
    protocol : {"7class", "6class"}
        :func:`fer_lib.data.ckplus.protocol_subset`.
    repeats : int or sequence of int
        Repeat indices, each the seed of its folds; an int ``k`` means ``0 .. k-1``.
    seeds : int or sequence of int
        Training seeds; an int ``k`` means ``0 .. k-1``.
    n_folds : int, default=10
        At least 3 (test, validation, training) and at most the number of subjects.
    epochs : int, default=60
        Epochs of :class:`LandmarkRecipe`; the rest of the recipe is the protocol's.
    labels_shuffled : bool, default=False
        Negative control: permute the training labels of every run (validation and test labels intact).
    reversed_task : bool, default=False
        Positive control: classify each sequence as recorded vs reversed (:func:`reversed_task_data`).
    class_names : sequence of str, default=CKPLUS_CLASSES
        What ``labels`` index.
    cell : {"gru", "lstm", "attention"}, default="gru"
        Temporal module (secondary analysis 2).
    appearance : ndarray of shape (n, appearance_dim), optional
        H2: one appearance vector per sequence (e.g. the frozen CNN embedding
        of its apex image); every arm then gets the appearance branch.
    progress : bool, default=True
        A tqdm bar over the runs.

    Returns
    -------
    LandmarkArmRuns
        ``predictions`` (dataset ``"ckplus_landmarks"``, model ``"landmarks"``,
        variant :func:`arm_variant`, protocol ``protocol`` or
        ``"<protocol>:<task>"`` for a control, split ``"test"``, ``repeat``),
        ``metrics`` (one row per run), ``folds`` and ``histories``.

    Raises
    ------
    ValueError
        Unknown or repeated arms, unknown protocol or cell, inconsistent
        lengths, repeated sequence ids, labels out of range, too few subjects
        for ``n_folds``, an empty fold, both controls at once.
    """
    arms = check_subset("arms", arms, ARM_INPUTS)
    if not arms or len(set(arms)) != len(arms):
        raise ValueError(f"arms must list each of {list(ARM_INPUTS)} at most once, at least one; got {list(arms)}")
    check_option("protocol", protocol, CKPLUS_PROTOCOLS)
    check_option("cell", cell, LANDMARK_CELLS)
    check_option("labels_shuffled", labels_shuffled, (True, False))
    check_option("reversed_task", reversed_task, (True, False))
    if labels_shuffled and reversed_task:
        raise ValueError("labels_shuffled and reversed_task are two different controls: run them separately")
    repeats, seeds = _index_list("repeats", repeats), _index_list("seeds", seeds)
    n_folds = check_positive_int("n_folds", n_folds, minimum=3)
    recipe = LandmarkRecipe(epochs=check_positive_int("epochs", epochs))
    x = _check_trajectories("sequences_features", sequences_features, min_frames=2)
    n = len(x)
    subjects = np.asarray(subjects, dtype=object)
    ids = np.asarray(sequence_ids, dtype=object)
    labels = np.asarray(labels)
    class_names = tuple(class_names)
    for name, arr in (("labels", labels), ("subjects", subjects), ("sequence_ids", ids)):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like sequences_features; got {arr.shape}")
    if len(set(ids.tolist())) != n:
        raise ValueError("sequence_ids must be unique")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(f"labels must be integers in 0..{len(class_names) - 1} (indices into class_names)")
    if appearance is not None:
        appearance = np.asarray(appearance, dtype=np.float32)
        if appearance.ndim != 2 or len(appearance) != n or appearance.shape[1] == 0:
            raise ValueError(f"appearance must have shape ({n}, appearance_dim); got {appearance.shape}")

    keep, y, names = protocol_subset(labels, protocol, class_names)
    x, subjects, ids = x[keep], subjects[keep], ids[keep]
    appearance = None if appearance is None else appearance[keep]
    n_subjects = len(set(subjects.tolist()))
    if n_subjects < n_folds:
        raise ValueError(f"n_folds={n_folds} needs at least {n_folds} subjects; the {protocol} sequences "
                         f"({len(x)}) come from {n_subjects}")
    task = "reversed" if reversed_task else "labels-shuffled" if labels_shuffled else "primary"
    protocol_label = protocol if task == "primary" else f"{protocol}:{task}"
    if reversed_task:
        x_task, y_task, subj_task, sample_ids, origin = reversed_task_data(x, subjects, ids)
        names = REVERSED_CLASSES
    else:
        x_task, y_task, subj_task, sample_ids, origin = x, y, subjects, ids, np.arange(len(x))
    a_task = None if appearance is None else torch.from_numpy(np.ascontiguousarray(appearance[origin]))
    inputs = {arm: torch.from_numpy(arm_inputs(x_task, arm)) for arm in arms}
    variants = {arm: arm_variant(arm, cell, appearance is not None) for arm in arms}
    threads = cpu_threads()

    bar = None
    if progress:  # imported only when wanted (tqdm.auto warns in notebooks without ipywidgets)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(repeats) * n_folds * len(seeds) * len(arms), desc=f"landmark arms {protocol_label}",
                   unit="run")
    frames, rows, histories, fold_tables = [], [], [], []
    try:
        for r in repeats:
            folds = subject_folds(subjects, y, n_folds=n_folds, seed=r, order_key=ids)
            counts = np.bincount(folds, minlength=n_folds)
            if (counts == 0).any():
                raise ValueError(f"repeat {r}: fold(s) {np.flatnonzero(counts == 0).tolist()} of {n_folds} are empty; "
                                 f"use fewer folds for {n_subjects} subjects")
            folds_task = folds[origin]
            fold_tables.append(pd.DataFrame({"repeat": r, "sample_id": sample_ids.astype(str),
                                             "sequence_id": ids[origin].astype(str),
                                             "subject": subj_task.astype(str), "label": y_task,
                                             "fold": folds_task}))
            for k in range(n_folds):
                test, val, train, val_fold = fold_masks(folds_task, k)
                tr, va, te = (torch.from_numpy(np.flatnonzero(m)) for m in (train, val, test))
                for seed in seeds:
                    y_train = y_task[train]
                    if labels_shuffled:
                        y_train = np.random.default_rng([r, k, seed, _SHUFFLE_TAG]).permutation(y_train)
                    majority = np.bincount(y_train, minlength=len(names)).argmax()
                    for arm in arms:
                        X = inputs[arm]
                        app = None if a_task is None else (a_task[tr], a_task[va], a_task[te])
                        run = train_arm(X[tr], y_train, X[va], y_task[val], X[te], n_classes=len(names), seed=seed,
                                        recipe=recipe, cell=cell, appearance=app)
                        frame = predictions_frame(run.probs, y_task[test], sample_ids[test], names,
                                                  dataset=LANDMARK_DATASET, protocol=protocol_label,
                                                  model=LANDMARK_MODEL, variant=variants[arm], seed=seed,
                                                  split="test", fold=k)
                        frame.insert(frame.columns.get_loc("seed"), "repeat", r)
                        frames.append(frame)
                        rows.append({"variant": variants[arm], "repeat": r, "seed": seed, "fold": k,
                                     "val_fold": val_fold, "best_epoch": run.best_epoch,
                                     "val_accuracy": run.val_accuracy,
                                     "val_majority_rate": float(np.mean(y_task[val] == majority)),
                                     "test_majority_rate": float(np.mean(y_task[test] == majority)),
                                     "n_train": int(train.sum()), "n_val": int(val.sum()), "n_test": int(test.sum()),
                                     "n_updates": run.n_updates, "seconds": run.seconds, "threads": threads})
                        histories.append(pd.DataFrame({"variant": variants[arm], "repeat": r, "fold": k,
                                                       "seed": seed, "epoch": np.arange(1, recipe.epochs + 1),
                                                       "train_loss": run.loss_history,
                                                       "val_accuracy": run.val_history}))
                        if bar is not None:
                            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    predictions = pd.concat(frames, ignore_index=True)
    scores = metrics_table(predictions, by=("dataset", "protocol", "model", "variant", "repeat", "seed", "fold",
                                            "split"))
    metrics = scores.merge(pd.DataFrame(rows), on=["variant", "repeat", "seed", "fold"], how="left",
                           validate="one_to_one")
    return LandmarkArmRuns(predictions=predictions, metrics=metrics,
                           folds=pd.concat(fold_tables, ignore_index=True),
                           histories=pd.concat(histories, ignore_index=True))


def training_check(metrics):
    """The protocol's rule for a run that failed to train: an arm below the majority-class rate on its validation folds.

    Parameters
    ----------
    metrics : DataFrame
        ``LandmarkArmRuns.metrics`` (one row per run, with ``val_accuracy`` and ``val_majority_rate``).

    Returns
    -------
    DataFrame
        One row per ``(protocol, variant)``: ``runs``, ``val_accuracy`` and
        ``val_majority_rate`` averaged over the runs, and ``failed``
        (the mean validation accuracy is below the mean majority-class rate).
        A failure is reported, never fixed silently (``book/protocol.md``).
    """
    missing = sorted({"protocol", "variant", "val_accuracy", "val_majority_rate"} - set(metrics.columns))
    if missing:
        raise ValueError(f"metrics must be the metrics of run_arms; missing the columns {missing}")
    out = metrics.groupby(["protocol", "variant"], sort=True).agg(
        runs=("val_accuracy", "size"), val_accuracy=("val_accuracy", "mean"),
        val_majority_rate=("val_majority_rate", "mean")).reset_index()
    out["failed"] = out["val_accuracy"] < out["val_majority_rate"]
    return out


__all__ = [
    "ARM_INPUTS",
    "LANDMARK_DATASET",
    "LANDMARK_MODEL",
    "PROTOCOL_LENGTH",
    "PROTOCOL_RECIPE",
    "REVERSED_CLASSES",
    "TASKS",
    "ArmRun",
    "LandmarkArmRuns",
    "LandmarkRecipe",
    "arm_inputs",
    "arm_variant",
    "landmark_trajectories",
    "reversed_task_data",
    "run_arms",
    "train_arm",
    "training_check",
]
