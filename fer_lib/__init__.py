"""fer_lib: helpers for a reproducible study of facial emotion recognition.

The notebooks in ``notebooks/`` tell the story; this package does the work.
One subpackage per room, each depending only on the rooms above it:

``core``
    errors, argument validation, paths, the device (CUDA or CPU, native
    bf16), reproducibility, the environment record, plots.
``data``
    FER-2013 (and its packed form), CK+, the label maps, subject folds, the
    data audit, the synthetic default data set.
``evaluate``
    one format for all predictions, statistics, the confusion analysis.
``faces``
    detection, alignment, data-set-level alignment, CK+ sequences.
``models``
    the CNNs, the temporal-only and hybrid CNN-RNN models, the landmark
    trajectory models, checkpoints, and ``init``: a model started from a
    trained CNN.
``train``
    recipes and the training loop, augmentation, the CK+ fold protocol, the
    head warm-up, benchmarks, the recipe search, the GPU check.
``experiments``
    the notebooks' experiment code: the alignment comparisons (notebook
    02), the spatial baseline and its tables (notebook 03), the temporal
    model (04), the hybrid (05), and the arms of the pre-registered landmark
    comparison (``book/protocol.md``).
``report``
    the results page: arms, tests, claims.
``video``
    video inference, ``fer-video``, and notebook 08's tables and summary.
``run``
    the notebook context (each notebook's declared ``upstream`` artefacts
    and ``products``), the pipeline (``fer-study``) and publishing.

Importing the package has no side effects: nothing is downloaded, seeded or
written until a function is called.
"""

__version__ = "0.1.0"
