# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Paired tests: is the difference real?
#
# The study's question is whether temporal modelling beats a spatial CNN.
# This notebook answers it with tests that pair the models on the **same
# folds** and the **same test samples**, and puts the seed papers' numbers
# next to what this run measured:
#
# * **CK+, over folds**: per-fold accuracy and macro-F1 of the spatial,
#   temporal-only and hybrid models, compared with the paired t-test (with its
#   CI, Cohen's d_z and power), the Wilcoxon signed-rank test and the
#   corrected resampled t-test of Nadeau and Bengio, with Holm's correction
#   over the three comparisons;
# * **every test set, over samples**: McNemar's test on per-sample
#   correctness and a paired bootstrap CI of the accuracy difference, per
#   seed; and over seeds, the paired t-test on per-seed accuracies;
# * the seed papers' **"paired t-test, t = 7.82, p < 0.05"**, recomputed the
#   way they describe it (n = number of test samples), beside the tests above;
# * a **claims vs. measured** table.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # seed of the paired bootstrap
n_boot = 2000  # paired bootstrap resamples
alpha = 0.05  # family-wise error rate (Holm); the CIs are at 1 - alpha
upstream = {  # artefacts of earlier notebooks read here: every model's test predictions
    "03_spatial_baseline": "03_spatial_baseline/predictions.parquet", "04_temporal": "04_temporal/predictions.parquet",
    "05_hybrid": "05_hybrid/predictions.parquet"}
products = ["paired_tests.csv", "claims_vs_measured.csv", "summary.json"]  # in <run_dir>/artifacts/07_paired_tests/

# %% [markdown]
# **Inputs** (`upstream`): the `predictions.parquet` of notebooks 03, 04 and
# 05. **Outputs** (`products`, in
# `<run_dir>/artifacts/07_paired_tests/`): `paired_tests.csv` (every test, one
# row per comparison, test set and test; columns in
# `fer_lib.report.paired_tests.PAIRED_TEST_COLUMNS`), `claims_vs_measured.csv` and
# `summary.json` (the p-values). The book's results page is generated from
# them.
#
# ```{note}
# Pairing rules (`fer_lib.report.paired_tests`): each family is represented by its primary
# variant (spatial `transfer`, temporal `lstm`, hybrid `cnn-rnn`, else the
# first present); other variants are compared with their family's primary.
# CK+ fold scores are averaged over seeds **within** each fold first, so that
# each fold counts once; the training and test sizes of the Nadeau-Bengio
# correction are counted from the predictions (training = all folds but the
# test and validation folds; for the CK+ sequences, which the CK+48 fold
# models predict, from the CK+48 folds). Only report splits are compared (FER-2013
# *PrivateTest*, CK+ test folds, the whole-sequence view `first100pct` of the
# CK+ sequences).
# ```

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from fer_lib.evaluate.predictions import load_predictions
from fer_lib.report import arms as study_arms
from fer_lib.report import claims as paper_claims
from fer_lib.report import paired_tests
from fer_lib.run.notebook import save_json, setup_notebook

