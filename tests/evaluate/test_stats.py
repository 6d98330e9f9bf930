"""The package fer_lib.evaluate.stats: its public names and how its submodules depend on each other.

The statistics themselves are tested per submodule in
tests/evaluate/test_stats_{paired,compare,samples,calibration,equivalence,power}.py.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fer_lib.evaluate import stats as S

PACKAGE = Path(S.__file__).parent
#: In the order of the package docstring: each submodule imports only the ones before it.
SUBMODULES = ("common", "paired", "compare", "samples", "calibration", "equivalence", "power")

#: The public names of the former module fer_lib/evaluate/stats.py, all still importable from the package.
PUBLIC = [
    "ALTERNATIVES", "MCNEMAR_EXACT_OPTIONS", "MCNEMAR_EXACT_THRESHOLD", "FOLD_TESTS", "PROB_SUM_ATOL",
    "BOOTSTRAP_CHUNK_ELEMENTS", "PairedTTestResult", "WilcoxonResult", "CorrectedTTestResult", "HolmResult",
    "McNemarResult", "BootstrapResult", "NaiveTTestResult", "AccuracyCI", "ReliabilityCurve", "paired_ttest",
    "wilcoxon_signed_rank", "corrected_resampled_ttest", "holm_correction", "mcnemar_test", "paired_bootstrap_diff",
    "naive_sample_ttest", "accuracy_ci", "reliability_curve", "expected_calibration_error", "compare_fold_scores",
    "TOST_VERDICTS", "TOSTResult", "ClusterBootstrapResult", "EffectSizeResult", "DetectableDifferenceResult",
    "tost_paired", "cluster_bootstrap_diff", "paired_effect_size", "smallest_detectable_difference",
]


def test_public_names_are_reexported():
    assert S.__all__ == PUBLIC
    import importlib

    owners = {}
    for name in SUBMODULES:
        module = importlib.import_module(f"fer_lib.evaluate.stats.{name}")
        for public in module.__all__:
            assert hasattr(module, public), f"{name}.__all__ lists {public}, which it does not define"
            owners.setdefault(public, name)
    for public in PUBLIC:
        assert public in owners, f"{public} has no owner submodule"
        owner = importlib.import_module(f"fer_lib.evaluate.stats.{owners[public]}")
        assert getattr(S, public) is getattr(owner, public)
    assert sorted(set(owners) - set(PUBLIC)) == ["AsDict", "as_1d", "as_correctness", "as_scores", "check_open_fraction"]  # common's helpers


def _package_imports(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fer_lib.evaluate.stats"):
            yield node.module, [alias.name for alias in node.names]


@pytest.mark.parametrize("name", SUBMODULES)
def test_submodules_import_earlier_ones_and_no_private_names(name):
    earlier = SUBMODULES[: SUBMODULES.index(name)]
    for module, names in _package_imports(name):
        assert module.rsplit(".", 1)[-1] in earlier, f"{name} imports {module}, not listed before it"
        assert not [n for n in names if n.startswith("_")], f"{name} imports private names from {module}: {names}"


def test_importing_the_package_does_not_import_pingouin():
    code = "import sys, fer_lib.evaluate.stats; assert 'pingouin' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
