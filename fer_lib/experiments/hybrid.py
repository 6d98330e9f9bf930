"""The hybrid experiment of notebook 05: the seed papers' variants, their training options, the artefacts.

The models themselves are in :mod:`fer_lib.models.temporal`; the head
warm-up in :mod:`fer_lib.train.head`.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.models.checkpoint import atomic_torch_save

#: The seed papers' hybrid variants: model options (keyword arguments of
#: :func:`build_hybrid`) and training options (``augment``: whether the
#: variant trains with augmentation; ``fer_images``: whether static FER-2013
#: images join the training set).
HYBRID_CONFIGURATIONS = MappingProxyType(
    {
        "cnn-rnn": MappingProxyType(
            {"model": MappingProxyType({"pooling": "last", "fusion": "concat"}), "augment": False,
             "fer_images": False}
        ),
        "attention": MappingProxyType(
            {"model": MappingProxyType({"pooling": "attention", "fusion": "attention"}), "augment": False,
             "fer_images": False}
        ),
        "augment": MappingProxyType(
            {"model": MappingProxyType({"pooling": "last", "fusion": "concat"}), "augment": True,
             "fer_images": False}
        ),
        "unified": MappingProxyType(
            {"model": MappingProxyType({"pooling": "last", "fusion": "concat"}), "augment": False,
             "fer_images": True}
        ),
    }
)


#: Names of :data:`HYBRID_CONFIGURATIONS`, in the order the notebooks report them.
HYBRID_VARIANTS = tuple(HYBRID_CONFIGURATIONS)


#: Where the hybrid's CNN starts: notebook 03's FER-2013 model (when it exists), or random weights.
CNN_INITS = ("fer2013", "scratch")


#: File name of notebook 03's FER-2013 checkpoint (``fer_lib.experiments.spatial.CHECKPOINT_NAME``).
FER_CHECKPOINT = "spatial_fer2013.pt"


#: File name of notebook 05's hybrid checkpoint for the video command.
HYBRID_CHECKPOINT = "hybrid_ckplus.pt"


#: Whether notebook 05 trains the matched spatial control (the hybrid's CNN per
#: frame, frames averaged): a parameter of the run, never inferred from which
#: other notebooks ran.
SPATIAL_CONTROLS = ("always", "never")


#: Seed paper A's claimed CK+ accuracy of its hybrid CNN-LSTM (quoted, never
#: measured here; its train/test split is not stated in a checkable form).
CLAIMED_CKPLUS_HYBRID_ACCURACY = 0.884


def hybrid_configuration(name):
    """Options of a named hybrid variant.

    Parameters
    ----------
    name : {"cnn-rnn", "attention", "augment", "unified"}

    Returns
    -------
    dict
        ``{"model": {...}, "augment": bool, "fer_images": bool}`` (a copy).
    """
    check_option("variant", name, HYBRID_VARIANTS)
    cfg = HYBRID_CONFIGURATIONS[name]
    return {"model": dict(cfg["model"]), "augment": bool(cfg["augment"]), "fer_images": bool(cfg["fer_images"])}


def variant_config(config, variant, augment_preset="light"):
    """The training recipe of a hybrid variant.

    Only variants with ``augment`` (:data:`HYBRID_CONFIGURATIONS`) train with
    augmentation (``augment_preset``) and predict with the recipe's test-time
    augmentation; the others use neither, whatever the recipe says.

    Parameters
    ----------
    config : fer_lib.train.config.TrainConfig
    variant : str
        One of :data:`HYBRID_VARIANTS`.
    augment_preset : str, default="light"
        A key of :data:`fer_lib.train.augment.AUGMENT_PRESETS`.

    Returns
    -------
    fer_lib.train.config.TrainConfig
    """
    from dataclasses import replace

    from fer_lib.train.augment import AUGMENT_PRESETS

    check_option("augment_preset", augment_preset, tuple(AUGMENT_PRESETS))
    if hybrid_configuration(variant)["augment"]:
        return replace(config, augment=augment_preset)
    return replace(config, augment="none", tta="none")


def export_checkpoint(source, destination, **metadata):
    """Copy a ``train_model`` checkpoint, adding metadata (what data it saw, T, ...).

    Parameters
    ----------
    source : str or path-like
        ``best.pt`` written by :func:`fer_lib.train.loop.train_model`.
    destination : str or path-like
        Where to write the copy (e.g. ``<artefacts>/hybrid_ckplus.pt``).
    **metadata
        JSON-compatible values added to the checkpoint's metadata (existing
        keys of :data:`fer_lib.models.checkpoint.CHECKPOINT_KEYS` cannot be replaced).

    Returns
    -------
    pathlib.Path
        ``destination``; :func:`fer_lib.models.checkpoint.load_checkpoint` reads it.
    """
    from fer_lib.models.checkpoint import CHECKPOINT_KEYS

    clash = sorted(set(metadata) & set(CHECKPOINT_KEYS))
    if clash:
        raise ValueError(f"metadata must not replace the checkpoint keys {list(CHECKPOINT_KEYS)}; got {clash}")
    ckpt = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "metadata" not in ckpt:
        raise ValueError(f"{source} is not a fer_lib checkpoint (no metadata)")
    out = {"state_dict": ckpt["state_dict"], "metadata": {**ckpt["metadata"], **metadata}}
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(out, destination)
    return destination


def training_throughput(histories, frames_per_clip, skip_first=True):
    """Training throughput of clip models, from ``train_model`` histories.

    Parameters
    ----------
    histories : DataFrame
        Rows of :data:`fer_lib.train.loop.HISTORY_COLUMNS` (e.g.
        ``FoldRunResult.histories``); ``images_per_s`` counts training
        samples, i.e. clips for clip models.
    frames_per_clip : int
        ``T``.
    skip_first : bool, default=True
        Leave out each run's first epoch (warm-up) when a run has more than one.

    Returns
    -------
    dict
        ``clips_per_s`` and ``frames_per_s`` (medians over epochs),
        ``epochs`` (number of epochs counted), ``seconds_per_epoch`` (median,
        training plus validation).
    """
    frames_per_clip = check_positive_int("frames_per_clip", frames_per_clip)
    h = pd.DataFrame(histories)
    if h.empty:
        raise ValueError("histories is empty")
    if skip_first and "epoch" in h and (h["epoch"] > 1).any():
        h = h[h["epoch"] > 1]
    clips = float(np.median(h["images_per_s"]))
    return {"clips_per_s": clips, "frames_per_s": clips * frames_per_clip, "epochs": int(len(h)),
            "seconds_per_epoch": float(np.median(h["seconds"]))}


# --------------------------------------------------------------------------- notebook 05's steps


@dataclass(frozen=True)
class CNNStart:
    """Where the hybrid's CNN starts (:func:`choose_cnn_start`).

    Attributes
    ----------
    arch : dict
        Keyword arguments of :func:`fer_lib.models.temporal.build_hybrid` and
        ``build_frame_cnn`` for the CNN: ``{"cnn_init": CNNInit}`` or
        ``{"cnn": name, "cnn_kwargs": kwargs}``.
    text : str
        One Markdown sentence: what the CNN is initialised from, and why.
    summary : dict
        ``requested``, ``used`` (the checkpoint's file name or ``"scratch"``),
        ``fer2013_embedding_health``, ``architecture``.
    warning : str or None
        Set when the FER-2013 model was degenerate and the CNN starts from scratch.
    """

    arch: dict
    text: str
    summary: dict
    warning: str = None


def choose_cnn_start(cnn_init, checkpoint, frames, cnn, cnn_kwargs):
    """Start the hybrid's CNN from notebook 03's FER-2013 model, or from scratch when asked or when it is degenerate.

    Parameters
    ----------
    cnn_init : {"fer2013", "scratch"}
    checkpoint : path-like
        Notebook 03's ``spatial_fer2013.pt`` (read when ``cnn_init="fer2013"``).
    frames : ndarray of shape (n, T, H, W), uint8
        CK+ clips on which the FER-2013 embedding's health is measured.
    cnn : str
        The CNN built from scratch (:data:`fer_lib.models.cnn.MODEL_NAMES`).
    cnn_kwargs : dict
        Its architecture arguments.

    Returns
    -------
    CNNStart
    """
    from fer_lib.models.init import load_cnn_init
    from fer_lib.train.head import embedding_health

    check_option("cnn_init", cnn_init, CNN_INITS)
    source, health, why, warning = None, None, "`cnn_init='scratch'`", None
    if cnn_init == "fer2013":
        source = load_cnn_init(checkpoint)
        health = embedding_health(source, frames)
        if health["degenerate"]:
            why = (f"notebook 03's FER-2013 model is degenerate: {health['n_constant']} of {health['n_units']} "
                   "units of its embedding are constant on the CK+ frames, so its weights carry nothing to transfer")
            warning, source = f"The hybrid's CNN starts from scratch: {why}.", None
    if source is not None:
        text = (f"initialised from notebook 03's `{source.source}` ({source.cnn} {source.cnn_kwargs}, trained on "
                f"FER-2013, epoch {source.metadata.get('epoch')}), class head dropped, fine-tuned jointly")
        arch, architecture = {"cnn_init": source}, (source.cnn, source.cnn_kwargs)
    else:
        text = f"**trained from scratch** ({cnn} {cnn_kwargs}, random weights): {why}"
        arch, architecture = {"cnn": cnn, "cnn_kwargs": cnn_kwargs}, (cnn, cnn_kwargs)
    summary = {"requested": cnn_init, "used": source.source if source is not None else "scratch",
               "fer2013_embedding_health": health, "architecture": architecture}
    return CNNStart(arch, text, summary, warning)


def unified_fer_clips(data_dir, clip_sets, per_class, seed):
    """FER-2013 *Training* images as motionless clips for the ``unified`` variant, per protocol.

    Parameters
    ----------
    data_dir : path-like
        The data folder holding FER-2013.
    clip_sets : dict of str to fer_lib.faces.sequences.ClipData
        Protocol -> its CK+48 clips (their class names and ``T``).
    per_class : int
        FER-2013 Training images per class.
    seed : int

    Returns
    -------
    clips : dict of str to tuple (ndarray of shape (n, T, 48, 48), ndarray of shape (n,))
    lines : list of str
        Per protocol, how many images of which class were added.
    """
    from fer_lib.data.fer2013 import find_fer2013, load_fer2013
    from fer_lib.faces.sequences import fer_static_clips

    fer = load_fer2013(find_fer2013(data_dir))
    fer_train, fer_labels = fer.split("Training")
    out, lines = {}, []
    for p, c in clip_sets.items():
        out[p] = fer_static_clips(fer_train, fer_labels, c.class_names, length=c.X.shape[1], per_class=per_class,
                                  seed=seed, fer_class_names=fer.class_names)
        counts = pd.Series(np.bincount(out[p][1], minlength=len(c.class_names)), index=c.class_names)
        lines.append(f"unified, {p}: {len(out[p][1])} FER-2013 Training images added to every training set: "
                     f"{counts.to_dict()}")
    return out, lines


@dataclass(frozen=True)
class HybridRuns:
    """The fold runs of notebook 05 (:func:`train_hybrid_folds`).

    Attributes
    ----------
    runs : dict of (str, str) to fer_lib.train.folds.FoldRunResult
        ``(protocol, variant)`` -> the hybrid's fold runs.
    controls : dict of str to FoldRunResult
        Protocol -> the matched spatial control's fold runs (empty when not trained).
    wall : dict of (str, str) to float
        Wall seconds per ``(protocol, variant)`` (the control as
        :data:`fer_lib.evaluate.predictions.SPATIAL_CONTROL_VARIANT`).
    lines : tuple of str
        One line per run: what was trained, in how long.
    """

    runs: dict
    controls: dict
    wall: dict
    lines: tuple

    def _all(self):
        return [*self.runs.values(), *self.controls.values()]

    @property
    def predictions(self):
        """DataFrame: every run's predictions (:mod:`fer_lib.evaluate.predictions`)."""
        return pd.concat([r.predictions for r in self._all()], ignore_index=True)

    @property
    def metrics(self):
        """DataFrame: every run's per-fold metrics."""
        return pd.concat([r.metrics for r in self._all()], ignore_index=True)

    @property
    def histories(self):
        """DataFrame: every run's training histories, with ``protocol`` and ``variant``."""
        from fer_lib.evaluate.predictions import SPATIAL_CONTROL_VARIANT

        return pd.concat([r.histories.assign(protocol=p, variant=v) for (p, v), r in self.runs.items()]
                         + [r.histories.assign(protocol=p, variant=SPATIAL_CONTROL_VARIANT)
                            for p, r in self.controls.items()], ignore_index=True)


def train_hybrid_folds(clip_sets, variants, config, model_args, *, augment_preset, seeds, view_sets, fer_clips,
                       prepare, spatial_control, progress=False):
    """Cross-validate every hybrid variant (and the matched spatial control) on each protocol's CK+48 folds.

    Parameters
    ----------
    clip_sets : dict of str to fer_lib.faces.sequences.ClipData
        Protocol -> its clips and folds.
    variants : sequence of str
        Keys of :data:`HYBRID_CONFIGURATIONS`.
    config : fer_lib.train.config.TrainConfig
        The joint fine-tuning recipe (:func:`variant_config` adapts it per variant).
    model_args : dict
        Keyword arguments of :func:`fer_lib.models.temporal.build_hybrid` shared
        by every variant (``rnn``, sizes, ``dropout`` and the CNN's :attr:`CNNStart.arch`).
    augment_preset : str
    seeds : sequence of int
    view_sets : dict of str to list of fer_lib.data.splits.ViewSet
        Protocol -> extra test sets (the sequence prefixes).
    fer_clips : dict of str to tuple
        Protocol -> FER-2013 clips for the ``unified`` variant (:func:`unified_fer_clips`).
    prepare : callable
        The head warm-up (:func:`fer_lib.train.head.head_warmup`), for the hybrid and the control alike.
    spatial_control : {"always", "never"}
        Train the hybrid's own CNN frame by frame (frames averaged) as the matched control.
    progress : bool, default=False

    Returns
    -------
    HybridRuns
    """
    from fer_lib.evaluate.predictions import SPATIAL_CONTROL_VARIANT
    from fer_lib.models import temporal
    from fer_lib.train.folds import run_subject_folds

    check_option("spatial_control", spatial_control, SPATIAL_CONTROLS)
    runs, controls, wall, lines = {}, {}, {}, []
    shared = {"seeds": seeds, "dataset": "ckplus48", "prepare": prepare, "progress": progress}
    for protocol, c in clip_sets.items():
        for v in variants:
            opts = hybrid_configuration(v)
            t0 = time.perf_counter()
            runs[(protocol, v)] = run_subject_folds(
                lambda n, o=opts: temporal.build_hybrid(n, **o["model"], **model_args), c.X, c.y, c.sample_ids,
                c.folds, c.class_names, variant_config(config, v, augment_preset), mode="clips", protocol=protocol,
                model="hybrid", variant=v, test_sets=view_sets[protocol],
                extra_train=fer_clips.get(protocol) if opts["fer_images"] else None, **shared)
            wall[(protocol, v)] = time.perf_counter() - t0
            lines.append(f"{protocol} {v}: {len(set(c.folds)) * len(seeds)} fold runs in {wall[(protocol, v)]:.1f} s")
    for protocol, c in clip_sets.items():
        if spatial_control != "always":
            lines.append(f"{protocol}: spatial control not trained (spatial_control={spatial_control!r})")
            continue
        arch = {k: model_args[k] for k in ("cnn_init", "cnn", "cnn_kwargs") if k in model_args}
        t0 = time.perf_counter()
        controls[protocol] = run_subject_folds(
            lambda n: temporal.build_frame_cnn(n, dropout=config.dropout, **arch), c.X, c.y, c.sample_ids, c.folds,
            c.class_names, variant_config(config, "cnn-rnn", augment_preset), mode="frames", protocol=protocol,
            model="spatial", variant=SPATIAL_CONTROL_VARIANT, test_sets=view_sets[protocol], **shared)
        wall[(protocol, SPATIAL_CONTROL_VARIANT)] = time.perf_counter() - t0
        lines.append(f"{protocol} spatial control: trained in {wall[(protocol, SPATIAL_CONTROL_VARIANT)]:.1f} s")
    return HybridRuns(runs, controls, wall, tuple(lines))


def claims_table(side):
    """Measured CK+48 accuracies beside seed paper A's claim, one row each.

    Parameters
    ----------
    side : dict of str to DataFrame
        Protocol -> per-fold accuracies with ``mean`` and ``sd`` rows
        (:func:`fer_lib.faces.sequences.side_by_side`).

    Returns
    -------
    DataFrame
        ``protocol``, ``model``, ``accuracy (%)``, ``protocol used``, ``kind``.
    """
    rows = [{"protocol": p, "model": col,
             "accuracy (%)": f"{100 * t.loc['mean', col]:.1f} ± {100 * t.loc['sd', col]:.1f}",
             "protocol used": f"{len(t) - 2} subject-independent folds, mean ± sd over folds",
             "kind": "measured here"} for p, t in side.items() for col in t.columns]
    rows.append({"protocol": "CK+", "model": "hybrid CNN-LSTM (seed paper A)",
                 "accuracy (%)": f"{100 * CLAIMED_CKPLUS_HYBRID_ACCURACY:.1f}",
                 "protocol used": "the paper's own train/test split (classes and subject separation not stated)",
                 "kind": "claimed, not measured here"})
    return pd.DataFrame(rows)


def training_cost(runs, frames_per_clip):
    """Throughput and wall time of each hybrid run (:func:`training_throughput`), one row each.

    Parameters
    ----------
    runs : HybridRuns
    frames_per_clip : int

    Returns
    -------
    DataFrame
        ``protocol``, ``variant``, ``clips/s``, ``frames/s``, ``s/epoch``,
        ``fold runs``, ``wall time (s)``.
    """
    rows = []
    for (p, v), r in runs.runs.items():
        tp = training_throughput(r.histories, frames_per_clip=frames_per_clip)
        rows.append({"protocol": p, "variant": v, "clips/s": round(tp["clips_per_s"], 1),
                     "frames/s": round(tp["frames_per_s"], 1), "s/epoch": round(tp["seconds_per_epoch"], 2),
                     "fold runs": len(r.histories[["seed", "fold"]].drop_duplicates()),
                     "wall time (s)": round(runs.wall[(p, v)], 1)})
    return pd.DataFrame(rows)


def train_video_checkpoint(clips, variant, val_fold, config, model_args, destination, *, augment_preset,
                           head_epochs, head_lr, seed, extra=None, data_set="CK+48", cnn_init="scratch"):
    """Train the one hybrid the video command uses: every CK+48 fold but ``val_fold``, which picks its epoch.

    Parameters
    ----------
    clips : fer_lib.faces.sequences.ClipData
        The 7-class CK+48 clips.
    variant : str
        A key of :data:`HYBRID_CONFIGURATIONS`.
    val_fold : int
        One of ``clips.folds``.
    config : fer_lib.train.config.TrainConfig
    model_args : dict
        As :func:`train_hybrid_folds`.
    destination : path-like
        The exported checkpoint (``hybrid_ckplus.pt``); training writes into
        ``<destination's folder>/hybrid_ckplus_training/`` (its ``last.pt`` is deleted).
    augment_preset : str
    head_epochs : int
    head_lr : float
    seed : int
    extra : tuple (X, y), optional
        FER-2013 clips joining the training set (``unified``).
    data_set : str, default="CK+48"
    cnn_init : str, default="scratch"
        Recorded in the metadata (:attr:`CNNStart.summary` ``["used"]``).

    Returns
    -------
    path : Path
    metadata : dict
        The checkpoint's metadata as :func:`fer_lib.models.checkpoint.load_checkpoint` reads it.
    seconds : float
        Training wall time.
    """
    from dataclasses import replace

    from fer_lib.core.reproducibility import seed_everything
    from fer_lib.faces.preprocessing import CKPLUS48_FACES
    from fer_lib.models import temporal
    from fer_lib.models.checkpoint import load_checkpoint
    from fer_lib.train.head import fit_head
    from fer_lib.train.loop import train_model

    opts = hybrid_configuration(variant)
    val_mask = clips.folds == val_fold
    if not val_mask.any():
        raise ValueError(f"checkpoint_val_fold must be one of {sorted(set(clips.folds.tolist()))}; got {val_fold}")
    X_tr, y_tr = clips.X[~val_mask], clips.y[~val_mask]
    if extra is not None:
        X_tr, y_tr = np.concatenate([X_tr, extra[0]]), np.concatenate([y_tr, extra[1]])
    seed_everything(int(seed))
    model = temporal.build_hybrid(len(clips.class_names), **opts["model"], **model_args)
    cfg = replace(variant_config(config, variant, augment_preset), seed=int(seed))
    work_dir = Path(destination).parent / "hybrid_ckplus_training"
    t0 = time.perf_counter()
    fit_head(model, X_tr, y_tr, cfg, head_epochs, lr=head_lr)
    result = train_model(model, (X_tr, y_tr), (clips.X[val_mask], clips.y[val_mask]), cfg, out_dir=work_dir,
                         progress=False, class_names=clips.class_names, preprocessing=CKPLUS48_FACES)
    seconds = time.perf_counter() - t0
    path = export_checkpoint(
        result.checkpoint_path, destination, variant=variant, frames_per_clip=int(clips.X.shape[1]),
        data_set=data_set,
        trained_on=f"CK+48 7class clips of folds {sorted(set(clips.folds[~val_mask].tolist()))} "
                   f"({int((~val_mask).sum())} clips)"
                   + (f" + {len(extra[1])} FER-2013 Training images" if extra is not None else ""),
        selected_on=f"CK+48 fold {val_fold} ({int(val_mask.sum())} clips): epoch with the best accuracy",
        test_data="none: the 10-fold scores of notebook 05 estimate this model's accuracy",
        cnn_init=cnn_init, seed=int(seed))
    (work_dir / "last.pt").unlink(missing_ok=True)
    _, metadata = load_checkpoint(path, device="cpu")
    return path, metadata, seconds


def notebook_summary(config, model_args, seeds, side, cost, runs, checkpoint, *, onset=None, sampling="window"):
    """The measured entries of notebook 05's ``summary.json``.

    Parameters
    ----------
    config : fer_lib.train.config.TrainConfig
    model_args : dict
        As :func:`train_hybrid_folds` (the CNN's weights are left out).
    seeds : sequence of int
    side : dict of str to DataFrame
        Protocol -> per-fold accuracies with ``mean`` and ``sd`` rows
        (:func:`fer_lib.faces.sequences.side_by_side`).
    cost : DataFrame
        :func:`training_cost`.
    runs : HybridRuns
    checkpoint : dict
        ``file``, ``variant``, ``epoch``, ``val_acc``, ``train_seconds`` of
        :func:`train_video_checkpoint`'s model.
    onset : DataFrame, optional
        :func:`fer_lib.faces.sequences.prefix_accuracy` by protocol, model and variant.
    sampling : {"window", "resample"}, default="window"

    Returns
    -------
    dict
        ``config``, ``model``, ``seeds``, ``ckplus48`` (per protocol and
        column: ``mean``, ``sd``, ``per_fold``), ``claimed_ckplus_hybrid_accuracy``,
        ``throughput``, ``wall_seconds_per_run``, ``checkpoint`` and, with
        ``onset``, ``onset_to_apex``.
    """
    from fer_lib.faces.sequences import onset_summary

    out = {
        "config": config.to_dict(), "model": {k: v for k, v in model_args.items() if k != "cnn_init"},
        "seeds": list(seeds),
        "ckplus48": {p: {col: {"mean": float(t.loc["mean", col]), "sd": float(t.loc["sd", col]),
                               "per_fold": t.drop(index=["mean", "sd"])[col].round(4).tolist()}
                         for col in t.columns} for p, t in side.items()},
        "claimed_ckplus_hybrid_accuracy": CLAIMED_CKPLUS_HYBRID_ACCURACY,
        "throughput": cost.to_dict(orient="records"),
        "wall_seconds_per_run": {f"{p}/{v}": round(s, 1) for (p, v), s in runs.wall.items()},
        "checkpoint": dict(checkpoint),
    }
    if onset is not None:
        out["onset_to_apex"] = onset_summary(onset, sampling)
    return out