ctx = setup_notebook("07_paired_tests", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
predictions = load_predictions(ctx.upstream)
sets = study_arms.collect_test_sets(predictions)

# %% [markdown]
# ## Which comparisons this run allows

# %% tags=["nbval-check-output"]
plan = {key: paired_tests.comparisons(frame) for key, frame in sets.items()}
for (dataset, protocol), pairs in plan.items():
    print(f"{study_arms.set_label(dataset, protocol)}:")
    for (ma, va), (mb, vb) in pairs:
        print(f"  {ma}/{va} - {mb}/{vb}")
    if not pairs:
        print("  nothing to compare (one arm only)")

# %% [markdown]
# ## CK+: per-fold scores of the three families
#
# Each CK+ fold is a separate training run on different subjects, so the
# per-fold scores of two models are paired by fold. With 10 folds these
# tests have little power, and the folds share most of their training data,
# which makes the ordinary paired t-test over-confident; the corrected
# resampled t-test inflates its variance by `1/k + n_test/n_train` to
# account for that.
#
# When notebook 05 trained the **matched spatial control** (the hybrid's own
# CNN recipe per frame, frames averaged; `spatial/hybrid-cnn-frames`), the
# hybrid is also tested against it over folds: the two differ only by the
# recurrent part, so this is the most direct answer to "what does temporal
# modelling add to this CNN?". It is a separate question from the three
# family comparisons and is corrected on its own.

# %%
fold_tests, fold_tables = [], {}
for (dataset, protocol), frame in sets.items():
    part = study_arms.report_rows(frame)
    split = paired_tests.fold_split(part)
    if study_arms.is_cross(protocol) or split is None:
        continue
    arms = study_arms.primary_arms(part)
    if len(arms) < 2:
        display(Markdown(f"*{study_arms.set_label(dataset, protocol)}: only {list(arms)}, no fold-level comparison.*"))
        continue
    sizes = paired_tests.fold_sizes(part, train_from=sets.get((study_arms.TRAINED_ON.get(dataset), protocol)))
    for metric in paired_tests.FOLD_METRICS:
        scores = paired_tests.fold_scores(part, arms, metric=metric)
        fold_tables[(dataset, protocol, metric)] = scores
        fold_tests.append(paired_tests.fold_level_tests(scores, sizes, arms, alpha=alpha, metric=metric,
                                                        dataset=dataset, protocol=protocol, split=split))
    control = study_arms.matched_control_arms(part)
    if control is not None:  # hybrid vs its own CNN per frame: a separate question, its own Holm family
        for metric in paired_tests.FOLD_METRICS:
            scores = paired_tests.fold_scores(part, control, metric=metric)
            fold_tests.append(paired_tests.fold_level_tests(scores, sizes, control, alpha=alpha, metric=metric,
                                                            dataset=dataset, protocol=protocol, split=split))
    label = study_arms.set_label(dataset, protocol)
    display(Markdown(f"**{label}**: per-fold accuracy (mean over seeds within a fold) and fold sizes"))
    display(fold_tables[(dataset, protocol, "accuracy")].join(sizes).round(3))
    fig = paired_tests.plot_fold_scores(fold_tables[(dataset, protocol, "accuracy")],
                                        title=f"{label}: accuracy per test fold (lines join one fold)")
    plt.show()
fold_results = paired_tests.combine_tests(*fold_tests)

# %% [markdown]
# ### Tests over folds
#
# Differences are *row model minus column model* (`model_a - model_b`), in
# accuracy (or macro-F1) units. `p_holm` is Holm-adjusted over the
# comparisons of one test, metric and test set; `effect_size` is Cohen's
# d_z (mean / sd of the fold differences) for the t-tests and the
# rank-biserial correlation for Wilcoxon; `power` is the achieved power of the
# paired t-test for the observed d_z (it follows from the p-value and says
# little on its own).

# %%
if len(fold_results):
    shown = fold_results.set_index(["dataset", "protocol", "metric", "model_a", "model_b", "test"])
    display(shown[["statistic", "dof", "p", "p_holm", "reject", "mean_diff", "ci_low", "ci_high",
                   "effect_size", "effect_size_name", "power", "n"]].round(4))
else:
    print("no fold-level comparison in this run (it needs two model families on the same CK+ folds)")

# %% [markdown]
# ## Every test set: McNemar, paired bootstrap, and over seeds
#
# These compare **one trained model of each arm** (per seed) on the same test
# samples: McNemar's test looks only at the samples on which exactly one of
# the two is right (exact binomial when those are fewer than 25), the
# bootstrap resamples test samples (the same for both models) to give a CI of
# the accuracy difference. The seed-level t-test pairs the per-seed
# accuracies of seeds both arms ran.

# %%
sample_tests, seed_tests = [], []
for (dataset, protocol), frame in sets.items():
    for a, b in plan[(dataset, protocol)]:
        sample_tests.append(paired_tests.sample_level_tests(frame, a, b, n_boot=n_boot, confidence=1 - alpha,
                                                            seed=ctx.seed, dataset=dataset, protocol=protocol))
        seed_tests.append(paired_tests.seed_level_tests(frame, a, b, confidence=1 - alpha, dataset=dataset,
                                                        protocol=protocol))
tests = paired_tests.combine_tests(fold_results, *sample_tests, *seed_tests)
tests.to_csv(ctx.product("paired_tests.csv"), index=False)
sample_results = tests[tests["level"] == "sample"]
if len(sample_results):
    wide = sample_results.pivot_table(
        index=["dataset", "protocol", "split", "seed", "model_a", "variant_a", "model_b", "variant_b"],
        columns="test", values="p", aggfunc="first")
    display(Markdown("**p-values** per test set, seed and comparison"))
    display(wide.round(4))
seed_results = tests[tests["level"] == "seed"]
if len(seed_results):
    display(Markdown("**Paired t-test over per-seed accuracies**"))
    display(seed_results.set_index(["dataset", "protocol", "split", "model_a", "variant_a", "model_b", "variant_b"])[
        ["n", "mean_diff", "statistic", "p", "ci_low", "ci_high", "note"]].round(4))

# %% tags=["nbval-check-output"]
print("tests run, by level and test:")
print(tests.groupby(["level", "test"]).size().to_string() if len(tests) else "none")

# %% [markdown]
# ## The seed papers' t-test, recomputed
#
# The seed papers report "paired t-test, t = 7.82, p < 0.05" with *n = the
# number of test samples*: a t-test over the 0/1 correctness of two trained
# models on each test sample (`fer_lib.evaluate.stats.naive_sample_ttest`). The
# table puts it beside the tests above, for the same comparisons.
#
# ```{admonition} What each test can and cannot conclude
# :class: warning
# * **Naive per-sample t-test** (the papers'): treats every test image as an
#   independent repetition of the experiment. It compares *two weight files*,
#   ignores the variation due to training (seed, data order, which subjects are
#   in the training folds), and its standard error shrinks with the number of
#   test images, so on thousands of images any small difference becomes
#   "significant". It cannot show that one *method* beats another.
# * **McNemar / paired bootstrap**: valid for the question "do these two
#   trained models differ on this test set, beyond the luck of which images
#   were sampled?". Still one trained instance each: they say nothing about
#   retraining.
# * **Seed-level t-test**: accounts for training randomness on a fixed split,
#   with as many pairs as seeds (few, so low power).
# * **Fold-level tests (CK+)**: compare the *training procedures* across
#   subject-independent folds, the question the study asks. The corrected
#   resampled t-test is the one to read (the plain paired t-test over folds is
#   over-confident because folds share training data); with 10 folds only
#   large differences can be detected, so a non-significant result means "not
#   shown", not "no difference".
# ```

# %%
beside = paper_claims.naive_vs_valid(tests)
if len(beside):
    display(beside.set_index(["dataset", "protocol", "split", "seed", "model_a", "variant_a", "model_b",
                              "variant_b"]).round(4))
else:
    print("no sample-level comparison in this run")

# %% [markdown]
# ## Claims vs. measured
#
# Every headline number of the seed papers (`fer_lib.report.claims.CLAIMS`, with
# the protocol as they report it) next to the closest configuration this run
# measured, with its protocol: the same model family on the same test set
# (another variant when the claimed one was not trained, as the `note`
# says). A claim is never set against another family: seed paper B's
# CNN-RNNs on FER-2013 read "not measured" when this run trains no hybrid on
# FER-2013, rather than standing beside the spatial CNN.

# %%
claims = paper_claims.claims_vs_measured(sets)
claims.to_csv(ctx.product("claims_vs_measured.csv"), index=False)
display(claims.drop(columns=["claim_id"]))

# %% tags=["nbval-check-output"]
print(f"{len(claims)} claims; measured in this run: "
      f"{int((claims['measured'] != paper_claims.NOT_MEASURED).sum())}")

# %%
summary = {
    "notebooks": sorted(predictions),
    "n_tests": len(tests),
    "alpha": alpha,
    "n_boot": n_boot,
    "pvalues": paired_tests.pvalue_summary(tests),
    "claims": claims.to_dict(orient="records"),
}
summary_path = save_json(ctx.product("summary.json"), summary)

# %% [markdown]
# ## What it showed

# %%
lines = []
acc = fold_results[(fold_results["metric"] == "accuracy") & (fold_results["test"] == "corrected_resampled_ttest")]
for r in acc.itertuples():
    verdict = "significant after Holm" if r.reject else "not significant after Holm"
    lines.append(f"* **{study_arms.set_label(r.dataset, r.protocol)}**, {r.model_a}/{r.variant_a} − "
                 f"{r.model_b}/{r.variant_b}: {100 * r.mean_diff:+.1f} accuracy points over {r.n} folds "
                 f"(corrected resampled t-test p = {r.p:.3g}, Holm {r.p_holm:.3g}: {verdict}).")
if acc.empty:
    lines.append("* No fold-level comparison of model families in this run.")
for r in beside.itertuples():
    if (r.model_a, r.model_b) != ("hybrid", "spatial"):
        continue
    naive = f"t = {r.naive_t:.2f}, p = {r.naive_p:.3g}" if pd.notna(r.naive_t) else "t undefined"
    lines.append(f"* {study_arms.set_label(r.dataset, r.protocol)} {r.split}, seed {r.seed}, "
                 f"{r.model_a}/{r.variant_a} − {r.model_b}/{r.variant_b}: the papers' per-sample "
                 f"t-test gives {naive} (n = {r.n}); McNemar p = {r.mcnemar_p:.3g}; bootstrap "
                 f"{100 * (1 - alpha):.0f}% CI of the difference {100 * r.boot_low:+.1f} to "
                 f"{100 * r.boot_high:+.1f} points.")
measured = claims[claims["measured"] != paper_claims.NOT_MEASURED]
for r in measured.itertuples():
    unit = "%" if r.unit == "%" else ""
    closest = "the closest configuration, " if r.note.startswith("no ") else ""
    lines.append(f"* {r.source}, {r.claim}: reported {r.reported:g}{unit}, measured {r.measured}{unit} "
                 f"({closest}{r.measured_config}).")
lines.append(f"* {len(claims) - len(measured)} of {len(claims)} claims have no counterpart in this run.")
display(Markdown("\n".join(lines)))
