"""The spatial baseline (notebook 03): FER-2013 seeds, CK+ transfer, cross-data-set evaluation.

Glue between the data loaders, :func:`fer_lib.train.loop.train_model`,
:func:`fer_lib.train.folds.run_subject_folds` and the predictions format of
:mod:`fer_lib.evaluate.predictions`, so that notebook 03 stays a readable story:

* :func:`train_fer2013_seeds` trains one recipe for several seeds on
  FER-2013 *Training*, picks each run's epoch on *PublicTest* (the ``val``
  split of :func:`~fer_lib.train.loop.train_model`) and predicts *PublicTest*
  and *PrivateTest* with the recipe's test-time augmentation;
  :func:`fer_settings` and :func:`train_fer2013_variants` do that for our
  recipe and the seed papers' setting;
  :func:`select_seed` picks the model to ship by **PublicTest** accuracy only
  (*PrivateTest* is reported, never used to choose), :func:`ship_checkpoint`
  copies it;
* :func:`transfer_model` starts a CK+ per-frame classifier from the FER-2013
  checkpoint (feature weights copied, new class head; :func:`load_cnn_init`
  and :func:`cnn_from_init`, which the hybrid of notebook 05 uses too);
  :func:`run_ckplus_spatial` runs the subject-independent folds for each
  protocol and initialisation;
* :func:`cross_dataset_predictions` applies the FER-2013 model to CK+48 clips
  without any CK+ training, on the 6 classes both data sets share
  (:data:`fer_lib.data.constants.CKPLUS_TO_FER2013`);
  :func:`cross_dataset_evaluation` does it as trained and with FER-2013's
  class prior removed, and scores both;
* :func:`metrics_with_run_info` is the ``metrics.csv`` of notebook 03;
* :func:`literature_table` holds the published figures the notebook puts
  beside ours (never measured here).

The notebook's tables, its ``summary.json`` and its closing text are built by
:mod:`fer_lib.experiments.spatial_results`.
"""

import contextlib
import io
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import pandas as pd

from fer_lib.core.reproducibility import seed_everything
from fer_lib.core.validation import check_option, check_positive_int, check_subset
from fer_lib.data.ckplus import CKPLUS_PROTOCOLS, protocol_subset
from fer_lib.data.constants import CKPLUS_TO_FER2013, FER2013_CLASSES
from fer_lib.data.fer2013 import fer2013_split_arrays
from fer_lib.evaluate.predictions import class_names_of, metrics_table, predictions_frame
from fer_lib.faces.preprocessing import FER2013_FACES
from fer_lib.models.init import transfer_model
from fer_lib.train.config import get_recipe
from fer_lib.train.folds import FoldRunResult, run_subject_folds
from fer_lib.train.loop import throughput

__all__ = [
    "without_training_duplicates",
    "CHECKPOINT_NAME",
    "CKPLUS_ANCHORS",
    "CKPLUS_INITS",
    "CROSS_KINDS",
    "CROSS_PROTOCOL",
    "CROSS_SPLIT",
    "PRIOR_CORRECTED_SUFFIX",
    "FER2013_LITERATURE",
    "RUN_INFO_COLUMNS",
    "CrossRuns",
    "FERRuns",
    "FERSetting",
    "SPATIAL_FAMILY",
    "ckplus_model_factory",
    "class_prior",
    "cross_dataset_evaluation",
    "cross_dataset_predictions",
    "duplicate_free_scores",
    "evaluate_predictions",
    "fer_settings",
    "fer_variant",
    "metrics_with_run_info",
    "select_rows",
    "ship_checkpoint",
    "train_fer2013_variants",
    "literature_table",
    "mean_sd",
    "plot_fold_scores",
    "plot_learning_curves",
    "restrict_to_shared_classes",
    "run_ckplus_spatial",
    "seed_summary",
    "select_seed",
    "train_fer2013_seeds",
    "tta_comparison",
]

#: Model family of every prediction this module writes (see :data:`fer_lib.evaluate.predictions.MODEL_FAMILIES`).
SPATIAL_FAMILY = "spatial"

#: Initialisations of the CK+ per-frame classifier: from the FER-2013 model, or random.
CKPLUS_INITS = ("transfer", "scratch")

#: Protocol and split of the cross-data-set evaluation (FER-2013 model on CK+48, no CK+ training).
CROSS_PROTOCOL = "cross:fer2013"
CROSS_SPLIT = "all"

#: Appended to the FER-2013 variant for the cross-data-set predictions with the
#: FER-2013 training prior removed (:func:`cross_dataset_predictions`, ``source_prior``).
PRIOR_CORRECTED_SUFFIX = "-prior-corrected"

#: The two cross-data-set rows of :func:`cross_dataset_evaluation`, in the order
#: they are reported, each with its key in notebook 03's ``summary.json``.
CROSS_KINDS = MappingProxyType({"as trained": "cross_fer2013_to_ckplus48",
                                "FER-2013 prior removed": "cross_fer2013_to_ckplus48_prior_corrected"})

#: Columns of :attr:`FERRuns.runs` and of the CK+ fold metrics joined to ``metrics.csv``
#: (:func:`metrics_with_run_info`): which epoch each run kept and how long it trained.
RUN_INFO_COLUMNS = ("dataset", "protocol", "variant", "seed", "fold", "best_epoch", "seconds")

#: File name of the shipped FER-2013 checkpoint in notebook 03's artefact folder
#: (read by the hybrid, notebook 05, and the video command, notebook 08).
CHECKPOINT_NAME = "spatial_fer2013.pt"

