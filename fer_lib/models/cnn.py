"""Spatial (single-frame) CNNs for 48x48 grayscale faces.

Every model here has the same interface, so that the training loop, the
benchmark and the hybrid CNN-LSTM (which runs a CNN on every frame of a clip
and reuses its per-frame features) can treat them alike:

- ``model(x)`` takes a tensor of shape ``(n, 1, H, W)`` and returns logits of
  shape ``(n, n_classes)``;
- ``model.features(x)`` returns the penultimate embedding, shape
  ``(n, model.feature_dim)``;
- ``model.classifier`` is the head (dropout then one linear layer), so that
  ``model(x) == model.classifier(model.features(x))`` (the forward pass of
  :class:`FeatureClassifier`, the base class of these CNNs and of the clip
  models of :mod:`fer_lib.models.temporal`);
- ``model.n_classes``, ``model.feature_dim`` and ``model.dropout`` are plain
  attributes;
- models made by :func:`build_model` carry ``model.model_spec``, a small dict
  (factory, keyword arguments) from which :func:`fer_lib.models.checkpoint.load_checkpoint`
  rebuilds the architecture.

All models end in global average pooling, so they accept any input side of 16
pixels or more (e.g. 44x44 crops), and they use only ops that keep the
``channels_last`` memory format (convolution, batch norm, ReLU, max pooling,
adaptive average pooling).

Importing this module has no side effects: nothing is downloaded or built.
"""

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from fer_lib.core.validation import check_fraction, check_option, check_positive_int

#: Names accepted by :func:`build_model`.
MODEL_NAMES = ("small", "vgg", "resnet18", "fastvgg")

#: File name of torchvision's ImageNet ResNet-18 weights (``ResNet18_Weights.IMAGENET1K_V1``).
RESNET18_IMAGENET_FILE = "resnet18-f37072fd.pth"
#: Where that file can be downloaded from (by the user, on a machine with network access).
RESNET18_IMAGENET_URL = "https://download.pytorch.org/models/" + RESNET18_IMAGENET_FILE


def _conv_bn_relu(c_in, c_out):
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


def _vgg_blocks(in_channels, widths, convs_per_block):
    layers = []
    c = in_channels
    for w in widths:
        for _ in range(convs_per_block):
            layers += _conv_bn_relu(c, w)
            c = w
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _init_weights(module):
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def _check_image_batch(x, name):
    if x.dim() != 4:
        raise ValueError(
            f"{name} expects a tensor of shape (n, 1, H, W); got shape {tuple(x.shape)}. "
            "Clips of shape (n, T, 1, H, W) are for the hybrid CNN-LSTM, which runs this "
            "CNN on every frame."
        )


class FeatureClassifier(nn.Module):
    """Base of every model of the study: ``forward(x) == classifier(features(x))``.

    Subclasses set ``n_classes``, ``feature_dim``, ``dropout`` and
    ``classifier`` and define ``features``; the spatial CNNs here and the clip
    models of :mod:`fer_lib.models.temporal` share this forward pass, so that the
    training loop and the fold runner treat them alike.
    """

    def forward(self, x):
        """Logits.

        Parameters
        ----------
        x : Tensor of shape (n, 1, H, W) or (n, T, 1, H, W)
            Normalised grayscale images (spatial CNNs) or clips (the models
            of :mod:`fer_lib.models.temporal`).

        Returns
        -------
        Tensor of shape (n, n_classes)
            Unnormalised class scores.
        """
        return self.classifier(self.features(x))

    def extra_repr(self):
        return f"n_classes={self.n_classes}, feature_dim={self.feature_dim}, dropout={self.dropout}"


