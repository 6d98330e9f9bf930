"""Temporal-only and hybrid CNN-RNN models for clips of faces (notebooks 04 and 05).

Both models take the clips that :func:`fer_lib.train.loop.train_model` makes
from ``uint8`` arrays of shape ``(n, T, H, W)``: normalised tensors of shape
``(n, T, 1, H, W)``, frames in temporal order. Both follow the interface of
:mod:`fer_lib.models.cnn` (subclasses of :class:`fer_lib.models.cnn.FeatureClassifier`:
``model(x) == model.classifier(model.features(x))``, ``n_classes``,
``feature_dim``, ``dropout``, ``model_spec``), so that the
training loop, :func:`fer_lib.train.predict.predict`, the fold runner and
:func:`fer_lib.models.checkpoint.load_checkpoint` treat them like the spatial CNNs.

Temporal-only model (:class:`TemporalRNN`, :func:`build_temporal`)
-----------------------------------------------------------------
An LSTM or GRU over **fixed, non-learned per-frame features** that carry
motion: every frame is average-pooled to ``pool_size x pool_size`` pixels
(12 x 12 by default: a 4 x 4 block average of a 48 x 48 crop) and flattened,
and its difference from the first frame of the clip is appended
(``inputs="pixels+diff"``; ``inputs="diff"`` keeps the differences only, i.e.
motion without appearance). A per-feature batch normalisation rescales these
inputs (a learned scale and shift per input, no mixing of pixels). No
convolution and no other spatial encoder is learned: the only learned
functions of the pixels are the RNN's input gates (linear maps of one frame's
pooled pixels) and the recurrence over time, which is what "temporal-only"
means here. Landmark trajectories would be the other natural input, but
CK+48 and the 40 real sequences have no landmarks, so the model uses pixels,
which every data set has.

Hybrid model (:class:`HybridCNNRNN`, :func:`build_hybrid`)
---------------------------------------------------------
The seed papers' design. A spatial CNN of :mod:`fer_lib.models.cnn` embeds every
frame (``f_s,t = cnn.features(frame_t)``; the CNN's own class head is
dropped); an LSTM or GRU runs over the frame embeddings (optionally with
their change since the first frame, :data:`RNN_INPUTS`) and its outputs are
pooled over time into ``f_t`` (:data:`POOLINGS`: the last state, the mean, or
an attention-weighted mean); the spatial summary ``f_s`` is the mean of the
frame embeddings. The two are fused (:data:`FUSIONS`): ``"concat"`` gives
``f_st = [f_s || f_t]``; ``"attention"`` projects both to ``fusion_dim`` and
takes their softmax-weighted sum (the weights depend on the clip). Then
``Linear -> ReLU`` (the embedding returned by :meth:`HybridCNNRNN.features`)
and ``Dropout -> Linear`` (the classifier), as in the CNNs' heads;
cross-entropy and Adam come from the training recipe. ``f_s`` is invariant to
the order of the frames; only ``f_t`` can see it.

The CNN can start from a FER-2013 checkpoint of notebook 03
(:func:`fer_lib.models.init.load_cnn_init`, the reader of notebook 03's own
transfer, re-exported here): its architecture and weights are reused, its
class head dropped, and the whole model is fine-tuned jointly. :func:`fit_head`
(a ``prepare`` hook of :func:`fer_lib.train.folds.run_subject_folds` through
:func:`head_warmup`) can first fit the new layers on the frozen CNN's frame
embeddings: a clip model takes one gradient step per clip where a per-frame
model takes one per frame, and the warm-up makes up for it at the cost of a
fraction of an epoch. :func:`build_frame_cnn` is the matched spatial control:
the same CNN, trained and evaluated frame by frame.

Named configurations (:data:`HYBRID_CONFIGURATIONS`) are the seed papers'
variants: ``"cnn-rnn"`` (last-state pooling, concatenation), ``"attention"``
(attention pooling and attention fusion), ``"augment"`` (cnn-rnn trained with
augmentation) and ``"unified"`` (cnn-rnn trained on CK+ clips together with
static FER-2013 images shown as motionless clips; see
:func:`fer_lib.faces.sequences.fer_static_clips`).
"""

