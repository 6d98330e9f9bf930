"""Statistics of the study: paired model comparisons, calibration, accuracy CIs.

Used by notebook 06 (confusion matrices and calibration) and notebook 07
(paired tests between the spatial CNN, the temporal CNN-LSTM and the hybrid).

Two kinds of comparison live here, and they answer different questions:

* **Over folds** (:func:`paired_ttest`, :func:`wilcoxon_signed_rank`,
  :func:`corrected_resampled_ttest`, :func:`compare_fold_scores`): one score per
  fold and model, each fold a fresh training run. These are the comparisons of
  *learning procedures* that the study reports. With 5-10 folds they have little
  power, and the folds share training data, which the Nadeau-Bengio correction
  accounts for.
* **Over test samples** (:func:`mcnemar_test`, :func:`paired_bootstrap_diff`,
  :func:`accuracy_ci`): per-sample correctness of *one trained instance* of each
  model on the same test set. They describe test-set sampling uncertainty only;
  they say nothing about the variance due to training (seeds, data order, folds).
  :func:`naive_sample_ttest` reproduces a common misuse of this kind of data and
  is kept to show why it is misleading.

Submodules, each importing only the ones listed before it:

* ``common``: the ``as_dict()`` mixin of the results and the shared argument checks;
* ``paired``: paired tests on per-fold scores (t-test, Wilcoxon, Nadeau-Bengio corrected t-test);
* ``compare``: Holm's correction and :func:`compare_fold_scores` (all pairs of models, all three tests);
* ``samples``: tests over test samples (McNemar, paired bootstrap, Wilson CI, the naive t-test);
* ``calibration``: reliability curve and expected calibration error;
* ``equivalence``: equivalence and estimation for a pre-registered comparison (TOST on paired or
  Nadeau-Bengio corrected fold scores, Cohen's d_z with a noncentral-t CI, subject-level cluster bootstrap);
* ``power``: sensitivity of a design, the smallest mean difference a (corrected) paired t-test detects.

Every function validates its arguments at entry and raises ``ValueError`` with a
message naming the parameter, the allowed values and what was given. Results are
small frozen dataclasses with an ``as_dict()`` method (or plain floats / pandas
DataFrames), so that notebooks can build tables with ``pd.DataFrame``. The
public names below are importable from ``fer_lib.evaluate.stats`` itself.

Importing this package has no side effects; :mod:`pingouin` (slow to import) is
imported only when :func:`paired_ttest` is called.
"""

from fer_lib.evaluate.stats.calibration import (
    PROB_SUM_ATOL,
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
)
from fer_lib.evaluate.stats.compare import FOLD_TESTS, HolmResult, compare_fold_scores, holm_correction
from fer_lib.evaluate.stats.equivalence import (
    TOST_VERDICTS,
    ClusterBootstrapResult,
    EffectSizeResult,
    TOSTResult,
    cluster_bootstrap_diff,
    paired_effect_size,
    tost_paired,
)
from fer_lib.evaluate.stats.paired import (
    ALTERNATIVES,
    CorrectedTTestResult,
    PairedTTestResult,
    WilcoxonResult,
    corrected_resampled_ttest,
    paired_ttest,
    wilcoxon_signed_rank,
)
from fer_lib.evaluate.stats.power import DetectableDifferenceResult, smallest_detectable_difference
from fer_lib.evaluate.stats.samples import (
    BOOTSTRAP_CHUNK_ELEMENTS,
    MCNEMAR_EXACT_OPTIONS,
    MCNEMAR_EXACT_THRESHOLD,
    AccuracyCI,
    BootstrapResult,
    McNemarResult,
    NaiveTTestResult,
    accuracy_ci,
    mcnemar_test,
    naive_sample_ttest,
    paired_bootstrap_diff,
)

__all__ = [
    "ALTERNATIVES",
    "MCNEMAR_EXACT_OPTIONS",
    "MCNEMAR_EXACT_THRESHOLD",
    "FOLD_TESTS",
    "PROB_SUM_ATOL",
    "BOOTSTRAP_CHUNK_ELEMENTS",
    "PairedTTestResult",
    "WilcoxonResult",
    "CorrectedTTestResult",
    "HolmResult",
    "McNemarResult",
    "BootstrapResult",
    "NaiveTTestResult",
    "AccuracyCI",
    "ReliabilityCurve",
    "paired_ttest",
    "wilcoxon_signed_rank",
    "corrected_resampled_ttest",
    "holm_correction",
    "mcnemar_test",
    "paired_bootstrap_diff",
    "naive_sample_ttest",
    "accuracy_ci",
    "reliability_curve",
    "expected_calibration_error",
    "compare_fold_scores",
    "TOST_VERDICTS",
    "TOSTResult",
    "ClusterBootstrapResult",
    "EffectSizeResult",
    "DetectableDifferenceResult",
    "tost_paired",
    "cluster_bootstrap_diff",
    "paired_effect_size",
    "smallest_detectable_difference",
]
