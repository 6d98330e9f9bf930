"""Writing the synthetic data set to disk, in the formats of the real ones, with its manifest.

Layout written by :func:`write_synthetic_dataset` under ``root``::

    root/fer2013/fer2013.csv.gz                      Kaggle FER-2013 CSV (emotion,pixels,Usage)
    root/ckplus/sequences/cohn-kanade-images/S###/###/S###_###_########.png
    root/ckplus/sequences/Emotion/S###/###/S###_###_########_emotion.txt   (labelled only)
    root/ckplus/sequences/Landmarks/S###/###/S###_###_########_landmarks.txt  (every frame)
    root/ckplus/CK+48/<class>/S###_###_########.png  last 3 frames of each labelled sequence
    root/manifest.json                               version, config, seed, counts

:func:`ensure_synthetic_dataset` reuses a data set already there when its manifest matches.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import cv2

from fer_lib.core.paths import display_path
from fer_lib.data.constants import CKPLUS48_FRAMES_PER_CLIP, CKPLUS_CLASSES, CKPLUS_CODES, FER2013_COLUMNS
from fer_lib.data.synthetic.ck_sequences import ckplus48_crop, iter_sequences
from fer_lib.data.synthetic.config import GENERATOR_NAME, GENERATOR_VERSION, as_config
from fer_lib.data.synthetic.expressions import POSITIVE_CONTROL_CLASSES
from fer_lib.data.synthetic.fer_images import fer_class_counts, make_fer_images

_DESCRIPTION = (
    "Procedurally drawn grayscale faces (fer_lib.data.synthetic): 8 expressions as deformations of per-subject "
    "identities with pose, illumination, blur, noise and occlusion nuisance, written in the formats of "
    "FER-2013 (Kaggle CSV) and CK+ (official release layout and CK+48). Fear and surprise look alike at the "
    "apex but differ in motion (surprise still rising, fear relaxing after an overshoot): a positive control "
    "for temporal models."
)

_GENERATED = ("fer2013/fer2013.csv.gz", "ckplus/sequences", "ckplus/CK+48")


def _png_bytes(image):
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 failure
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def _clear_previous(root):
    """Remove a previous synthetic data set; refuse to touch anything else."""
    present = [root / rel for rel in _GENERATED if (root / rel).exists()]
    manifest = root / "manifest.json"
    if not present:
        if manifest.exists():
            manifest.unlink()
        return
    owner = None
    if manifest.is_file():
        try:
            owner = json.loads(manifest.read_text()).get("generator")
        except (OSError, ValueError):
            owner = None
    if owner != GENERATOR_NAME:
        raise FileExistsError(
            f"{root} already holds data not written by {GENERATOR_NAME} ({', '.join(map(str, present))}); "
            "refusing to overwrite it. Choose an empty folder for the synthetic data set."
        )
    manifest.unlink()
    for path in present:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_synthetic_dataset(root, config=None, progress=True):
    """Generate the synthetic data set and write it under ``root``.

    Parameters
    ----------
    root : str or path-like
        Output folder (created if needed). A previous synthetic data set there
        is replaced; data not written by this module is never overwritten
        (``FileExistsError``).
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    progress : bool, default=True
        Show tqdm progress bars.

    Returns
    -------
    dict
        The manifest, also written to ``root/manifest.json`` (last, so that a
        half-written data set has none): generator name and version, seed,
        config, counts, positive-control classes, description and layout.
    """
    cfg = as_config(config)
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    _clear_previous(root)

    # --- FER-2013 CSV (gzip with mtime 0 and no file name: byte-identical between runs)
    images, labels, usage = make_fer_images(cfg, progress=progress)
    fer_dir = root / "fer2013"
    fer_dir.mkdir(parents=True, exist_ok=True)
    strs = [str(v) for v in range(256)]
    rows = [",".join(FER2013_COLUMNS) + "\n"]
    for img, lab, use in zip(images, labels, usage):
        rows.append(f"{int(lab)},{' '.join([strs[v] for v in img.ravel().tolist()])},{use}\n")
    (fer_dir / "fer2013.csv.gz").write_bytes(gzip.compress("".join(rows).encode("ascii"), compresslevel=4, mtime=0))
    counts = fer_class_counts(cfg)

    # --- CK+ sequences, Emotion, Landmarks, CK+48
    seq_root = root / "ckplus" / "sequences"
    ck48_root = root / "ckplus" / "CK+48"
    for name in CKPLUS_CLASSES:
        (ck48_root / name).mkdir(parents=True, exist_ok=True)
    n_seq = n_lab = n_frames = n_ck48 = 0
    subjects = set()
    per_class = {name: 0 for name in CKPLUS_CLASSES}
    for seq in iter_sequences(cfg, progress=progress):
        subj, sid = seq["subject"], seq["sequence"]
        subjects.add(subj)
        img_dir = seq_root / "cohn-kanade-images" / subj / sid
        lm_dir = seq_root / "Landmarks" / subj / sid
        img_dir.mkdir(parents=True, exist_ok=True)
        lm_dir.mkdir(parents=True, exist_ok=True)
        T = len(seq["frames"])
        stems = [f"{subj}_{sid}_{f + 1:08d}" for f in range(T)]
        for stem, frame, lm in zip(stems, seq["frames"], seq["landmarks"]):
            (img_dir / f"{stem}.png").write_bytes(_png_bytes(frame))
            (lm_dir / f"{stem}_landmarks.txt").write_text(
                "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in lm), encoding="ascii"
            )
        n_seq += 1
        n_frames += T
        if seq["label"] is not None:
            n_lab += 1
            name = CKPLUS_CODES[seq["label"]]
            per_class[name] += 1
            emo_dir = seq_root / "Emotion" / subj / sid
            emo_dir.mkdir(parents=True, exist_ok=True)
            (emo_dir / f"{stems[-1]}_emotion.txt").write_text(f"   {float(seq['label']):.7e}\n", encoding="ascii")
            last = slice(T - CKPLUS48_FRAMES_PER_CLIP, T)
            crops = ckplus48_crop(seq["frames"][last], seq["landmarks"][last])
            for stem, crop in zip(stems[last], crops):
                (ck48_root / name / f"{stem}.png").write_bytes(_png_bytes(crop))
                n_ck48 += 1

    manifest = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "description": _DESCRIPTION,
        "positive_control_classes": list(POSITIVE_CONTROL_CLASSES),
        "counts": {
            "fer2013": {
                "per_split": {split: sum(c.values()) for split, c in counts.items()},
                "per_split_class": counts,
                "total": int(len(labels)),
            },
            "ckplus": {
                "subjects": len(subjects),
                "sequences": n_seq,
                "labelled": n_lab,
                "unlabelled": n_seq - n_lab,
                "frames": n_frames,
                "labelled_per_class": per_class,
                "ck48_images": n_ck48,
            },
        },
        "layout": {
            "fer2013_csv": "fer2013/fer2013.csv.gz",
            "ckplus_sequences": "ckplus/sequences",
            "ckplus48": "ckplus/CK+48",
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def ensure_synthetic_dataset(root, config=None, force=False, progress=True):
    """Generate the synthetic data set under ``root`` unless the same one is there.

    Parameters
    ----------
    root : str or path-like
        Output folder.
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    force : bool, default=False
        Regenerate even if an identical data set is present.
    progress : bool, default=True
        Show tqdm progress bars while generating.

    Returns
    -------
    dict
        The manifest (read from ``root/manifest.json`` when reused).

    Notes
    -----
    The data set is reused when ``root/manifest.json`` exists, was written by
    this generator version with the same config, and the generated files are
    present; otherwise it is (re)generated. Prints which of the two happened.
    """
    cfg = as_config(config)
    root = Path(root).expanduser().resolve()
    path = root / "manifest.json"
    if not force and path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if (
            isinstance(old, dict)
            and old.get("generator") == GENERATOR_NAME
            and old.get("generator_version") == GENERATOR_VERSION
            and old.get("config") == cfg.to_dict()
            and all((root / rel).exists() for rel in _GENERATED)
        ):
            print(f"reused existing synthetic data at {display_path(root)} (same config)")
            return old
    t0 = time.perf_counter()
    manifest = write_synthetic_dataset(root, cfg, progress=progress)
    c = manifest["counts"]
    print(
        f"generated synthetic data at {display_path(root)} in {time.perf_counter() - t0:.1f} s: "
        f"{c['fer2013']['total']} FER-2013 images, {c['ckplus']['sequences']} CK+ sequences "
        f"({c['ckplus']['labelled']} labelled, {c['ckplus']['frames']} frames) (seed={cfg.seed})"
    )
    return manifest