class VGGFace48(FeatureClassifier):
    """From-scratch VGG-style CNN for 48x48 grayscale faces (~4.9M parameters).

    Four blocks of ``[conv3x3-BN-ReLU] x 2 + maxpool(2)`` with widths
    64-128-256-512 (48 -> 24 -> 12 -> 6 -> 3 pixels), global average pooling,
    then one fully connected layer ``512 -> fc_dim`` with ReLU: that is the
    embedding returned by :meth:`features`. The head :attr:`classifier` is
    ``Dropout(dropout) -> Linear(fc_dim, n_classes)``. This is the default
    spatial baseline for FER-2013.

    Parameters
    ----------
    n_classes : int, default=7
        Number of classes.
    dropout : float, default=0.5
        Dropout probability in the head.
    widths : tuple of int, default=(64, 128, 256, 512)
        Channels of the convolutional blocks (each block halves the side).
    fc_dim : int, default=512
        Size of the embedding (:attr:`feature_dim`).
    in_channels : int, default=1
        Input channels (1 for grayscale).

    Attributes
    ----------
    feature_dim : int
        Size of the embedding returned by :meth:`features`.
    classifier : nn.Sequential
        ``Dropout -> Linear(feature_dim, n_classes)``.
    """

    def __init__(self, n_classes=7, dropout=0.5, widths=(64, 128, 256, 512), fc_dim=512, in_channels=1):
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        self.dropout = check_fraction("dropout", dropout, 0.0, 1.0)
        widths = tuple(check_positive_int("widths", w) for w in widths)
        self.feature_dim = check_positive_int("fc_dim", fc_dim)
        self.conv = self._trunk(check_positive_int("in_channels", in_channels), widths)
        self.embed = nn.Sequential(nn.Linear(widths[-1], self.feature_dim), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.feature_dim, self.n_classes))
        _init_weights(self)

    def _trunk(self, in_channels, widths):
        """The convolutional layers: ``[conv3x3-BN-ReLU] x 2 + maxpool(2)`` per width."""
        return _vgg_blocks(in_channels, widths, 2)

    def features(self, x):
        """Penultimate embedding.

        Parameters
        ----------
        x : Tensor of shape (n, 1, H, W)
            Normalised grayscale images (H, W >= 2 ** len(widths): 16 for
            the four default blocks, 8 for :class:`SmallCNN`; 48 for FER-2013).

        Returns
        -------
        Tensor of shape (n, feature_dim)
        """
        _check_image_batch(x, type(self).__name__)
        x = self.conv(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.embed(x)


class SmallCNN(VGGFace48):
    """Small CNN (~0.3M parameters) for CPU smoke runs and tests.

    :class:`VGGFace48` with three blocks of widths ``width * (1, 2, 4)``
    (32-64-128 by default) and ``fc_dim=128``: three blocks of
    ``[conv3x3-BN-ReLU] x 2 + maxpool(2)``, global average pooling and
    ``Linear(4 * width, fc_dim) + ReLU`` as the embedding; head
    ``Dropout -> Linear(fc_dim, n_classes)``. Accepts inputs of side >= 8.

    Parameters
    ----------
    n_classes : int, default=7
        Number of classes.
    dropout : float, default=0.5
        Dropout probability in the head.
    width : int, default=32
        Channels of the first block (``width=8`` gives a ~20k-parameter model for tests).
    fc_dim : int, default=128
        Size of the embedding (:attr:`feature_dim`).
    in_channels : int, default=1
        Input channels.
    """

    def __init__(self, n_classes=7, dropout=0.5, width=32, fc_dim=128, in_channels=1):
        width = check_positive_int("width", width)
        super().__init__(n_classes, dropout, (width, 2 * width, 4 * width), fc_dim, in_channels)


class FastVGG48(VGGFace48):
    """Compute-efficient VGG for 48x48 faces: one cheap full-resolution conv, then 24x24 and below.

    A 3x3 stem ``1 -> stem_width`` at full resolution, max pooling (48 -> 24),
    then stages of ``[conv3x3-BN-ReLU] x 2`` with widths ``widths`` (24 -> 12
    -> 6 pixels for the default three, max pooling between stages), global
    average pooling and ``Linear(widths[-1], fc_dim) + ReLU`` as the
    embedding; head ``Dropout -> Linear(fc_dim, n_classes)``.

    Why this shape: in a plain VGG most of the compute goes into the convs at
    full resolution, where a 48x48 face carries little that a 24x24 map with
    32 channels loses. Moving the wide convs one octave down gives 4x the
    channels of :class:`SmallCNN` (1.2M parameters vs 0.3M) at about the
    same cost per image (~96M multiply-adds), which is what a CPU budget
    rewards. Dense 3x3 convs only (depthwise and grouped convs are slow on
    CPU), and only ops that keep ``channels_last``.

    Parameters
    ----------
    n_classes : int, default=7
        Number of classes.
    dropout : float, default=0.5
        Dropout probability in the head.
    stem_width : int, default=32
        Channels of the full-resolution stem conv.
    widths : tuple of int, default=(64, 128, 256)
        Channels of the stages after the stem (each stage but the last ends
        in a 2x max pool).
    fc_dim : int, default=256
        Size of the embedding (:attr:`feature_dim`).
    in_channels : int, default=1
        Input channels.
    """

    def __init__(self, n_classes=7, dropout=0.5, stem_width=32, widths=(64, 128, 256), fc_dim=256, in_channels=1):
        self.stem_width = check_positive_int("stem_width", stem_width)
        if not tuple(widths):
            raise ValueError("widths must name at least one stage; got ()")
        super().__init__(n_classes, dropout, widths, fc_dim, in_channels)

    def _trunk(self, in_channels, widths):
        """Stem conv at full resolution and max pooling, then ``[conv3x3-BN-ReLU] x 2`` per stage."""
        layers = _conv_bn_relu(in_channels, self.stem_width) + [nn.MaxPool2d(2)]
        c = self.stem_width
        for i, w in enumerate(widths):
            layers += _conv_bn_relu(c, w) + _conv_bn_relu(w, w)
            c = w
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)

