"""Starting a model from a trained spatial CNN: its architecture and weights without the class head.

The one path from a FER-2013 checkpoint to a CNN that the CK+ transfer
(notebook 03) and the hybrids (notebook 05) start from.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CNNInit:
    """A spatial CNN's architecture and weights without its class head, to start another model from.

    Read by :func:`load_cnn_init`; used by :func:`transfer_model` (the CK+
    per-frame classifier of notebook 03) and by the hybrid of notebook 05
    (:func:`fer_lib.models.temporal.build_hybrid`, :func:`fer_lib.models.temporal.build_frame_cnn`).

    Attributes
    ----------
    cnn : str
        One of :data:`fer_lib.models.cnn.MODEL_NAMES`.
    cnn_kwargs : dict
        Architecture keyword arguments of :func:`fer_lib.models.cnn.build_model`
        (without ``name``, ``n_classes`` and ``dropout``).
    state_dict : dict
        Weights of the CNN without its class head (``classifier.*`` removed).
    source : str
        Where they came from (the checkpoint's file name).
    metadata : dict
        The checkpoint's metadata (class names, preprocessing, recipe, ...).
    """

    cnn: str
    cnn_kwargs: dict
    state_dict: dict
    source: str
    metadata: dict


def load_cnn_init(path):
    """Read a spatial CNN checkpoint (e.g. notebook 03's FER-2013 model) without its class head.

    Parameters
    ----------
    path : str or path-like
        A checkpoint written by :func:`fer_lib.train.loop.train_model` for a model
        built by :func:`fer_lib.models.cnn.build_model` (``best.pt``,
        ``spatial_fer2013.pt``).

    Returns
    -------
    CNNInit

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the checkpoint is not of a :func:`fer_lib.models.cnn.build_model` CNN.
    """
    from fer_lib.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path, device="cpu")
    spec = meta["model_spec"]
    if spec.get("factory") != "fer_lib.models.cnn:build_model":
        raise ValueError(
            f"{path}: a CNN initialisation needs a checkpoint of a fer_lib.models.cnn:build_model model; the "
            f"checkpoint holds {spec.get('factory')!r}"
        )
    kwargs = dict(spec["kwargs"])
    name = kwargs.pop("name")
    kwargs.pop("n_classes", None)
    kwargs.pop("dropout", None)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("classifier.")}
    return CNNInit(name, kwargs, state, Path(path).name, meta)


def load_cnn_weights(cnn, cnn_init):
    """Copy the weights of ``cnn_init`` into a CNN of its architecture; its class head is left as it is.

    Parameters
    ----------
    cnn : torch.nn.Module
        A :func:`fer_lib.models.cnn.build_model` model with the architecture of
        ``cnn_init`` (any class head, or none).
    cnn_init : CNNInit

    Raises
    ------
    ValueError
        If the weights do not fit ``cnn`` (other than its class head).
    """
    missing, unexpected = cnn.load_state_dict(cnn_init.state_dict, strict=False)
    missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise ValueError(f"cnn_init {cnn_init.source} does not fit the CNN: missing {missing}, unexpected {unexpected}")


def cnn_from_init(cnn_init, n_classes, dropout=0.5):
    """A new classifier for ``n_classes`` with the architecture and weights of ``cnn_init`` and a fresh head.

    Parameters
    ----------
    cnn_init : CNNInit
    n_classes : int
    dropout : float, default=0.5
        Dropout of the new head.

    Returns
    -------
    torch.nn.Module
        A :func:`fer_lib.models.cnn.build_model` model; every weight except the
        class head (``classifier.*``, freshly initialised) copied from
        ``cnn_init``. The caller records the origin in ``model.model_spec["init"]``.
    """
    from fer_lib.models.cnn import build_model

    model = build_model(cnn_init.cnn, n_classes, dropout=dropout, **cnn_init.cnn_kwargs)
    load_cnn_weights(model, cnn_init)
    return model


def transfer_model(checkpoint, n_classes, dropout=0.5):
    """A new classifier for ``n_classes`` whose feature weights come from a FER-2013 checkpoint.

    Parameters
    ----------
    checkpoint : path-like
        A ``best.pt`` / ``spatial_fer2013.pt`` written by
        :func:`fer_lib.train.loop.train_model` for a :func:`fer_lib.models.cnn.build_model` model.
    n_classes : int
        Classes of the new task (e.g. 7 or 6 for CK+).
    dropout : float, default=0.5
        Dropout of the new head.

    Returns
    -------
    torch.nn.Module
        Same architecture as the checkpoint's model; every weight except the
        class head (``classifier.*``, freshly initialised) copied from it
        (:func:`load_cnn_init`, :func:`cnn_from_init`).
        ``model.model_spec["init"]`` is ``"fer2013:<file name>"``.

    Raises
    ------
    ValueError
        If the checkpoint's model was not built by :func:`fer_lib.models.cnn.build_model`.
    """
    cnn_init = load_cnn_init(checkpoint)
    model = cnn_from_init(cnn_init, n_classes, dropout=dropout)
    model.model_spec["init"] = f"fer2013:{cnn_init.source}"
    return model