import copy

import torch
from torch import nn
from torch.nn import functional as F

from fer_lib.core.validation import check_fraction, check_option, check_positive_int
from fer_lib.models.cnn import MODEL_NAMES, FeatureClassifier, build_model
from fer_lib.models.init import CNNInit, cnn_from_init, load_cnn_weights

#: Recurrent cells of both models.
RNN_TYPES = ("lstm", "gru")

#: How the RNN outputs are pooled over time: the last state (for a
#: bidirectional RNN, the final state of each direction), the mean over time,
#: or an attention-weighted mean (weights from a learned scoring of each step).
POOLINGS = ("last", "mean", "attention")

#: How the hybrid fuses the spatial summary ``f_s`` and the temporal one ``f_t``.
FUSIONS = ("concat", "attention")

#: Fixed per-frame inputs of the temporal-only model: pooled pixels and their
#: difference from the first frame, or the differences only.
TEMPORAL_INPUTS = ("pixels+diff", "diff")

#: What the hybrid's RNN reads at step ``t``: the frame embedding ``f_t`` (the
#: seed papers' input), or ``[f_t || f_t - f_1]``, the embedding and its change
#: since the clip's first frame (no new information, the change made explicit,
#: as in the temporal-only model's inputs; still causal).
RNN_INPUTS = ("features", "features+diff")


# --------------------------------------------------------------------------- shared pieces


def _check_clip_batch(x, name):
    if x.dim() != 5 or x.shape[2] != 1:
        raise ValueError(
            f"{name} expects clips of shape (n, T, 1, H, W); got shape {tuple(x.shape)}. "
            "Pass uint8 arrays of shape (n, T, H, W) to fer_lib.train.loop.train_model / predict."
        )


class TemporalPool(nn.Module):
    """Pool RNN outputs over time.

    Parameters
    ----------
    dim : int
        Size of the RNN outputs.
    pooling : {"last", "mean", "attention"}
        See :data:`POOLINGS`. ``"last"`` uses the state passed to
        :meth:`forward` as ``last``.
    attention_dim : int, default=64
        Hidden size of the attention scorer ``v . tanh(W h_t)``.
    """

    def __init__(self, dim, pooling="last", attention_dim=64):
        super().__init__()
        self.pooling = check_option("pooling", pooling, POOLINGS)
        if pooling == "attention":
            self.score = nn.Sequential(nn.Linear(dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, 1))
        self.last_weights = None

    def forward(self, outputs, last):
        """Pool.

        Parameters
        ----------
        outputs : Tensor of shape (n, T, dim)
            RNN outputs at every step.
        last : Tensor of shape (n, dim)
            The final state (used by ``"last"``).

        Returns
        -------
        Tensor of shape (n, dim)
        """
        if self.pooling == "last":
            return last
        if self.pooling == "mean":
            return outputs.mean(dim=1)
        w = torch.softmax(self.score(outputs).squeeze(-1), dim=1)  # (n, T)
        self.last_weights = w.detach()
        return (w.unsqueeze(-1) * outputs).sum(dim=1)


def _make_rnn(rnn, input_size, hidden_size, num_layers, bidirectional, dropout):
    cls = nn.LSTM if rnn == "lstm" else nn.GRU
    return cls(input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
               dropout=dropout if num_layers > 1 else 0.0)


def _run_rnn(rnn, x, bidirectional):
    """Outputs (n, T, H * dirs) and the final state of the last layer (n, H * dirs)."""
    outputs, state = rnn(x)
    h_n = state[0] if isinstance(state, tuple) else state  # (layers * dirs, n, H)
    last = torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]
    return outputs, last


