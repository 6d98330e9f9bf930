"""The landmark-trajectory network of the pre-registered comparison (``book/protocol.md``, H1 and H2).

One network for every arm: only its input differs between arms
(:mod:`fer_lib.experiments.landmark_arms` builds the inputs). It reads ``T``
frames of 136 normalised landmark coordinates (68 points, ``x0, y0, ...,
x67, y67``; :func:`fer_lib.faces.landmarks.trajectory_features`):

1. a per-frame encoder, the same weights for every frame:
   ``Linear(136 -> encoder_dim) -> LayerNorm -> GELU``;
2. a temporal module over the ``T`` encoded frames (:data:`LANDMARK_CELLS`):
   a one-layer GRU and its last state (the protocol's network), a one-layer
   LSTM and its last state, or a one-layer GRU whose outputs at every frame are
   pooled by learned attention weights (the seed papers' attention pooling,
   :class:`fer_lib.models.temporal.TemporalPool`) instead of its last state;
   the LSTM and attention variants are the protocol's secondary analysis 2;
3. optionally (H2) an appearance vector per sequence, e.g. the frozen
   256-unit CNN embedding of the apex image: ``LayerNorm(appearance_dim)``,
   concatenated with the temporal summary;
4. ``Dropout -> Linear(feature_dim, n_classes)`` (:attr:`LandmarkGRU.classifier`).

The model follows the interface of :mod:`fer_lib.models.cnn`
(``model(x) == model.classifier(model.features(x))``, ``n_classes``,
``feature_dim``, ``dropout``; :func:`build_landmark_model` records
``model_spec``), with one difference: with ``appearance_dim > 0``,
:meth:`LandmarkGRU.forward` and :meth:`LandmarkGRU.features` take the
appearance vectors as a second argument.
"""

import torch
from torch import nn

from fer_lib.core.validation import check_fraction, check_option, check_positive_int
from fer_lib.models.cnn import FeatureClassifier
from fer_lib.models.temporal import TemporalPool

#: Temporal modules of :class:`LandmarkGRU`: ``"gru"`` (the protocol's network,
#: last state), ``"lstm"`` (last state) and ``"attention"`` (a GRU whose
#: per-frame outputs are averaged with learned attention weights).
LANDMARK_CELLS = ("gru", "lstm", "attention")

#: Values per frame of the protocol's input: 68 landmarks times (x, y).
LANDMARK_INPUT_DIM = 136


