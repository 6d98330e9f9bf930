"""Deterministic procedural faces with expressions: the embedded default data set.

This package draws grayscale cartoon faces (head, hair, ears, brows, eyes, nose,
mouth, wrinkles) from a per-subject *identity* and an *expression* parameter
vector, applies nuisance variation (pose, scale, translation, illumination,
blur, noise, occlusion) and writes the result to disk in the formats of the
real data sets, so that the whole study (loaders included) runs end to end on
a CPU in minutes without downloading anything.

Submodules, each importing only the ones listed before it:

* ``config``: :class:`SyntheticConfig`, the generator's name and version, the random-stream tags;
* ``expressions``: the eight expressions as parameter vectors, their intensity profiles (the positive control);
* ``identity``: who the face is (:class:`Identity`, :func:`sample_identity`);
* ``nuisance``: pose, illumination, blur, noise, occlusion (:class:`Nuisance`, :func:`sample_nuisance`);
* ``geometry``: the canonical shapes and 68 landmarks of an identity with an expression;
* ``render``: drawing one face (:func:`render_face`);
* ``fer_images``: the FER-2013 images (:func:`make_fer_images`, :func:`fer_class_counts`);
* ``ck_sequences``: the CK+ sequences and CK+48 crops (:func:`iter_sequences`, :func:`ckplus48_crop`);
* ``write``: the data set on disk and its manifest (:func:`write_synthetic_dataset`,
  :func:`ensure_synthetic_dataset`).

The public names below are importable from ``fer_lib.data.synthetic`` itself.
"""

from fer_lib.data.synthetic.ck_sequences import ckplus48_crop, iter_sequences, make_sequences
from fer_lib.data.synthetic.config import GENERATOR_NAME, GENERATOR_VERSION, SyntheticConfig
from fer_lib.data.synthetic.expressions import (
    EXPRESSION_APEX,
    EXPRESSION_PARAMETERS,
    POSITIVE_CONTROL_CLASSES,
    SYNTHETIC_EXPRESSIONS,
    expression_vector,
    intensity_profile,
)
from fer_lib.data.synthetic.fer_images import (
    FER2013_CLASS_WEIGHTS,
    SYNTHETIC_TO_FER2013,
    fer_class_counts,
    make_fer_images,
)
from fer_lib.data.synthetic.identity import Identity, sample_identity
from fer_lib.data.synthetic.nuisance import Nuisance, sample_nuisance
from fer_lib.data.synthetic.render import render_face
from fer_lib.data.synthetic.write import ensure_synthetic_dataset, write_synthetic_dataset

__all__ = [
    "GENERATOR_NAME",
    "GENERATOR_VERSION",
    "SYNTHETIC_EXPRESSIONS",
    "POSITIVE_CONTROL_CLASSES",
    "EXPRESSION_PARAMETERS",
    "EXPRESSION_APEX",
    "SYNTHETIC_TO_FER2013",
    "FER2013_CLASS_WEIGHTS",
    "SyntheticConfig",
    "Identity",
    "Nuisance",
    "intensity_profile",
    "expression_vector",
    "sample_identity",
    "sample_nuisance",
    "render_face",
    "fer_class_counts",
    "make_fer_images",
    "make_sequences",
    "iter_sequences",
    "ckplus48_crop",
    "write_synthetic_dataset",
    "ensure_synthetic_dataset",
]