def motion_features(x, pool_size=12, inputs="pixels+diff"):
    """The temporal-only model's fixed per-frame inputs.

    Parameters
    ----------
    x : Tensor of shape (n, T, 1, H, W)
        Normalised clips.
    pool_size : int, default=12
        Side of the average-pooled frame (``adaptive_avg_pool2d``).
    inputs : {"pixels+diff", "diff"}, default="pixels+diff"
        See :data:`TEMPORAL_INPUTS`.

    Returns
    -------
    Tensor of shape (n, T, F)
        ``F = pool_size ** 2`` for ``"diff"``, twice that for
        ``"pixels+diff"`` (pooled pixels first, then their difference from
        the first frame, which is 0 at ``t = 0``).
    """
    check_option("inputs", inputs, TEMPORAL_INPUTS)
    _check_clip_batch(x, "motion_features")
    n, t = x.shape[:2]
    pooled = F.adaptive_avg_pool2d(x.reshape(n * t, *x.shape[2:]), pool_size).reshape(n, t, -1)
    diff = pooled - pooled[:, :1]
    return diff if inputs == "diff" else torch.cat([pooled, diff], dim=2)


# --------------------------------------------------------------------------- temporal-only


class TemporalRNN(FeatureClassifier):
    """LSTM/GRU over fixed motion features of each frame (no learned spatial encoder).

    Parameters
    ----------
    n_classes : int, default=7
    rnn : {"lstm", "gru"}, default="lstm"
    hidden_size : int, default=64
    num_layers : int, default=1
    pool_size : int, default=12
        Frames are average-pooled to ``pool_size x pool_size``.
    inputs : {"pixels+diff", "diff"}, default="pixels+diff"
        See :data:`TEMPORAL_INPUTS` and :func:`motion_features`.
    pooling : {"last", "mean", "attention"}, default="last"
    bidirectional : bool, default=False
    dropout : float, default=0.5
        Dropout before the classifier (and between RNN layers).

    Attributes
    ----------
    feature_dim : int
        ``hidden_size`` (twice that when bidirectional).
    classifier : nn.Sequential
        ``Dropout -> Linear(feature_dim, n_classes)``.
    """

    def __init__(self, n_classes=7, rnn="lstm", hidden_size=64, num_layers=1, pool_size=12,
                 inputs="pixels+diff", pooling="last", bidirectional=False, dropout=0.5):
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        self.rnn_type = check_option("rnn", rnn, RNN_TYPES)
        self.inputs = check_option("inputs", inputs, TEMPORAL_INPUTS)
        self.pool_size = check_positive_int("pool_size", pool_size)
        self.dropout = check_fraction("dropout", dropout, 0.0, 1.0)
        self.bidirectional = check_option("bidirectional", bidirectional, (True, False))
        hidden_size = check_positive_int("hidden_size", hidden_size)
        num_layers = check_positive_int("num_layers", num_layers)
        self.input_dim = self.pool_size**2 * (2 if inputs == "pixels+diff" else 1)
        self.input_norm = nn.BatchNorm1d(self.input_dim)
        self.rnn = _make_rnn(rnn, self.input_dim, hidden_size, num_layers, self.bidirectional, self.dropout)
        self.feature_dim = hidden_size * (2 if self.bidirectional else 1)
        self.pool = TemporalPool(self.feature_dim, pooling)
        self.classifier = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.feature_dim, self.n_classes))

    def features(self, x):
        """Pooled RNN state.

        Parameters
        ----------
        x : Tensor of shape (n, T, 1, H, W)
            Normalised clips.

        Returns
        -------
        Tensor of shape (n, feature_dim)
        """
        _check_clip_batch(x, type(self).__name__)
        f = motion_features(x, self.pool_size, self.inputs)
        n, t, d = f.shape
        f = self.input_norm(f.reshape(n * t, d)).reshape(n, t, d)
        outputs, last = _run_rnn(self.rnn, f, self.bidirectional)
        return self.pool(outputs, last)