def resnet18_weights_path():
    """Where :class:`ResNet18Gray` looks for ImageNet weights.

    Returns
    -------
    pathlib.Path
        ``<torch hub dir>/checkpoints/resnet18-f37072fd.pth``; the hub dir is
        ``torch.hub.get_dir()`` (``$TORCH_HOME/hub``, by default
        ``~/.cache/torch/hub``).
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_IMAGENET_FILE


def _load_resnet18_imagenet(weights_path=None):
    """Read torchvision's ImageNet ResNet-18 state dict from disk; never downloads."""
    path = Path(weights_path) if weights_path is not None else resnet18_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for ResNet18Gray not found at {path}. fer_lib never downloads "
            f"weights. On a machine with network access download {RESNET18_IMAGENET_URL} and "
            f"place it at {resnet18_weights_path()} (the torch hub cache: torch.hub.get_dir(), "
            "set TORCH_HOME to move it), or pass weights_path=<file>, or use pretrained=False "
            "for a random initialisation."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise ValueError(f"{path} is not a torchvision ResNet-18 state dict (no 'conv1.weight')")
    return state


def _area_matrix(n_in, n_out):
    """Matrix of shape (n_out, n_in) splitting each input tap among the output taps it overlaps.

    Columns sum to 1, so ``m @ w @ m.T`` resamples a kernel and keeps its sum.
    """
    edges = [j * n_in / n_out for j in range(n_out + 1)]
    m = torch.zeros(n_out, n_in)
    for j in range(n_out):
        for i in range(n_in):
            m[j, i] = max(0.0, min(edges[j + 1], i + 1) - max(edges[j], i))
    return m


