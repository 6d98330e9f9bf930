"""The seed papers' claims next to what this run measures, and their t-test beside the valid ones.

:data:`CLAIMS` lists every headline number of the seed papers with the study
configurations that come closest; :func:`claims_vs_measured` measures them in a
run (notebook 07's ``claims_vs_measured.csv``). :func:`naive_vs_valid` puts the
papers' per-sample t-test beside the tests of :mod:`fer_lib.report.paired_tests`
that can support a conclusion.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option
from fer_lib.evaluate import stats
from fer_lib.report.arms import (
    REPORT_SPLITS,
    is_cross,
    primary_variant,
    seed_accuracies,
    select_arm,
    set_label,
)
from fer_lib.report.paired_tests import fold_scores, fold_sizes, paired_correctness

__all__ = [
    "Claim",
    "CLAIM_KINDS",
    "CLAIMS",
    "CLAIM_COLUMNS",
    "NOT_MEASURED",
    "claims_vs_measured",
    "cand_desc",
    "naive_vs_valid",
]


@dataclass(frozen=True)
class Claim:
    """One headline number of a seed paper and where this study measures its counterpart.

    Attributes
    ----------
    claim_id : str
    source : str
        Which seed paper (``"seed paper A"`` / ``"seed paper B"``).
    claim : str
        What was claimed, in words.
    reported : float
        The number as reported (a percentage, or a t statistic).
    unit : {"%", "t"}
    protocol_reported : str
        The protocol as the paper reports it.
    kind : {"accuracy", "naive_ttest"}
        How the measured counterpart is computed.
    candidates : tuple of dict
        Configurations of this study tried in order (keys ``dataset``,
        ``protocol``, ``model``, optional ``variant``; for ``naive_ttest`` also
        ``model_b``); the first present in the run is measured.
    """

    claim_id: str
    source: str
    claim: str
    reported: float
    unit: str
    protocol_reported: str
    kind: str = "accuracy"
    candidates: tuple = field(default_factory=tuple)


#: How a claim's counterpart is measured (:attr:`Claim.kind`).
CLAIM_KINDS = ("accuracy", "naive_ttest")

_FER_SPATIAL = {"dataset": "fer2013", "protocol": "canonical", "model": "spatial"}
_FER_HYBRID = {"dataset": "fer2013", "protocol": "canonical", "model": "hybrid"}

#: The seed papers' headline numbers (as the issue quotes them), each with the
#: study configurations that come closest, tried in order.
CLAIMS = (
    Claim("A-ckplus-hybrid", "seed paper A", "CNN-LSTM hybrid on CK+", 88.4, "%",
          "CK+ accuracy as claimed; split (by subject or not) and model selection not stated in a checkable form",
          candidates=({"dataset": "ckplus48", "protocol": "7class", "model": "hybrid"},)),
    Claim("A-fer-spatial", "seed paper A", "spatial CNN on FER-2013", 80.0, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=(_FER_SPATIAL,)),
    Claim("B-fer-cnn-rnn", "seed paper B", "CNN-RNN on FER-2013", 86.7, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=({"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "variant": "cnn-rnn"},
                      _FER_HYBRID)),
    Claim("B-fer-attention", "seed paper B", "CNN-RNN with attention on FER-2013", 87.5, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=({"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "variant": "attention"},
                      _FER_HYBRID)),
    Claim("B-fer-augment", "seed paper B", "CNN-RNN with augmentation on FER-2013", 89.0, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=({"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "variant": "augment"},
                      _FER_HYBRID)),
    Claim("B-own-videos", "seed paper B", "accuracy on the paper's own videos", 100.0, "%",
          "the authors' own videos, as claimed; not a test set this study can obtain", candidates=()),
    Claim("A-ttest", "seed paper A", "hybrid beats spatial: paired t-test", 7.82, "t",
          "paired t-test over test samples, t = 7.82, p < 0.05, n = number of test samples",
          kind="naive_ttest",
          candidates=({"dataset": "ckplus48", "protocol": "7class", "model": "hybrid", "model_b": "spatial"},
                      {"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "model_b": "spatial"})),
)

#: Columns of the claims table (``claims_vs_measured.csv``).
CLAIM_COLUMNS = ("claim_id", "source", "claim", "reported", "unit", "protocol_reported", "measured",
                 "measured_config", "protocol_measured", "note")

#: Text of the ``measured`` column when a claim has no counterpart in the run.
NOT_MEASURED = "not measured in this run"


def _protocol_text(dataset, protocol, split, n_seeds, n_folds):
    seeds = f"mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if dataset == "fer2013" and not is_cross(protocol):
        return f"FER-2013 {split}, trained on Training, selected on PublicTest; {seeds}"
    if n_folds:
        return (f"{set_label(dataset, protocol)}: {n_folds} subject-independent test folds, accuracy pooled "
                f"over the folds; {seeds}")
    return f"{set_label(dataset, protocol)} {split}; {seeds}"


def _find(sets, cand):
    frame = sets.get((cand["dataset"], cand["protocol"]))
    if frame is None:
        return None, None
    part = frame[frame["split"].isin(REPORT_SPLITS)]
    variant = cand.get("variant") or primary_variant(part, cand["model"])
    if variant is None or select_arm(part, cand["model"], variant).empty:
        return None, None
    return part, variant


def claims_vs_measured(sets):
    """The seed papers' claims (:data:`CLAIMS`) next to this run's closest measurements.

    For each claim, the first candidate configuration present in ``sets`` is
    measured: for accuracies, the headline accuracy of :func:`fer_lib.report.arms.headline_table`
    (in %); for the t-test claim, :func:`fer_lib.evaluate.stats.naive_sample_ttest`
    between the hybrid and the spatial primary arms on the first seed both
    ran (reproducing the paper's computation), with the valid fold-level
    corrected resampled t-test beside it in ``note``.

    Parameters
    ----------
    sets : dict of (str, str) to DataFrame
        Output of :func:`fer_lib.report.arms.collect_test_sets`.

    Returns
    -------
    DataFrame
        Columns :data:`CLAIM_COLUMNS`, one row per claim; ``measured`` is a
        number, or :data:`NOT_MEASURED` when no candidate is in the run.
    """
    rows = []
    for claim in CLAIMS:
        check_option("kind", claim.kind, CLAIM_KINDS)
        row = {"claim_id": claim.claim_id, "source": claim.source, "claim": claim.claim,
               "reported": claim.reported, "unit": claim.unit, "protocol_reported": claim.protocol_reported,
               "measured": NOT_MEASURED, "measured_config": "", "protocol_measured": "", "note": ""}
        if not claim.candidates:
            row["note"] = "no counterpart in this study (the paper's own videos are not part of it)"
        for k, cand in enumerate(claim.candidates):
            part, variant = _find(sets, cand)
            if part is None:
                continue
            arm = select_arm(part, cand["model"], variant)
            split = sorted(arm["split"].unique())[0]
            arm = arm[arm["split"] == split]
            config = f"{cand['model']}/{variant}"
            if "notebook" in arm.columns:
                config += f" ({', '.join(sorted(arm['notebook'].unique()))})"
            n_folds = len(set(arm["fold"]) - {-1})
            if claim.kind == "accuracy":
                acc = seed_accuracies(arm)
                row.update(measured=round(100 * float(acc.mean()), 2), measured_config=config,
                           protocol_measured=_protocol_text(cand["dataset"], cand["protocol"], split, len(acc),
                                                            n_folds))
            else:
                variant_b = primary_variant(part, cand["model_b"])
                if variant_b is None:
                    continue
                seeds = sorted(set(arm["seed"]) & set(select_arm(part, cand["model_b"], variant_b, split)["seed"]))
                if not seeds:
                    continue
                ca, cb, _ = paired_correctness(part, (cand["model"], variant), (cand["model_b"], variant_b), split, seeds[0])
                nv = stats.naive_sample_ttest(ca, cb)
                row.update(measured=round(nv.t, 2) if np.isfinite(nv.t) else "undefined (no variance)",
                           measured_config=f"{cand['model']}/{variant} vs {cand['model_b']}/{variant_b}",
                           protocol_measured=(f"{set_label(cand['dataset'], cand['protocol'])} {split}, seed "
                                              f"{seeds[0]}: paired t-test over n = {nv.n} test samples"))
                notes = [f"naive p = {nv.p:.3g}" if np.isfinite(nv.p) else "naive p undefined"]
                if n_folds > 1:
                    scores = fold_scores(part, {cand["model"]: variant, cand["model_b"]: variant_b}, split=split)
                    if len(scores) > 1:
                        sz = fold_sizes(part, split).reindex(scores.index)
                        nb = stats.corrected_resampled_ttest(scores[cand["model"]], scores[cand["model_b"]],
                                                             sz["n_train"].to_numpy(), sz["n_test"].to_numpy())
                        p_text = f"{nb.p:.3g}" if np.isfinite(nb.p) else "undefined"
                        notes.append(f"valid fold-level corrected resampled t-test over {nb.n} folds: "
                                     f"t = {nb.t:.2f}, p = {p_text}")
                row["note"] = "; ".join(notes)
            if k > 0 and claim.kind == "accuracy":
                row["note"] = (f"no {cand_desc(claim.candidates[0])} in this run; closest: "
                               f"{cand['model']}/{variant} on the same test set")
            break
        if claim.candidates and row["measured"] == NOT_MEASURED:
            # a claim about one model family is never set against another (e.g. a hybrid's against a spatial CNN)
            row["note"] = f"no {cand_desc(claim.candidates[0])} in this run"
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def cand_desc(cand):
    """Words for a candidate configuration, e.g. ``"hybrid/attention on FER-2013"``."""
    arm = cand["model"] + (f"/{cand['variant']}" if cand.get("variant") else "")
    return f"{arm} on {set_label(cand['dataset'], cand['protocol'])}"


def naive_vs_valid(tests):
    """The seed papers' per-sample t-test beside the tests that can support a conclusion.

    Parameters
    ----------
    tests : DataFrame
        Rows of :data:`fer_lib.report.paired_tests.PAIRED_TEST_COLUMNS` (fold- and sample-level results of
        the same comparisons).

    Returns
    -------
    DataFrame
        One row per sample-level comparison (test set, split, seed, arms) with
        ``naive_t``, ``naive_p`` (the invalid test), ``mcnemar_p``,
        ``diff`` / ``boot_low`` / ``boot_high`` (paired bootstrap CI of the
        accuracy difference) and, when the same arms were compared over folds,
        ``fold_ttest_p``, ``corrected_p`` and ``corrected_p_holm`` (accuracy).
    """
    keys = ["dataset", "protocol", "split", "seed", "model_a", "variant_a", "model_b", "variant_b"]
    cols = keys + ["n", "naive_t", "naive_p", "mcnemar_p", "diff", "boot_low", "boot_high", "fold_ttest_p",
                   "corrected_p", "corrected_p_holm"]
    samp = tests[tests["level"] == "sample"]
    if samp.empty:
        return pd.DataFrame(columns=cols)
    naive = samp[samp["test"] == "naive_sample_ttest"].set_index(keys)
    out = naive[["n"]].copy()
    out["naive_t"], out["naive_p"] = naive["statistic"], naive["p"]
    out["mcnemar_p"] = samp[samp["test"] == "mcnemar"].set_index(keys)["p"]
    boot = samp[samp["test"] == "paired_bootstrap"].set_index(keys)
    out["diff"], out["boot_low"], out["boot_high"] = boot["mean_diff"], boot["ci_low"], boot["ci_high"]
    out = out.reset_index()
    fold = tests[(tests["level"] == "fold") & (tests["metric"] == "accuracy")]
    fk = ["dataset", "protocol", "model_a", "variant_a", "model_b", "variant_b"]
    for test, names in (("paired_ttest", ["fold_ttest_p"]), ("corrected_resampled_ttest",
                                                             ["corrected_p", "corrected_p_holm"])):
        part = fold[fold["test"] == test][fk + ["p", "p_holm"]]
        part = part.rename(columns={"p": names[0], "p_holm": names[1] if len(names) > 1 else "_drop"})
        out = out.merge(part, on=fk, how="left").drop(columns=["_drop"], errors="ignore")
    return out[cols].sort_values(keys).reset_index(drop=True)
