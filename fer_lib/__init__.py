"""fer_lib: helpers for a reproducible study of facial emotion recognition.

The notebooks in ``notebooks/`` tell the story; this package does the work:
data loading (:mod:`fer_lib.fer2013`, :mod:`fer_lib.ckplus`), the synthetic
default data set (:mod:`fer_lib.synthetic`), subject-independent splits
(:mod:`fer_lib.splits`), the data audit (:mod:`fer_lib.audit`), statistics
(:mod:`fer_lib.stats`) and the pipeline that runs the notebooks and builds the
book (:mod:`fer_lib.pipeline`).

Importing the package has no side effects: nothing is downloaded, seeded or
written until a function is called.
"""

__version__ = "0.1.0"
