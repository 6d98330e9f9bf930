"""The temporal-only experiment of notebook 04: its fold runs, per-fold table, ``summary.json`` and closing text.

The models are :func:`fer_lib.models.temporal.build_temporal`; the fold
protocol is :func:`fer_lib.train.folds.run_subject_folds`.
"""

import time

from fer_lib.core.validation import check_subset

__all__ = ["fold_table", "notebook_summary", "train_temporal_folds"]

#: Macro scores averaged over folds in :func:`fold_table`.
SCORE_COLUMNS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")


def train_temporal_folds(clip_sets, rnns, config, model_kwargs, *, seeds, view_sets, progress=False):
    """Cross-validate the temporal-only model, each recurrent cell on each protocol's CK+48 folds.

    Parameters
    ----------
    clip_sets : dict of str to fer_lib.faces.sequences.ClipData
        Protocol -> its clips and folds.
    rnns : sequence of {"lstm", "gru"}
    config : fer_lib.train.config.TrainConfig
    model_kwargs : dict
        Keyword arguments of :func:`~fer_lib.models.temporal.build_temporal` but ``rnn``.
    seeds : sequence of int
    view_sets : dict of str to list of fer_lib.data.splits.ViewSet
        Protocol -> extra test sets (the sequence prefixes).
    progress : bool, default=False

    Returns
    -------
    runs : dict of (str, str) to fer_lib.train.folds.FoldRunResult
        ``(protocol, rnn)`` -> its fold runs.
    lines : list of str
        One line per run: what was trained, in how long.
    """
    from fer_lib.models.temporal import RNN_TYPES, build_temporal
    from fer_lib.train.folds import run_subject_folds

    rnns = check_subset("rnns", rnns, RNN_TYPES)
    runs, lines = {}, []
    for protocol, c in clip_sets.items():
        for rnn in rnns:
            t0 = time.perf_counter()
            runs[(protocol, rnn)] = run_subject_folds(
                lambda n, rnn=rnn: build_temporal(n, rnn=rnn, **model_kwargs), c.X, c.y, c.sample_ids, c.folds,
                c.class_names, config, mode="clips", seeds=seeds, dataset="ckplus48", protocol=protocol,
                model="temporal", variant=rnn, test_sets=view_sets.get(protocol, []), progress=progress)
            lines.append(f"{protocol} {rnn}: {len(set(c.folds)) * len(seeds)} fold runs in "
                         f"{time.perf_counter() - t0:.1f} s")
    return runs, lines


def fold_table(scores):
    """Accuracy per test fold of each protocol and cell, then its mean and sd over folds; and the macro scores.

    Parameters
    ----------
    scores : DataFrame
        :func:`fer_lib.evaluate.predictions.metrics_table` of the CK+48 test folds.

    Returns
    -------
    per_fold : DataFrame
        Index: the folds, then ``mean`` and ``sd``; columns ``(protocol, variant)``;
        accuracies averaged over seeds within each fold.
    macro : DataFrame
        Mean and sd over folds of :data:`SCORE_COLUMNS`, by protocol and variant.
    """
    from fer_lib.evaluate import predictions

    per_fold = predictions.fold_table(scores, "accuracy", columns=("protocol", "variant"))
    macro = scores.groupby(["protocol", "variant"])[list(SCORE_COLUMNS)].agg(["mean", "std"])
    return per_fold, macro


def notebook_summary(config, model_kwargs, seeds, per_fold, macro, run_metrics, *, onset=None, sampling="window"):
    """The measured entries of notebook 04's ``summary.json``.

    Parameters
    ----------
    config : fer_lib.train.config.TrainConfig
    model_kwargs : dict
    seeds : sequence of int
    per_fold, macro : DataFrame
        :func:`fold_table`.
    run_metrics : DataFrame
        The fold runs' metrics (their ``seconds`` per test fold are summed).
    onset : DataFrame, optional
        :func:`fer_lib.faces.sequences.prefix_accuracy` by protocol and variant.
    sampling : {"window", "resample"}, default="window"

    Returns
    -------
    dict
        ``config``, ``model``, ``seeds``, ``ckplus48`` (per ``"<protocol>/<variant>"``:
        ``mean``, ``sd``, ``per_fold``, ``macro_f1_mean``, ``train_seconds``)
        and, with ``onset``, ``onset_to_apex``.
    """
    from fer_lib.faces.sequences import onset_summary

    body = per_fold.drop(index=["mean", "sd"])
    test = run_metrics[run_metrics["split"] == "test"]
    out = {"config": config.to_dict(), "model": {"family": "temporal", **model_kwargs}, "seeds": list(seeds),
           "ckplus48": {
               f"{p}/{v}": {"mean": float(per_fold.loc["mean", (p, v)]), "sd": float(per_fold.loc["sd", (p, v)]),
                            "per_fold": body[(p, v)].round(4).tolist(),
                            "macro_f1_mean": float(macro.loc[(p, v), ("macro_f1", "mean")]),
                            "train_seconds": float(test.loc[(test["protocol"] == p) & (test["variant"] == v),
                                                            "seconds"].sum())}
               for p, v in body.columns}}
    if onset is not None:
        out["onset_to_apex"] = onset_summary(onset, sampling, by=("protocol", "variant"))
    return out
