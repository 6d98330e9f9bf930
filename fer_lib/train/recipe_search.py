"""Choosing the FER-2013 architecture and recipe on PublicTest, and the ablation table of notebook 03.

Not a test and not part of a study run: an entry point that trains short
FER-2013 runs ("arms") and scores each on **PublicTest only** (the selection
split; PrivateTest is never loaded here), so that choices such as the model
``"fastvgg"`` (chosen this way over ``"small"``) are made without touching
the test split::

    python -m fer_lib.train.recipe_search --data-dir ../shared/data --arms fastvgg-cpu small-cpu \
        --epochs 3 --out results/recipe_search

Each arm writes ``<out>/<arm>.json`` (PublicTest accuracy and macro-F1 with and
without the recipe's TTA, wall minutes of training, images/s, the runtime:
device, precision, threads). :func:`ablation_table` reads them back as the
table notebook 03 shows. Two arms can run side by side as two processes with
``FER_NUM_THREADS=1`` each (1.6-1.75x the throughput of one two-thread
process on the 2-core machines measured here); minutes are then those of a
single-thread run, which the table says.

Arms (:data:`ARMS`) each change one thing from the reference
``fastvgg-cpu`` (FastVGG48 with the ``"cpu"`` recipe), or swap the model:

- ``small-cpu``: the previous model (SmallCNN, width 32) with the same recipe;
- ``fastvgg-short``: the previous recipe (AdamW one-cycle, no label smoothing);
- ``fastvgg-cpu-nols``: without label smoothing;
- ``fastvgg-cpu-noaug``: without augmentation;
- ``fastvgg-cpu-standard``: the heavier ``"standard"`` augmentation;
- ``fastvgg-cpu-adamw``: AdamW instead of Nesterov SGD, same schedule.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option, check_positive_int

#: Arm name -> (model name, model kwargs, recipe name, recipe overrides, what the arm changes).
ARMS = MappingProxyType({
    "fastvgg-cpu": ("fastvgg", {}, "cpu", {}, "reference: FastVGG48, recipe 'cpu'"),
    "small-cpu": ("small", {"width": 32}, "cpu", {}, "model: SmallCNN width 32 (the previous model)"),
    "fastvgg-short": ("fastvgg", {}, "short", {}, "recipe: 'short' (AdamW one-cycle, no label smoothing)"),
    "fastvgg-cpu-nols": ("fastvgg", {}, "cpu", {"label_smoothing": 0.0}, "no label smoothing"),
    "fastvgg-cpu-noaug": ("fastvgg", {}, "cpu", {"augment": "none"}, "no augmentation"),
    "fastvgg-cpu-standard": ("fastvgg", {}, "cpu", {"augment": "standard"}, "'standard' augmentation"),
    "fastvgg-cpu-adamw": ("fastvgg", {}, "cpu", {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4},
                          "AdamW (lr 3e-3) instead of Nesterov SGD"),
})

#: Columns of :func:`ablation_table`.
ABLATION_COLUMNS = ("arm", "change", "epochs", "public_acc", "public_acc_tta", "public_macro_f1_tta",
                    "delta_vs_reference", "train_minutes", "images_per_s", "threads", "precision")

#: The arm the others are compared with.
REFERENCE_ARM = "fastvgg-cpu"


def run_arm(fer, arm, epochs, out_dir, *, seed=0, progress=True):
    """Train one arm on FER-2013 Training and score it on PublicTest.

    Parameters
    ----------
    fer : fer_lib.data.fer2013.FER2013Data
        With the canonical splits.
    arm : str
        A key of :data:`ARMS`.
    epochs : int
        The training budget (the recipe's schedule is fitted to it).
    out_dir : path-like
        Writes ``<out_dir>/<arm>.json`` (and the run's checkpoints under ``<out_dir>/<arm>/``).
    seed : int, default=0
    progress : bool, default=True

    Returns
    -------
    dict
        The JSON record: arm, change, model, recipe (resolved), epochs,
        public_acc (no TTA, the epoch-selection metric), public_acc_tta and
        public_macro_f1_tta (with the recipe's TTA), train_minutes,
        images_per_s, runtime, history.
    """
    from fer_lib.core.reproducibility import seed_everything
    from fer_lib.data.fer2013 import fer2013_split_arrays
    from fer_lib.faces.preprocessing import FER2013_FACES
    from fer_lib.models.cnn import build_model
    from fer_lib.train.config import get_recipe
    from fer_lib.train.loop import throughput, train_model
    from fer_lib.train.predict import evaluate, predict

    check_option("arm", arm, tuple(ARMS))
    epochs = check_positive_int("epochs", epochs)
    model_name, model_kwargs, recipe, overrides, change = ARMS[arm]
    config = get_recipe(recipe, **{**overrides, "epochs": epochs, "seed": int(seed)})
    if config.warmup_epochs > epochs:
        config = replace(config, warmup_epochs=float(epochs))
    splits = fer2013_split_arrays(fer)
    X_tr, y_tr, _ = splits["Training"]
    X_pub, y_pub, _ = splits["PublicTest"]  # PrivateTest is never touched here
    seed_everything(int(seed))
    model = build_model(model_name, len(fer.class_names), dropout=config.dropout, **model_kwargs)
    run_dir = Path(out_dir) / arm
    result = train_model(model, (X_tr, y_tr), (X_pub, y_pub), config, out_dir=run_dir, progress=progress,
                         class_names=fer.class_names, preprocessing=FER2013_FACES)
    probs = predict(model, X_pub, config)
    scores = evaluate(probs, y_pub, fer.class_names)
    record = {
        "arm": arm, "change": change, "model": model_name, "model_kwargs": model_kwargs, "recipe": recipe,
        "config": config.to_dict(), "epochs": epochs, "seed": int(seed),
        "public_acc": float(result.best_val_acc), "public_acc_tta": float(scores["accuracy"]),
        "public_macro_f1_tta": float(scores["macro_f1"]),
        "train_minutes": float(result.history["seconds"].sum()) / 60.0,
        "images_per_s": throughput(result.history), "runtime": result.metadata["runtime"],
        "history": result.history.to_dict(orient="list"),
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / f"{arm}.json").write_text(json.dumps(record, indent=1))
    return record


def ablation_table(folder):
    """The arms found in ``folder`` as one table, each against :data:`REFERENCE_ARM`.

    Parameters
    ----------
    folder : path-like
        Holding ``<arm>.json`` files written by :func:`run_arm`.

    Returns
    -------
    DataFrame
        Columns :data:`ABLATION_COLUMNS`, the reference first; accuracies in
        percent, ``delta_vs_reference`` in points of PublicTest accuracy with TTA
        (NaN where the reference is missing or ran another budget).

    Raises
    ------
    FileNotFoundError
        If ``folder`` holds no arm record.
    """
    files = sorted(Path(folder).glob("*.json"))
    records = [json.loads(f.read_text()) for f in files]
    records = [r for r in records if r.get("arm") in ARMS]
    if not records:
        raise FileNotFoundError(f"no arm records (<arm>.json of fer_lib.train.recipe_search) in {folder}")
    rows = []
    for r in records:
        rows.append({
            "arm": r["arm"], "change": r["change"], "epochs": r["epochs"],
            "public_acc": 100 * r["public_acc"], "public_acc_tta": 100 * r["public_acc_tta"],
            "public_macro_f1_tta": 100 * r["public_macro_f1_tta"], "train_minutes": r["train_minutes"],
            "images_per_s": r["images_per_s"], "threads": r["runtime"].get("threads"),
            "precision": r["runtime"]["precision"],
        })
    table = pd.DataFrame(rows)
    ref = table[table["arm"] == REFERENCE_ARM]
    table["delta_vs_reference"] = np.nan
    if len(ref):
        same_budget = table["epochs"] == ref["epochs"].iloc[0]
        table.loc[same_budget, "delta_vs_reference"] = table["public_acc_tta"] - ref["public_acc_tta"].iloc[0]
    table["order"] = (table["arm"] != REFERENCE_ARM).astype(int)
    table = table.sort_values(["order", "arm"]).drop(columns="order").reset_index(drop=True)
    return table[list(ABLATION_COLUMNS)]


def main(argv=None):
    """Command line: train the named arms one after the other."""
    from fer_lib.core.paths import resolve_data_dir
    from fer_lib.data.fer2013 import load_fer2013

    parser = argparse.ArgumentParser(prog="python -m fer_lib.train.recipe_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="data folder holding fer2013/ (e.g. ../shared/data)")
    parser.add_argument("--arms", nargs="+", required=True, choices=list(ARMS), help="arms to train, in order")
    parser.add_argument("--epochs", type=int, default=3, help="training budget of every arm (default 3)")
    parser.add_argument("--out", required=True, help="folder for <arm>.json and the checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fer = load_fer2013(resolve_data_dir(args.data_dir))
    for arm in args.arms:
        t0 = time.perf_counter()
        rec = run_arm(fer, arm, args.epochs, args.out, seed=args.seed)
        print(f"{arm}: PublicTest {100 * rec['public_acc']:.2f}% (TTA {100 * rec['public_acc_tta']:.2f}%), "
              f"{rec['train_minutes']:.1f} min training, {(time.perf_counter() - t0) / 60:.1f} min in all",
              flush=True)


if __name__ == "__main__":
    main()