def build_temporal(n_classes, rnn="lstm", hidden_size=64, num_layers=1, pool_size=12, inputs="pixels+diff",
                   pooling="last", bidirectional=False, dropout=0.5):
    """Build a :class:`TemporalRNN` and record how to rebuild it.

    Parameters
    ----------
    n_classes : int
    rnn, hidden_size, num_layers, pool_size, inputs, pooling, bidirectional, dropout
        See :class:`TemporalRNN`.

    Returns
    -------
    TemporalRNN
        With ``model.model_spec = {"factory": "fer_lib.models.temporal:build_temporal",
        "kwargs": {...}, "init": "random"}``.
    """
    kwargs = {"n_classes": int(n_classes), "rnn": rnn, "hidden_size": int(hidden_size),
              "num_layers": int(num_layers), "pool_size": int(pool_size), "inputs": inputs,
              "pooling": pooling, "bidirectional": bool(bidirectional), "dropout": float(dropout)}
    model = TemporalRNN(**kwargs)
    model.model_spec = {"factory": "fer_lib.models.temporal:build_temporal", "kwargs": kwargs, "init": "random"}
    return model


# --------------------------------------------------------------------------- CNN initialisation


def _frame_cnn(cnn, cnn_kwargs, cnn_init):
    """Resolve the CNN architecture: from ``cnn_init`` when given, else from ``cnn``/``cnn_kwargs``."""
    if cnn_init is not None:
        if not isinstance(cnn_init, CNNInit):
            raise ValueError(f"cnn_init must be a CNNInit (see load_cnn_init) or None; got {type(cnn_init).__name__}")
        if cnn is not None and (cnn != cnn_init.cnn or dict(cnn_kwargs or {}) != dict(cnn_init.cnn_kwargs)):
            raise ValueError(
                f"cnn={cnn!r}, cnn_kwargs={cnn_kwargs!r} differ from the architecture of cnn_init "
                f"({cnn_init.cnn!r}, {cnn_init.cnn_kwargs!r}); pass cnn=None to use the checkpoint's"
            )
        return cnn_init.cnn, dict(cnn_init.cnn_kwargs)
    cnn = "small" if cnn is None else cnn
    check_option("cnn", cnn, MODEL_NAMES)
    return cnn, dict(cnn_kwargs or {})


def build_frame_cnn(n_classes, cnn=None, cnn_kwargs=None, dropout=0.5, cnn_init=None):
    """The hybrid's CNN as a per-frame classifier (the matched spatial control).

    Same architecture and initialisation as the hybrid's CNN built with the
    same arguments; trained frame by frame and evaluated by averaging frame
    probabilities (``mode="frames"``), it differs from the hybrid only by
    the missing temporal branch.

    Parameters
    ----------
    n_classes : int
    cnn : str, optional
        :data:`fer_lib.models.cnn.MODEL_NAMES`; default ``"small"``, or the
        architecture of ``cnn_init``.
    cnn_kwargs : dict, optional
        Architecture arguments of :func:`fer_lib.models.cnn.build_model`.
    dropout : float, default=0.5
    cnn_init : CNNInit, optional
        Start from these weights (class head excluded: a new head is trained).

    Returns
    -------
    torch.nn.Module
        A :func:`fer_lib.models.cnn.build_model` model; ``model_spec["init"]`` is
        ``"random"`` or ``"cnn:<source>"``.
    """
    name, kw = _frame_cnn(cnn, cnn_kwargs, cnn_init)
    if cnn_init is None:
        return build_model(name, n_classes, dropout=dropout, **kw)
    model = cnn_from_init(cnn_init, n_classes, dropout=dropout)
    model.model_spec["init"] = f"cnn:{cnn_init.source}"
    return model


# --------------------------------------------------------------------------- hybrid