#: Published FER-2013 figures (accuracy in %), for comparison only: none of
#: them is measured by this project. ``protocol`` says on which split each was
#: scored and how the model was chosen, as far as the claim states it.
FER2013_LITERATURE = (
    MappingProxyType({
        "source": "seed paper A (spatial CNN)", "model": "CNN", "accuracy": "80.0",
        "protocol": "claimed; split and model selection not stated in a checkable form",
        "kind": "seed-paper claim",
    }),
    MappingProxyType({
        "source": "seed paper B (comparison table)", "model": "CNN", "accuracy": "85",
        "protocol": "claimed in a table; split and model selection not stated in a checkable form",
        "kind": "seed-paper claim",
    }),
    MappingProxyType({
        "source": "VGG-style CNNs, single model (e.g. Khaireddin & Chen 2021, arXiv:2105.03588)",
        "model": "VGG-style CNN", "accuracy": "72.4-73.3",
        "protocol": "10-crop TTA; the often-quoted 73.28% was scored on PublicTest, another 73.1% picked its "
                    "checkpoint on PrivateTest",
        "kind": "public anchor",
    }),
    MappingProxyType({
        "source": "ResMaskingNet (Pham et al., ICPR 2020)", "model": "ResNet + masking blocks",
        "accuracy": "74.1 (ensemble 76.8)", "protocol": "ImageNet-pretrained; PrivateTest",
        "kind": "public anchor",
    }),
    MappingProxyType({
        "source": "human accuracy (Goodfellow et al. 2013)", "model": "people", "accuracy": "~65",
        "protocol": "small human study on FER-2013 images", "kind": "public anchor",
    }),
    MappingProxyType({
        "source": "mini-Xception (Arriaga et al. 2017)", "model": "mini-Xception", "accuracy": "~66",
        "protocol": "as published", "kind": "public anchor",
    }),
    MappingProxyType({
        "source": "off-the-shelf mini-Xception (`fer` package), issue 4", "model": "mini-Xception",
        "accuracy": "58.4", "protocol": "PrivateTest; measured offline by the project, not by this notebook",
        "kind": "off-the-shelf",
    }),
    MappingProxyType({
        "source": "off-the-shelf face-api.js expression net, issue 4", "model": "face-api.js",
        "accuracy": "57.0", "protocol": "PrivateTest; measured offline by the project, not by this notebook",
        "kind": "off-the-shelf",
    }),
)

#: Off-the-shelf models on CK+48, 6 classes, no CK+ training (issue 4), accuracy in %.
CKPLUS_ANCHORS = MappingProxyType({"mini-Xception (`fer` package)": 68.8, "face-api.js expression net": 88.6})


def literature_table():
    """The published FER-2013 figures of :data:`FER2013_LITERATURE` as a DataFrame (not measured here)."""
    return pd.DataFrame([dict(r) for r in FER2013_LITERATURE],
                        columns=["source", "model", "accuracy", "protocol", "kind"])


def fer_variant(model_name, recipe):
    """Variant name of a FER-2013 spatial model, e.g. ``"vgg-ours"`` (model name, recipe name)."""
    return f"{model_name}-{recipe}"


def mean_sd(values):
    """Mean and sample standard deviation (``ddof=1``; 0 for a single value) of finite values.

    Returns
    -------
    (float, float, int)
        Mean, standard deviation, number of values (NaN, NaN, 0 when empty).
    """
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


# --------------------------------------------------------------------------- FER-2013


@dataclass(frozen=True)
class FERRuns:
    """What :func:`train_fer2013_seeds` returns.

    Attributes
    ----------
    predictions : DataFrame
        PublicTest and PrivateTest predictions of every seed (format of :mod:`fer_lib.evaluate.predictions`).
    histories : DataFrame
        Training history of every seed (columns of :data:`fer_lib.train.loop.HISTORY_COLUMNS`
        plus ``dataset``, ``protocol``, ``model``, ``variant``, ``seed``, ``fold``).
    runs : DataFrame
        One row per seed: ``variant``, ``seed``, ``checkpoint``, ``best_epoch``,
        ``epochs_run``, ``stop_reason``, ``completed``, ``train_seconds`` (sum
        of the epochs' times of the history, over every call of a resumed run),
        ``predict_seconds``, ``images_per_s``, ``reused``.
    """

    predictions: pd.DataFrame
    histories: pd.DataFrame
    runs: pd.DataFrame