class LandmarkGRU(FeatureClassifier):
    """Per-frame landmark encoder, a recurrent layer over the frames, optional appearance branch, linear head.

    Parameters
    ----------
    n_classes : int
        Number of classes, at least 2.
    input_dim : int, default=136
        Values per frame.
    encoder_dim : int, default=64
        Width of the per-frame encoder ``Linear -> LayerNorm -> GELU``.
    hidden_size : int, default=64
        Units of the GRU or LSTM.
    dropout : float, default=0.2
        Dropout before the classifier.
    cell : {"gru", "lstm", "attention"}, default="gru"
        Temporal module, see :data:`LANDMARK_CELLS`.
    appearance_dim : int, default=0
        Size of the appearance vector of each sequence (0: no appearance
        branch). When positive, the vector goes through ``LayerNorm`` and is
        concatenated with the temporal summary.

    Attributes
    ----------
    encoder : nn.Sequential
        ``Linear(input_dim, encoder_dim) -> LayerNorm(encoder_dim) -> GELU``, applied to every frame.
    rnn : nn.GRU or nn.LSTM
        One layer, ``batch_first``.
    pool : TemporalPool
        ``"last"`` for ``"gru"``/``"lstm"``, ``"attention"`` for ``"attention"``.
    appearance_norm : nn.LayerNorm or None
    feature_dim : int
        ``hidden_size + appearance_dim``.
    classifier : nn.Sequential
        ``Dropout(dropout) -> Linear(feature_dim, n_classes)``.
    """

    def __init__(self, n_classes, input_dim=LANDMARK_INPUT_DIM, encoder_dim=64, hidden_size=64, dropout=0.2,
                 cell="gru", appearance_dim=0):
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.encoder_dim = check_positive_int("encoder_dim", encoder_dim)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.dropout = check_fraction("dropout", dropout, 0.0, 1.0)
        self.cell = check_option("cell", cell, LANDMARK_CELLS)
        self.appearance_dim = check_positive_int("appearance_dim", appearance_dim, minimum=0)
        self.encoder = nn.Sequential(nn.Linear(self.input_dim, self.encoder_dim), nn.LayerNorm(self.encoder_dim),
                                     nn.GELU())
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(self.encoder_dim, self.hidden_size, num_layers=1, batch_first=True)
        self.pool = TemporalPool(self.hidden_size, "attention" if cell == "attention" else "last")
        self.appearance_norm = nn.LayerNorm(self.appearance_dim) if self.appearance_dim else None
        self.feature_dim = self.hidden_size + self.appearance_dim
        self.classifier = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.feature_dim, self.n_classes))

    def _check_x(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[2] != self.input_dim or x.shape[1] < 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects x of shape (n, T, {self.input_dim}) with T >= 1; "
                             f"got {shape}")

    def _check_appearance(self, x, appearance):
        if self.appearance_dim == 0:
            if appearance is not None:
                raise ValueError("this model has no appearance branch (appearance_dim=0); pass appearance=None "
                                 "or build it with appearance_dim > 0")
            return
        expected = (x.shape[0], self.appearance_dim)
        if not isinstance(appearance, torch.Tensor) or tuple(appearance.shape) != expected:
            got = "None" if appearance is None else (
                tuple(appearance.shape) if isinstance(appearance, torch.Tensor) else type(appearance).__name__)
            raise ValueError(f"appearance must be a tensor of shape (n, appearance_dim) = {expected}; got {got}")

    def temporal_features(self, x):
        """The temporal summary of each sequence, before the appearance branch.

        Parameters
        ----------
        x : Tensor of shape (n, T, input_dim), float32
            Frames in order.

        Returns
        -------
        Tensor of shape (n, hidden_size)
            The last state of the GRU/LSTM, or the attention-weighted mean
            of the GRU's outputs (``cell="attention"``).
        """
        self._check_x(x)
        return self._summary(x)

    def _summary(self, x):
        outputs, state = self.rnn(self.encoder(x))
        h_n = state[0] if isinstance(state, tuple) else state  # (1, n, hidden_size)
        return self.pool(outputs, h_n[-1])

    def features(self, x, appearance=None):
        """Penultimate embedding: the temporal summary, then the normalised appearance vector if any.

        Parameters
        ----------
        x : Tensor of shape (n, T, input_dim), float32
            Frames in order.
        appearance : Tensor of shape (n, appearance_dim), optional
            Required when ``appearance_dim > 0``, refused otherwise.

        Returns
        -------
        Tensor of shape (n, feature_dim)
        """
        self._check_x(x)
        self._check_appearance(x, appearance)
        f = self._summary(x)
        if self.appearance_dim:
            f = torch.cat([f, self.appearance_norm(appearance)], dim=1)
        return f

    def forward(self, x, appearance=None):
        """Logits.

        Parameters
        ----------
        x : Tensor of shape (n, T, input_dim), float32
        appearance : Tensor of shape (n, appearance_dim), optional
            See :meth:`features`.

        Returns
        -------
        Tensor of shape (n, n_classes)
        """
        return self.classifier(self.features(x, appearance))

    def extra_repr(self):
        return (f"n_classes={self.n_classes}, cell={self.cell!r}, feature_dim={self.feature_dim}, "
                f"appearance_dim={self.appearance_dim}, dropout={self.dropout}")


def build_landmark_model(n_classes, input_dim=LANDMARK_INPUT_DIM, encoder_dim=64, hidden_size=64, dropout=0.2,
                         cell="gru", appearance_dim=0):
    """Build a :class:`LandmarkGRU` and record how to rebuild it.

    Parameters
    ----------
    n_classes : int
    input_dim, encoder_dim, hidden_size, dropout, cell, appearance_dim
        See :class:`LandmarkGRU`.

    Returns
    -------
    LandmarkGRU
        With ``model.model_spec = {"factory": "fer_lib.models.landmarks:build_landmark_model",
        "kwargs": {...}, "init": "random"}``, the convention of
        :func:`fer_lib.models.checkpoint.load_checkpoint`.
    """
    model = LandmarkGRU(n_classes, input_dim=input_dim, encoder_dim=encoder_dim, hidden_size=hidden_size,
                        dropout=dropout, cell=cell, appearance_dim=appearance_dim)  # validates the arguments
    kwargs = {"n_classes": model.n_classes, "input_dim": model.input_dim, "encoder_dim": model.encoder_dim,
              "hidden_size": model.hidden_size, "dropout": model.dropout, "cell": model.cell,
              "appearance_dim": model.appearance_dim}
    model.model_spec = {"factory": "fer_lib.models.landmarks:build_landmark_model", "kwargs": kwargs,
                        "init": "random"}
    return model


__all__ = ["LANDMARK_CELLS", "LANDMARK_INPUT_DIM", "LandmarkGRU", "build_landmark_model"]