class HybridCNNRNN(FeatureClassifier):
    """CNN per frame, LSTM/GRU over the frame embeddings, fusion, FC head.

    Parameters
    ----------
    n_classes : int, default=7
    cnn : {"small", "vgg", "resnet18", "fastvgg"}, default="small"
        The per-frame CNN (:func:`fer_lib.models.cnn.build_model`); its
        ``features`` give ``f_s,t``, its class head is removed.
    cnn_kwargs : dict, optional
        Architecture arguments of that CNN (e.g. ``{"width": 16, "fc_dim": 64}``).
    rnn : {"lstm", "gru"}, default="lstm"
    hidden_size : int, default=128
    num_layers : int, default=1
    pooling : {"last", "mean", "attention"}, default="last"
    fusion : {"concat", "attention"}, default="concat"
    rnn_inputs : {"features", "features+diff"}, default="features"
        See :data:`RNN_INPUTS`.
    fusion_dim : int, default=128
        Size of the projections of ``f_s`` and ``f_t`` for ``fusion="attention"``.
    fc_dim : int, default=128
        Size of the embedding returned by :meth:`features`.
    bidirectional : bool, default=False
    dropout : float, default=0.5
        Dropout before the classifier (and between RNN layers).

    Attributes
    ----------
    cnn : torch.nn.Module
    rnn : torch.nn.LSTM or torch.nn.GRU
    feature_dim : int
        ``fc_dim``.
    classifier : nn.Sequential
        ``Dropout -> Linear(fc_dim, n_classes)``.
    last_fusion_weights : Tensor of shape (n, 2) or None
        Weights of ``(f_s, f_t)`` in the last forward pass (``fusion="attention"``).
    """

    def __init__(self, n_classes=7, cnn="small", cnn_kwargs=None, rnn="lstm", hidden_size=128, num_layers=1,
                 pooling="last", fusion="concat", fusion_dim=128, fc_dim=128, bidirectional=False, dropout=0.5,
                 rnn_inputs="features"):
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        self.rnn_type = check_option("rnn", rnn, RNN_TYPES)
        self.fusion = check_option("fusion", fusion, FUSIONS)
        self.rnn_inputs = check_option("rnn_inputs", rnn_inputs, RNN_INPUTS)
        check_option("pooling", pooling, POOLINGS)
        check_option("cnn", cnn, MODEL_NAMES)
        self.dropout = check_fraction("dropout", dropout, 0.0, 1.0)
        self.bidirectional = check_option("bidirectional", bidirectional, (True, False))
        hidden_size = check_positive_int("hidden_size", hidden_size)
        num_layers = check_positive_int("num_layers", num_layers)
        fusion_dim = check_positive_int("fusion_dim", fusion_dim)
        self.feature_dim = check_positive_int("fc_dim", fc_dim)
        self.cnn = build_model(cnn, 2, dropout=0.0, **dict(cnn_kwargs or {}))
        self.cnn.classifier = nn.Identity()  # the CNN's class head is not used
        d_s = self.cnn.feature_dim
        d_in = d_s * (2 if self.rnn_inputs == "features+diff" else 1)
        self.rnn = _make_rnn(rnn, d_in, hidden_size, num_layers, self.bidirectional, self.dropout)
        d_t = hidden_size * (2 if self.bidirectional else 1)
        self.pool = TemporalPool(d_t, pooling)
        if fusion == "concat":
            fused = d_s + d_t
        else:
            self.proj_s = nn.Sequential(nn.Linear(d_s, fusion_dim), nn.Tanh())
            self.proj_t = nn.Sequential(nn.Linear(d_t, fusion_dim), nn.Tanh())
            self.fusion_score = nn.Linear(fusion_dim, 1)
            fused = fusion_dim
        self.embed = nn.Sequential(nn.Linear(fused, self.feature_dim), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.feature_dim, self.n_classes))
        self.last_fusion_weights = None

    def frame_features(self, x):
        """CNN embedding of every frame.

        Parameters
        ----------
        x : Tensor of shape (n, T, 1, H, W)

        Returns
        -------
        Tensor of shape (n, T, cnn.feature_dim)
        """
        _check_clip_batch(x, type(self).__name__)
        n, t = x.shape[:2]
        return self.cnn.features(x.reshape(n * t, *x.shape[2:])).reshape(n, t, -1)

    def fused_features(self, x):
        """``f_st``: the fused spatial and temporal summaries, before the FC layers.

        Parameters
        ----------
        x : Tensor of shape (n, T, 1, H, W)

        Returns
        -------
        Tensor of shape (n, d)
            ``d = cnn.feature_dim + rnn size`` (concat) or ``fusion_dim`` (attention).
        """
        return self.fuse(self.frame_features(x))

    def fuse(self, f):
        """``f_st`` from the frame embeddings.

        Parameters
        ----------
        f : Tensor of shape (n, T, cnn.feature_dim)
            Output of :meth:`frame_features`.

        Returns
        -------
        Tensor of shape (n, d)
        """
        f_s = f.mean(dim=1)
        r = torch.cat([f, f - f[:, :1]], dim=2) if self.rnn_inputs == "features+diff" else f
        outputs, last = _run_rnn(self.rnn, r, self.bidirectional)
        f_t = self.pool(outputs, last)
        if self.fusion == "concat":
            return torch.cat([f_s, f_t], dim=1)
        p = torch.stack([self.proj_s(f_s), self.proj_t(f_t)], dim=1)  # (n, 2, fusion_dim)
        w = torch.softmax(self.fusion_score(p).squeeze(-1), dim=1)  # (n, 2)
        self.last_fusion_weights = w.detach()
        return (w.unsqueeze(-1) * p).sum(dim=1)

    def features(self, x):
        """Penultimate embedding.

        Parameters
        ----------
        x : Tensor of shape (n, T, 1, H, W)
            Normalised clips.

        Returns
        -------
        Tensor of shape (n, fc_dim)
        """
        return self.embed(self.fused_features(x))

    def head(self, f):
        """Logits from the frame embeddings: everything after the CNN.

        Parameters
        ----------
        f : Tensor of shape (n, T, cnn.feature_dim)

        Returns
        -------
        Tensor of shape (n, n_classes)
        """
        return self.classifier(self.embed(self.fuse(f)))

    def extra_repr(self):
        return f"n_classes={self.n_classes}, feature_dim={self.feature_dim}, fusion={self.fusion!r}"


