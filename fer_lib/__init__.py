"""fer_lib: helpers for a reproducible study of facial emotion recognition.

The notebooks in ``notebooks/`` tell the story; this package does the work.

Data
    :mod:`~fer_lib.fer2013`, :mod:`~fer_lib.ckplus` (loaders),
    :mod:`~fer_lib.synthetic` (the embedded default data set),
    :mod:`~fer_lib.splits` (subject-independent folds), :mod:`~fer_lib.audit`.
Faces
    :mod:`~fer_lib.detection` (MTCNN, Haar, landmarks), :mod:`~fer_lib.alignment`
    (similarity alignment, normalisation, tracking, resampling, cache),
    :mod:`~fer_lib.faces` (data-set-level alignment), :mod:`~fer_lib.sequences`.
Models and training
    :mod:`~fer_lib.models` (CNNs), :mod:`~fer_lib.temporal` (temporal-only and
    hybrid CNN-RNN), :mod:`~fer_lib.augment`, :mod:`~fer_lib.training`,
    :mod:`~fer_lib.experiments` (the CK+ fold protocol), :mod:`~fer_lib.spatial`,
    :mod:`~fer_lib.benchmark` (throughput against the machine's measured peak),
    :mod:`~fer_lib.recipe_search` (architecture and recipe chosen on PublicTest),
    :mod:`~fer_lib.gpu_check` (``make gpu-check``: the CUDA-only branches in one short run).
Evaluation
    :mod:`~fer_lib.predictions` (one format for all predictions),
    :mod:`~fer_lib.stats`, :mod:`~fer_lib.confusion`, :mod:`~fer_lib.report`.
Running
    :mod:`~fer_lib.pipeline` (``fer-study``), :mod:`~fer_lib.video`
    (``fer-video``), :mod:`~fer_lib.study`, :mod:`~fer_lib.paths`.

Importing the package has no side effects: nothing is downloaded, seeded or
written until a function is called.
"""

__version__ = "0.1.0"