class ResNet18Gray(FeatureClassifier):
    """torchvision ResNet-18 adapted to one input channel and small images.

    With ``small_input=True`` (default, for 48x48) the stem is a 3x3 stride-1
    convolution and the max pool is removed (48 -> 48 -> 24 -> 12 -> 6 in the
    four stages), as for CIFAR-sized inputs; with ``small_input=False`` the
    ImageNet stem (7x7 stride 2 + max pool) is kept, with one input channel.
    The embedding is the 512-d global-average-pooled output of ``layer4``;
    head ``Dropout -> Linear(512, n_classes)``.

    Parameters
    ----------
    n_classes : int, default=7
        Number of classes.
    dropout : float, default=0.5
        Dropout probability in the head.
    pretrained : bool, default=False
        Initialise from torchvision's ImageNet weights (``IMAGENET1K_V1``),
        read only from disk: ``weights_path`` or the torch hub cache (see
        :func:`resnet18_weights_path`). Nothing is downloaded; a missing file
        raises ``FileNotFoundError`` explaining where to put it. The RGB stem
        kernel is summed over colour channels (the grayscale-equivalent
        filter); for ``small_input`` it is then resampled from 7x7 to 3x3 by
        area weighting (each 7x7 tap is split among the 3x3 taps it overlaps),
        which keeps each filter's sum (its response to a flat patch). The ImageNet ``fc``
        is dropped.
    weights_path : str or path-like, optional
        Explicit weights file, used only when ``pretrained=True``.
    small_input : bool, default=True
        3x3 stride-1 stem without max pool (for 48x48 inputs).
    """

    def __init__(self, n_classes=7, dropout=0.5, pretrained=False, weights_path=None, small_input=True):
        super().__init__()
        from torchvision.models import resnet18

        self.n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        self.dropout = check_fraction("dropout", dropout, 0.0, 1.0)
        self.small_input = bool(small_input)
        net = resnet18(weights=None)  # never let torchvision download
        state = _load_resnet18_imagenet(weights_path) if pretrained else None
        if state is not None:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            w = state.pop("conv1.weight").sum(dim=1, keepdim=True)  # (64, 1, 7, 7)
            if self.small_input:
                m = _area_matrix(w.shape[-1], 3)
                w = m @ w @ m.T  # (64, 1, 3, 3), same sum per filter
            missing, unexpected = net.load_state_dict(state, strict=False)
            if unexpected or set(missing) - {"conv1.weight", "fc.weight", "fc.bias"}:
                raise ValueError(f"unexpected ResNet-18 weights: missing={missing}, unexpected={unexpected}")
        if self.small_input:
            net.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        else:
            net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if state is not None:
            with torch.no_grad():
                net.conv1.weight.copy_(w)
        else:
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.pretrained = bool(pretrained)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.feature_dim = 512
        self.classifier = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(512, self.n_classes))

    def features(self, x):
        """Penultimate embedding.

        Parameters
        ----------
        x : Tensor of shape (n, 1, H, W)
            Normalised grayscale images.

        Returns
        -------
        Tensor of shape (n, 512)
        """
        _check_image_batch(x, type(self).__name__)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


_MODEL_CLASSES = {"small": SmallCNN, "vgg": VGGFace48, "resnet18": ResNet18Gray, "fastvgg": FastVGG48}


def build_model(name, n_classes, dropout=0.5, **kw):
    """Build a model by name and record how to rebuild it.

    Parameters
    ----------
    name : {"small", "vgg", "resnet18", "fastvgg"}
        :class:`SmallCNN`, :class:`VGGFace48`, :class:`ResNet18Gray` or :class:`FastVGG48`.
    n_classes : int
        Number of classes (>= 2).
    dropout : float, default=0.5
        Dropout probability in the head.
    **kw
        Further keyword arguments of the model class (e.g. ``width=8`` for
        ``"small"``, ``pretrained=True`` for ``"resnet18"``).

    Returns
    -------
    torch.nn.Module
        The model, with ``model.model_spec = {"factory": "fer_lib.models.cnn:build_model",
        "kwargs": {...}, "init": "random" | "imagenet"}``. ``kwargs`` rebuild the
        architecture without pretrained weights (a checkpoint's state dict
        supplies them); ``init`` records how the weights were initialised.

    Raises
    ------
    ValueError
        For an unknown ``name`` (the message lists :data:`MODEL_NAMES`) or bad arguments.
    """
    check_option("name", name, MODEL_NAMES)
    cls = _MODEL_CLASSES[name]
    model = cls(n_classes=n_classes, dropout=dropout, **kw)
    rebuild = {k: (os.fspath(v) if isinstance(v, Path) else v) for k, v in kw.items()}
    pretrained = bool(rebuild.pop("pretrained", False))
    rebuild.pop("weights_path", None)
    rebuild = {k: (list(v) if isinstance(v, tuple) else v) for k, v in rebuild.items()}
    model.model_spec = {
        "factory": "fer_lib.models.cnn:build_model",
        "kwargs": {"name": name, "n_classes": int(n_classes), "dropout": float(dropout), **rebuild},
        "init": "imagenet" if pretrained else "random",
    }
    return model


def count_parameters(model, trainable_only=True):
    """Number of parameters.

    Parameters
    ----------
    model : torch.nn.Module
    trainable_only : bool, default=True
        Count only parameters with ``requires_grad``.

    Returns
    -------
    int
    """
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))