def build_hybrid(n_classes, cnn=None, cnn_kwargs=None, rnn="lstm", hidden_size=128, num_layers=1, pooling="last",
                 fusion="concat", fusion_dim=128, fc_dim=128, bidirectional=False, dropout=0.5, rnn_inputs="features",
                 cnn_init=None):
    """Build a :class:`HybridCNNRNN`, optionally with a pretrained CNN, and record how to rebuild it.

    Parameters
    ----------
    n_classes : int
    cnn : str, optional
        Default ``"small"``, or the architecture of ``cnn_init``.
    cnn_kwargs : dict, optional
    rnn, hidden_size, num_layers, pooling, fusion, fusion_dim, fc_dim, bidirectional, dropout, rnn_inputs
        See :class:`HybridCNNRNN`.
    cnn_init : CNNInit, optional
        Start the CNN from these weights (:func:`load_cnn_init`; e.g. the
        FER-2013 model of notebook 03). Its architecture is used.

    Returns
    -------
    HybridCNNRNN
        With ``model.model_spec = {"factory": "fer_lib.models.temporal:build_hybrid",
        "kwargs": {...}, "init": "random" | "cnn:<source>"}``; ``kwargs``
        rebuild the architecture (a checkpoint's state dict supplies the weights).
    """
    name, kw = _frame_cnn(cnn, cnn_kwargs, cnn_init)
    kwargs = {"n_classes": int(n_classes), "cnn": name, "cnn_kwargs": kw, "rnn": rnn,
              "hidden_size": int(hidden_size), "num_layers": int(num_layers), "pooling": pooling,
              "fusion": fusion, "fusion_dim": int(fusion_dim), "fc_dim": int(fc_dim),
              "bidirectional": bool(bidirectional), "dropout": float(dropout), "rnn_inputs": rnn_inputs}
    model = HybridCNNRNN(**copy.deepcopy(kwargs))
    init = "random"
    if cnn_init is not None:
        load_cnn_weights(model.cnn, cnn_init)
        init = f"cnn:{cnn_init.source}"
    model.model_spec = {"factory": "fer_lib.models.temporal:build_hybrid", "kwargs": kwargs, "init": init}
    return model


# --------------------------------------------------------------------------- head warm-up


# --------------------------------------------------------------------------- checkpoints and throughput


__all__ = [
    "FUSIONS",
    "HybridCNNRNN",
    "POOLINGS",
    "RNN_INPUTS",
    "RNN_TYPES",
    "TEMPORAL_INPUTS",
    "TemporalPool",
    "TemporalRNN",
    "build_frame_cnn",
    "build_hybrid",
    "build_temporal",
    "motion_features",
]