def train_fer2013_seeds(fer, model_name, config, seeds, out_dir, *, recipe_name, model_kwargs=None,
                        resume=False, progress=False):
    """Train one FER-2013 recipe for several seeds; predict PublicTest and PrivateTest.

    Parameters
    ----------
    fer : fer_lib.data.fer2013.FER2013Data
        With the canonical splits (see :func:`fer2013_split_arrays`).
    model_name : str
        :data:`fer_lib.models.cnn.MODEL_NAMES`.
    config : fer_lib.train.config.TrainConfig
        The recipe; its ``seed`` is replaced by each seed, its ``dropout`` is
        the model's, its ``tta`` is used for the predictions.
    seeds : sequence of int
    out_dir : path-like
        Each seed writes ``best.pt``, ``last.pt`` and ``history.csv`` to
        ``<out_dir>/<variant>/seed<seed>/``.
    recipe_name : str
        Name of the recipe, for the variant name (:func:`fer_variant`).
    model_kwargs : dict, optional
        Architecture arguments of :func:`fer_lib.models.cnn.build_model` (e.g. ``{"width": 16}``).
    resume : bool, default=False
        Continue (or reuse) a run from its ``last.pt``; otherwise the seed's
        folder is emptied first and the run starts afresh.
    progress : bool, default=False
        tqdm bars of :func:`~fer_lib.train.loop.train_model`.

    Returns
    -------
    FERRuns
    """
    from fer_lib.models.cnn import build_model
    from fer_lib.train.loop import train_model
    from fer_lib.train.predict import predict

    seeds = [check_positive_int("seed", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed; got []")
    splits = fer2013_split_arrays(fer)
    X_tr, y_tr, _ = splits["Training"]
    X_pub, y_pub, _ = splits["PublicTest"]
    variant = fer_variant(model_name, recipe_name)
    frames, histories, runs = [], [], []
    for seed in seeds:
        run_dir = Path(out_dir) / variant / f"seed{seed}"
        reused = bool(resume and (run_dir / "last.pt").exists())
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir)
        cfg = replace(config, seed=int(seed))
        seed_everything(int(seed))
        model = build_model(model_name, len(fer.class_names), dropout=cfg.dropout, **dict(model_kwargs or {}))
        result = train_model(model, (X_tr, y_tr), (X_pub, y_pub), cfg, out_dir=run_dir, progress=progress,
                             resume=resume, class_names=fer.class_names, preprocessing=FER2013_FACES)
        t0 = time.perf_counter()
        for split in ("PublicTest", "PrivateTest"):
            X, y, ids = splits[split]
            probs = predict(model, X, cfg)
            frames.append(predictions_frame(probs, y, ids, fer.class_names, dataset="fer2013",
                                            protocol="canonical", model=SPATIAL_FAMILY, variant=variant,
                                            seed=seed, split=split, fold=-1))
        predict_seconds = time.perf_counter() - t0
        histories.append(result.history.assign(dataset="fer2013", protocol="canonical", model=SPATIAL_FAMILY,
                                               variant=variant, seed=int(seed), fold=-1))
        runs.append({
            "variant": variant, "seed": int(seed), "checkpoint": str(result.checkpoint_path),
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "stop_reason": result.stop_reason,
            "completed": result.completed,
            # the epochs' own times: a run resumed over several calls counts every call's epochs
            "train_seconds": round(float(result.history["seconds"].sum()), 2),
            "predict_seconds": round(predict_seconds, 2), "images_per_s": throughput(result.history),
            "reused": reused,
        })
    return FERRuns(pd.concat(frames, ignore_index=True), pd.concat(histories, ignore_index=True),
                   pd.DataFrame(runs))


class FERSetting(NamedTuple):
    """One FER-2013 variant to train (a value of :func:`fer_settings`).

    Attributes
    ----------
    recipe : str
        Name of the recipe (``fer_lib.train.config.RECIPES``), part of the variant name.
    config : fer_lib.train.config.TrainConfig
    seeds : list of int
    """

    recipe: str
    config: object
    seeds: list


def fer_settings(model_name, recipe, config, seeds, *, paper=True, paper_epochs=None, paper_seeds=(0,)):
    """The FER-2013 variants of notebook 03: one recipe, and optionally the seed papers' setting.

    Parameters
    ----------
    model_name : str
        The CNN (:data:`fer_lib.models.cnn.MODEL_NAMES`), part of each variant name.
    recipe : str
        Name of ``config``'s recipe.
    config : fer_lib.train.config.TrainConfig
        The main recipe, with the notebook's overrides applied.
    seeds : sequence of int
        Seeds of the main recipe.
    paper : bool, default=True
        Also train the seed papers' setting: recipe ``"paper"`` (dropout 0.5,
        Adam 1e-4, batch 32).
    paper_epochs : int, optional
        Epochs of the paper setting; None: the recipe's own.
    paper_seeds : sequence of int, default=(0,)

    Returns
    -------
    dict of str to FERSetting
        ``{variant: FERSetting}``, the main recipe first (its variant is
        ``fer_variant(model_name, recipe)``).

    Raises
    ------
    ValueError
        When a seed list is empty or negative, or when ``recipe="paper"``
        with ``paper=True`` (the same variant twice).
    """
    seeds = [check_positive_int("seeds", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed; got []")
    settings = {fer_variant(model_name, recipe): FERSetting(recipe, config, seeds)}
    if paper:
        if recipe == "paper":
            raise ValueError("recipe='paper' with paper=True would train the variant "
                             f"{fer_variant(model_name, 'paper')!r} twice; set paper=False (paper_recipe=False)")
        paper_seeds = [check_positive_int("paper_seeds", s, minimum=0) for s in paper_seeds]
        if not paper_seeds:
            raise ValueError("paper_seeds must name at least one seed when paper=True; got []")
        paper_config = get_recipe("paper", **({} if paper_epochs is None else {"epochs": paper_epochs}))
        settings[fer_variant(model_name, "paper")] = FERSetting("paper", paper_config, paper_seeds)
    return settings


def train_fer2013_variants(fer, model_name, settings, out_dir, *, model_kwargs=None, resume=False,
                           progress=False, log=None):
    """:func:`train_fer2013_seeds` for every variant of :func:`fer_settings`, in one :class:`FERRuns`.

    Parameters
    ----------
    fer : fer_lib.data.fer2013.FER2013Data
    model_name : str
    settings : mapping of str to FERSetting
        From :func:`fer_settings`.
    out_dir : path-like
        Checkpoints go to ``<out_dir>/<variant>/seed<seed>/``.
    model_kwargs : dict, optional
    resume, progress : bool, default=False
        See :func:`train_fer2013_seeds`.
    log : callable, optional
        Called with one line per variant (its seeds and wall time) and, when
        ``resume`` reused finished runs, one line naming them; None: silent.

    Returns
    -------
    FERRuns
        The variants' tables concatenated, in the order of ``settings``.
    """
    if not settings:
        raise ValueError("settings must hold at least one variant (see fer_settings); got none")
    parts = []
    for variant, (recipe_name, config, seeds) in settings.items():
        t0 = time.perf_counter()
        parts.append(train_fer2013_seeds(fer, model_name, config, seeds, out_dir, recipe_name=recipe_name,
                                         model_kwargs=model_kwargs, resume=resume, progress=progress))
        if log is not None:
            log(f"{variant}: {len(seeds)} seed(s) in {time.perf_counter() - t0:.1f} s")
    runs = FERRuns(*(pd.concat([getattr(r, f) for r in parts], ignore_index=True)
                     for f in ("predictions", "histories", "runs")))
    if log is not None and runs.runs["reused"].any():
        reused = runs.runs.loc[runs.runs["reused"], ["variant", "seed"]].to_dict(orient="records")
        log(f"reused from an earlier run's last.pt (resume=True): {reused}")
    return runs


def select_rows(frame, variant, seed, split=None):
    """The rows of one FER-2013 run (``variant``, ``seed``) of a predictions, metrics or runs table.

    Parameters
    ----------
    frame : DataFrame
        With columns ``variant`` and ``seed`` (and ``split`` when ``split`` is given).
    variant : str
    seed : int
    split : str, optional
        Keep this split only (e.g. ``"PrivateTest"``).

    Returns
    -------
    DataFrame
    """
    keep = (frame["variant"] == variant) & (frame["seed"] == seed)
    if split is not None:
        keep &= frame["split"] == split
    return frame[keep]


def ship_checkpoint(runs, variant, seed, path):
    """Copy the ``best.pt`` of one FER-2013 run to ``path`` (the shipped model, :data:`CHECKPOINT_NAME`).

    Parameters
    ----------
    runs : DataFrame
        :attr:`FERRuns.runs`.
    variant : str
    seed : int
        Normally :func:`select_seed`'s choice.
    path : path-like
        Destination; its folder is created.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        When ``runs`` does not hold exactly one run of ``variant`` and ``seed``.
    """
    rows = select_rows(runs, variant, seed)
    if len(rows) != 1:
        have = runs[["variant", "seed"]].to_dict(orient="records")
        raise ValueError(f"runs must hold exactly one run of variant {variant!r} and seed {seed}; "
                         f"found {len(rows)} among {have}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rows.iloc[0]["checkpoint"], path)
    return path


def evaluate_predictions(predictions, class_names=None):
    """:func:`fer_lib.train.predict.evaluate` of a predictions table (its ``prob_<class>`` and ``y_true``).

    Parameters
    ----------
    predictions : DataFrame
        One test set (format of :mod:`fer_lib.evaluate.predictions`).
    class_names : sequence of str, optional
        Default: the table's own (:func:`fer_lib.evaluate.predictions.class_names_of`).

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``n``, ``per_class``, ``confusion_matrix``, ``class_names``.
    """
    from fer_lib.train.predict import evaluate

    names = class_names_of(predictions) if class_names is None else tuple(class_names)
    missing = [f"prob_{c}" for c in names if f"prob_{c}" not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack the probability columns {missing} of class_names {list(names)}")
    return evaluate(predictions[[f"prob_{c}" for c in names]].to_numpy(), predictions["y_true"].to_numpy(), names)


def tta_comparison(model, X, y, modes, config=None):
    """Accuracy of one model under each test-time augmentation mode (for choosing it on PublicTest).

    Parameters
    ----------
    model : torch.nn.Module
        A trained model (from :func:`fer_lib.models.checkpoint.load_checkpoint`).
    X : ndarray of shape (n, 48, 48), uint8
        Validation images (PublicTest for FER-2013; never the test split).
    y : ndarray of shape (n,), int
    modes : sequence of str
        Modes of :data:`fer_lib.train.augment.TTA_MODES`.
    config : fer_lib.train.config.TrainConfig, optional
        Device and batch size of the predictions.

    Returns
    -------
    DataFrame
        One row per mode: ``tta``, ``views``, ``accuracy``, ``macro_f1``,
        ``seconds`` (wall time of the predictions).
    """
    from fer_lib.train.augment import TTA_MODES, tta_views
    from fer_lib.train.predict import evaluate, predict

    modes = list(modes)
    if not modes:
        raise ValueError(f"modes must name at least one of {list(TTA_MODES)}; got []")
    for mode in modes:
        check_option("modes", mode, TTA_MODES)
    import torch

    rows = []
    for mode in modes:
        t0 = time.perf_counter()
        scores = evaluate(predict(model, X, config, tta=mode), y)
        rows.append({"tta": mode, "views": int(tta_views(torch.zeros(1, 1, 8, 8), mode).shape[0]),
                     "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
                     "seconds": round(time.perf_counter() - t0, 1)})
    return pd.DataFrame(rows)


def without_training_duplicates(predictions, pairs, train_split="Training"):
    """Drop test predictions whose image has an exact or near duplicate in the training split.

    Parameters
    ----------
    predictions : DataFrame
        FER-2013 predictions (format of :mod:`fer_lib.evaluate.predictions`; ``sample_id``
        is the image's row in the loaded data, as :func:`fer2013_split_arrays` gives).
    pairs : DataFrame
        Duplicate pairs of :func:`fer_lib.data.audit.find_duplicates` (notebook 01's
        ``fer2013_duplicates.csv``): columns ``i, j, group_i, group_j``.
    train_split : str, default="Training"

    Returns
    -------
    DataFrame
        The rows of ``predictions`` whose image has no duplicate in ``train_split``.

    Raises
    ------
    ValueError
        If ``pairs`` lacks one of the columns ``i, j, group_i, group_j``.
    """
    missing = [c for c in ("i", "j", "group_i", "group_j") if c not in pairs.columns]
    if missing:
        raise ValueError(f"pairs must have the columns i, j, group_i, group_j of audit.find_duplicates; "
                         f"missing {missing}")
    in_i, in_j = pairs["group_i"] == train_split, pairs["group_j"] == train_split
    leaked = set(pairs.loc[in_j & ~in_i, "i"].astype(str)) | set(pairs.loc[in_i & ~in_j, "j"].astype(str))
    keep = ~predictions["sample_id"].astype(str).isin(leaked) | (predictions["split"] == train_split)
    return predictions[keep]


def duplicate_free_scores(predictions, pairs, class_names=None, train_split="Training"):
    """Accuracy and macro-F1 of test predictions without the images duplicated in the training split.

    Parameters
    ----------
    predictions : DataFrame
        One model's predictions on one test split (e.g. the shipped model on PrivateTest).
    pairs : DataFrame
        Notebook 01's ``fer2013_duplicates.csv`` (see :func:`without_training_duplicates`).
    class_names : sequence of str, optional
        Default: the table's own.
    train_split : str, default="Training"

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``n`` (images kept) and ``n_removed``.
    """
    clean = without_training_duplicates(predictions, pairs, train_split)
    if clean.empty:
        raise ValueError(f"every one of the {len(predictions)} predictions has a duplicate in {train_split!r}: "
                         "nothing left to score")
    scores = evaluate_predictions(clean, class_names)
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "n": scores["n"],
            "n_removed": int(len(predictions) - len(clean))}


def metrics_with_run_info(predictions, fer_runs, ck_metrics=None):
    """Notebook 03's ``metrics.csv``: :func:`~fer_lib.evaluate.predictions.metrics_table` with each run's kept epoch
    and training time.

    Parameters
    ----------
    predictions : DataFrame
        Every prediction of the notebook (FER-2013, CK+ folds, cross-data-set).
    fer_runs : DataFrame
        :attr:`FERRuns.runs` (its ``train_seconds`` become ``seconds``).
    ck_metrics : DataFrame, optional
        ``metrics`` of :func:`run_ckplus_spatial` (columns ``protocol``,
        ``variant``, ``seed``, ``fold``, ``best_epoch``, ``seconds``).

    Returns
    -------
    DataFrame
        One row per ``(dataset, protocol, model, variant, seed, fold, split)``
        with ``best_epoch`` and ``seconds`` (NaN for rows without a training
        run of their own, e.g. the cross-data-set rows).
    """
    cols = list(RUN_INFO_COLUMNS)
    info = [fer_runs.assign(dataset="fer2013", protocol="canonical", fold=-1)
            .rename(columns={"train_seconds": "seconds"})[cols]]
    if ck_metrics is not None:
        info.append(ck_metrics.assign(dataset="ckplus48")[cols])
    return metrics_table(predictions).merge(pd.concat(info, ignore_index=True), on=cols[:5], how="left")


def select_seed(metrics, variant, split="PublicTest"):
    """The seed to ship: highest accuracy on the selection split (ties: lowest seed).

    Parameters
    ----------
    metrics : DataFrame
        :func:`~fer_lib.evaluate.predictions.metrics_table` of FER-2013 predictions.
    variant : str
    split : {"PublicTest"}, default="PublicTest"
        Only the selection split is accepted: choosing on PrivateTest would
        make its score optimistic.

    Returns
    -------
    int
    """
    check_option("split", split, ("PublicTest",))
    rows = metrics[(metrics["variant"] == variant) & (metrics["split"] == split)]
    if rows.empty:
        raise ValueError(f"no {split} metrics for variant {variant!r}; have {sorted(metrics['variant'].unique())}")
    rows = rows.sort_values(["accuracy", "seed"], ascending=[False, True])
    return int(rows.iloc[0]["seed"])


def seed_summary(metrics, split="PrivateTest"):
    """Accuracy and macro-F1 per variant on one split: mean, sd (ddof=1), min, max over seeds.

    Returns
    -------
    DataFrame
        Indexed by variant; accuracies as fractions.
    """
    rows = []
    part = metrics[metrics["split"] == split]
    for variant, g in part.groupby("variant", sort=False):
        acc, acc_sd, n = mean_sd(g["accuracy"])
        f1, f1_sd, _ = mean_sd(g["macro_f1"])
        rows.append({"variant": variant, "split": split, "seeds": n, "accuracy_mean": acc, "accuracy_sd": acc_sd,
                     "accuracy_min": float(g["accuracy"].min()), "accuracy_max": float(g["accuracy"].max()),
                     "macro_f1_mean": f1, "macro_f1_sd": f1_sd})
    return pd.DataFrame(rows).set_index("variant")


# --------------------------------------------------------------------------- CK+


def ckplus_model_factory(init, *, model_name, model_kwargs=None, checkpoint=None, dropout=0.5):
    """``make_model(n_classes)`` for :func:`fer_lib.train.folds.run_subject_folds`.

    Parameters
    ----------
    init : {"transfer", "scratch"}
        ``"transfer"``: :func:`transfer_model` from ``checkpoint``;
        ``"scratch"``: a randomly initialised ``model_name``.
    model_name : str
        Architecture for ``"scratch"``; must be the checkpoint's for
        ``"transfer"`` (so that the two initialisations are comparable).
    model_kwargs : dict, optional
    checkpoint : path-like, optional
        Needed for ``"transfer"``.
    dropout : float, default=0.5
    """
    from fer_lib.models.cnn import build_model

    check_option("init", init, CKPLUS_INITS)
    kwargs = dict(model_kwargs or {})
    if init == "transfer":
        if checkpoint is None:
            raise ValueError("init='transfer' needs the FER-2013 checkpoint; got checkpoint=None")
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"FER-2013 checkpoint not found: {checkpoint}")
        return lambda n_classes: transfer_model(checkpoint, n_classes, dropout=dropout)
    return lambda n_classes: build_model(model_name, n_classes, dropout=dropout, **kwargs)


def run_ckplus_spatial(ck48, folds, config, *, model_name, model_kwargs=None, checkpoint=None,
                       protocols=CKPLUS_PROTOCOLS, inits=CKPLUS_INITS, seeds=(0,), fold_subset=None,
                       prepare=None, progress=False, quiet=True):
    """The spatial per-frame classifier on the CK+48 subject folds, per protocol and initialisation.

    Each ``(protocol, init)`` is one :func:`fer_lib.train.folds.run_subject_folds`
    call with ``mode="frames"`` (train on every frame of the training clips,
    predict a clip by averaging its frames' probabilities), ``model="spatial"``
    and ``variant=init``.

    Parameters
    ----------
    ck48 : fer_lib.data.ckplus.CKPlus48Data
    folds : ndarray of shape (n_clips,)
        From :func:`fer_lib.data.splits.sample_folds`.
    config : fer_lib.train.config.TrainConfig
    model_name, model_kwargs, checkpoint
        See :func:`ckplus_model_factory`.
    protocols : sequence of {"7class", "6class"}
    inits : sequence of {"transfer", "scratch"}
    seeds : sequence of int
    fold_subset : sequence of int, optional
    prepare : callable, optional
        ``prepare(model, (X_train, y_train), config)`` called on each fold's
        model before training, e.g. :func:`fer_lib.train.head.head_warmup` (the
        warm-up notebook 05 gives the hybrid and its matched spatial control,
        so that both families start fine-tuning from a trained head).
    progress : bool, default=False
    quiet : bool, default=True
        Swallow the per-run ``seed_everything`` lines printed to stdout
        (two per fold and seed); warnings still show.

    Returns
    -------
    FoldRunResult
        ``metrics`` and ``histories`` carry ``protocol`` and ``variant`` columns.
    """
    check_subset("protocols", protocols, CKPLUS_PROTOCOLS)
    check_subset("inits", inits, CKPLUS_INITS)
    preds, metrics, histories = [], [], []
    for protocol in protocols:
        mask, y, names = protocol_subset(ck48.labels, protocol, ck48.class_names)
        for init in inits:
            make = ckplus_model_factory(init, model_name=model_name, model_kwargs=model_kwargs,
                                        checkpoint=checkpoint, dropout=config.dropout)
            sink = io.StringIO() if quiet else None
            with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext(), \
                    warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto without ipywidgets
                res = run_subject_folds(make, ck48.clips[mask], y, np.asarray(ck48.sequence_ids)[mask],
                                        np.asarray(folds)[mask], names, config, mode="frames", seeds=seeds,
                                        dataset="ckplus48", protocol=protocol, model=SPATIAL_FAMILY,
                                        variant=init, fold_subset=fold_subset, prepare=prepare,
                                        progress=progress)
            preds.append(res.predictions)
            metrics.append(res.metrics)
            histories.append(res.histories.assign(dataset="ckplus48", protocol=protocol, model=SPATIAL_FAMILY,
                                                  variant=init))
    return FoldRunResult(pd.concat(preds, ignore_index=True), pd.concat(metrics, ignore_index=True),
                         pd.concat(histories, ignore_index=True))


# --------------------------------------------------------------------------- cross-data-set


def class_prior(labels, n_classes):
    """Relative frequency of each class among integer labels.

    Parameters
    ----------
    labels : array-like of int of shape (n,)
        Class indices in ``[0, n_classes)``.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes,)
        Frequencies summing to 1 (0 for a class without samples).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d array of class indices; got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be integers in [0, {n_classes}); got values in "
                         f"[{labels.min()}, {labels.max()}] of dtype {labels.dtype}")
    return np.bincount(labels, minlength=n_classes) / labels.size


def restrict_to_shared_classes(probs, source_classes=FER2013_CLASSES, target_classes=None,
                               mapping=CKPLUS_TO_FER2013, source_prior=None):
    """Probabilities over the target classes that a source model also knows, renormalised.

    Parameters
    ----------
    probs : ndarray of shape (..., len(source_classes))
        The source model's probabilities (e.g. FER-2013's 7 classes).
    source_classes : sequence of str
    target_classes : sequence of str, optional
        Target classes in output order; default: the keys of ``mapping``
        (CK+'s 6 basic emotions). Each must be a key of ``mapping``.
    mapping : mapping of str to str
        Target class -> source class.
    source_prior : array-like of shape (len(source_classes),), optional
        Class frequencies of the source model's training data. When given,
        the probabilities are divided by them before renormalising: the
        label-shift correction ``p_t(y|x) ∝ p_s(y|x) / π_s(y)`` for a target
        data set whose classes are taken as equally likely (Saerens et al.,
        2002). It needs no target label and has no parameter to tune; it
        undoes a source model's bias against its rare classes (FER-2013's
        *disgust* is 1.5% of Training, CK+48's 19%). Every shared class must
        have a positive frequency.

    Returns
    -------
    ndarray of shape (..., len(target_classes))
        ``p(target | one of the shared classes)``: the source columns of the
        shared classes (divided by ``source_prior`` if given), divided by
        their sum (uniform where that sum is 0).
    """
    targets = tuple(mapping) if target_classes is None else tuple(target_classes)
    unknown = [t for t in targets if t not in mapping]
    if unknown:
        raise ValueError(f"target classes {unknown} have no counterpart in the mapping {dict(mapping)}")
    src = tuple(source_classes)
    absent = [mapping[t] for t in targets if mapping[t] not in src]
    if absent:
        raise ValueError(f"mapped classes {absent} are not among the source classes {list(src)}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[-1] != len(src):
        raise ValueError(f"probs must have {len(src)} columns (one per source class); got shape {probs.shape}")
    columns = [src.index(mapping[t]) for t in targets]
    shared = probs[..., columns]
    if source_prior is not None:
        prior = np.asarray(source_prior, dtype=np.float64)
        if prior.shape != (len(src),):
            raise ValueError(f"source_prior must have shape ({len(src)},) (one frequency per source class); "
                             f"got shape {prior.shape}")
        if not np.all(np.isfinite(prior[columns])) or np.any(prior[columns] <= 0):
            raise ValueError("source_prior must be positive and finite on the shared classes "
                             f"{[mapping[t] for t in targets]}; got {prior[columns].tolist()}")
        shared = shared / prior[columns]
    total = shared.sum(axis=-1, keepdims=True)
    uniform = np.full_like(shared, 1.0 / len(targets))
    return np.where(total > 0, shared / np.where(total > 0, total, 1.0), uniform)


def cross_dataset_predictions(model, ck48, *, config=None, seed, variant, mapping=CKPLUS_TO_FER2013,
                              source_classes=None, source_prior=None):
    """The FER-2013 model on CK+48 clips without CK+ training, on the shared classes.

    Every frame is classified by the FER-2013 model; its probabilities are
    restricted to the FER-2013 classes that have a CK+ counterpart and
    renormalised (:func:`restrict_to_shared_classes`), then averaged over the
    clip's frames (as the spatial model predicts a clip). Clips of classes
    without a counterpart (contempt) are left out.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`fer_lib.models.checkpoint.load_checkpoint` (carries its preprocessing).
    ck48 : fer_lib.data.ckplus.CKPlus48Data
    config : TrainConfig, optional
        Batch size, TTA and device of the prediction (:func:`fer_lib.train.predict.predict`).
    seed : int
        The FER-2013 model's seed (written into the predictions).
    variant : str
        The FER-2013 model's variant (e.g. ``"vgg-ours"``).
    mapping : mapping of str to str, default=CKPLUS_TO_FER2013
    source_classes : sequence of str, optional
        The model's classes; default ``model.fer_preprocessing["class_names"]``.
    source_prior : array-like of shape (len(source_classes),), optional
        Class frequencies of the model's training data (:func:`class_prior`):
        each frame's probabilities are divided by them before they are
        restricted (see :func:`restrict_to_shared_classes`), and
        :data:`PRIOR_CORRECTED_SUFFIX` is appended to ``variant``.

    Returns
    -------
    DataFrame
        Predictions with ``dataset="ckplus48"``, ``protocol="cross:fer2013"``,
        ``split="all"``, ``fold=-1`` and the CK+ classes of ``mapping`` (in
        CK+ order) as classes.
    """
    from fer_lib.train.predict import predict

    if source_classes is None:
        source_classes = getattr(model, "fer_preprocessing", {}).get("class_names", FER2013_CLASSES)
    targets = tuple(c for c in ck48.class_names if c in mapping)
    keep = np.isin(np.asarray(ck48.labels), [ck48.class_names.index(c) for c in targets])
    clips = ck48.clips[keep]
    y = np.array([targets.index(ck48.class_names[k]) for k in np.asarray(ck48.labels)[keep]], dtype=np.int64)
    n, t = clips.shape[:2]
    frame_probs = predict(model, clips.reshape(n * t, *clips.shape[2:]), config)
    shared = restrict_to_shared_classes(frame_probs, source_classes, targets, mapping, source_prior=source_prior)
    probs = shared.reshape(n, t, -1).mean(axis=1)
    if source_prior is not None:
        variant = f"{variant}{PRIOR_CORRECTED_SUFFIX}"
    return predictions_frame(probs, y, np.asarray(ck48.sequence_ids)[keep], targets, dataset="ckplus48",
                             protocol=CROSS_PROTOCOL, model=SPATIAL_FAMILY, variant=variant, seed=seed,
                             split=CROSS_SPLIT, fold=-1)


@dataclass(frozen=True)
class CrossRuns:
    """What :func:`cross_dataset_evaluation` returns: one FER-2013 model on CK+48, per kind of row.

    Attributes
    ----------
    predictions : mapping of str to DataFrame
        ``{kind: predictions}`` for each kind of :data:`CROSS_KINDS`.
    evaluations : mapping of str to dict
        ``{kind: evaluate(...)}`` (:func:`evaluate_predictions`).
    priors : mapping of str to ndarray or None
        The source prior each kind removed (None: as trained).
    class_names : tuple of str
        The CK+ classes scored (those with a FER-2013 counterpart).
    source_classes : tuple of str
        The FER-2013 model's classes (the order of the priors).
    variant : str
        The FER-2013 model's variant.
    seed : int
        The FER-2013 model's seed.
    """

    predictions: MappingProxyType
    evaluations: MappingProxyType
    priors: MappingProxyType
    class_names: tuple
    source_classes: tuple
    variant: str
    seed: int

    @property
    def frame(self):
        """Every kind's predictions in one table (for ``predictions.parquet``)."""
        return pd.concat(list(self.predictions.values()), ignore_index=True)


def cross_dataset_evaluation(model, ck48, *, config=None, seed, variant, source_prior, source_classes=None):
    """:func:`cross_dataset_predictions` as trained and with the source prior removed, each scored.

    Parameters
    ----------
    model : torch.nn.Module
        The FER-2013 model (:func:`fer_lib.models.checkpoint.load_checkpoint`).
    ck48 : fer_lib.data.ckplus.CKPlus48Data
    config : TrainConfig, optional
    seed : int
    variant : str
    source_prior : array-like of shape (len(source_classes),)
        Class frequencies of FER-2013 *Training* (:func:`class_prior`), removed
        in the second kind of :data:`CROSS_KINDS`.
    source_classes : sequence of str, optional
        The model's classes; default ``model.fer_preprocessing["class_names"]``
        (else the FER-2013 classes).

    Returns
    -------
    CrossRuns
    """
    if source_classes is None:
        source_classes = getattr(model, "fer_preprocessing", {}).get("class_names", FER2013_CLASSES)
    source_classes = tuple(source_classes)
    prior = np.asarray(source_prior, dtype=np.float64)
    if prior.shape != (len(source_classes),):
        raise ValueError(f"source_prior must have shape ({len(source_classes)},) (one frequency per class of "
                         f"{list(source_classes)}); got shape {prior.shape}")
    priors = dict(zip(CROSS_KINDS, (None, prior)))
    predictions = {kind: cross_dataset_predictions(model, ck48, config=config, seed=seed, variant=variant,
                                                   source_classes=source_classes, source_prior=p)
                   for kind, p in priors.items()}
    evaluations = {kind: evaluate_predictions(frame) for kind, frame in predictions.items()}
    return CrossRuns(MappingProxyType(predictions), MappingProxyType(evaluations), MappingProxyType(priors),
                     class_names_of(next(iter(predictions.values()))), source_classes, variant, int(seed))


# --------------------------------------------------------------------------- figures


def plot_learning_curves(histories, title=None, size=3.6):
    """Train/validation loss and accuracy per epoch, one line per variant and seed.

    Parameters
    ----------
    histories : DataFrame
        Rows of :attr:`FERRuns.histories` (columns ``variant``, ``seed``,
        ``epoch``, ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(2.2 * size, size), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = list(histories.groupby(["variant", "seed"], sort=True))
    for k, ((variant, seed), g) in enumerate(groups):
        c = colours[k % len(colours)]
        for ax, metric in zip(axes, ("loss", "acc")):
            ax.plot(g["epoch"], g[f"train_{metric}"], color=c, ls="--", lw=1.2)
            ax.plot(g["epoch"], g[f"val_{metric}"], color=c, ls="-", lw=1.5, marker="o", ms=3,
                    label=f"{variant} seed {seed}")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="loss (dashed: train, solid: PublicTest)")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy (dashed: train, solid: PublicTest)")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def plot_fold_scores(table, protocols, inits, size=3.2):
    """Accuracy per test fold, one panel per protocol: a dot per fold, mean ± sd (over folds) in black.

    Parameters
    ----------
    table : DataFrame
        :func:`fer_lib.evaluate.predictions.fold_table` (rows: folds, then ``mean`` and ``sd``;
        columns: ``(protocol, variant)``).
    protocols : sequence of str
        Panels, in order.
    inits : sequence of str
        Variants within each panel, in order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    per_fold = table.drop(index=[i for i in ("mean", "sd") if i in table.index])
    fig, axes = plt.subplots(1, len(protocols), figsize=(1.3 * size * len(protocols), size), squeeze=False,
                             constrained_layout=True)
    for ax, protocol in zip(axes[0], protocols):
        for k, init in enumerate(inits):
            values = per_fold[(protocol, init)].to_numpy(dtype=float)
            ax.scatter(k + np.linspace(-0.15, 0.15, len(values)), values, s=18)
            mean, sd, _ = mean_sd(values)
            ax.errorbar(k + 0.3, mean, yerr=sd, fmt="o", color="k", capsize=3)
        ax.set(xticks=range(len(inits)), xticklabels=list(inits), ylim=(0, 1.02), ylabel="accuracy",
               title=f"CK+48 {protocol}: accuracy per test fold")
        ax.grid(alpha=0.3, axis="y")
    return fig
