"""The synthetic CK+ sequences: subjects, labelled and unlabelled sequences, CK+48 crops.

:func:`iter_sequences` / :func:`make_sequences` render them (onset to apex, with a little
head motion); :func:`ckplus48_crop` crops faces like the CK+48 release.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import cv2
import numpy as np

from fer_lib.data.constants import CKPLUS48_SIZE, CKPLUS_CLASSES, CKPLUS_CODES, CKPLUS_N_LANDMARKS
from fer_lib.data.synthetic.config import TAG_CK_IDENTITY, TAG_CK_ORDER, TAG_CK_SEQUENCE, TAG_CK_UNLABELLED, as_config
from fer_lib.data.synthetic.expressions import SYNTHETIC_EXPRESSIONS, intensity_profile, jittered_apex, smoothstep
from fer_lib.data.synthetic.identity import sample_identity
from fer_lib.data.synthetic.nuisance import drift_nuisance, lerp_nuisance, sample_nuisance
from fer_lib.data.synthetic.render import render_face

_CKPLUS_CODE_OF = MappingProxyType({name: code for code, name in CKPLUS_CODES.items()})


def _ck_plan(cfg):
    """Per subject, the ordered list of ("labelled", j) / ("unlabelled", u) items."""
    n_sub, k = cfg.ck_subjects, cfg.ck_sequences_per_subject
    n_lab = n_sub * k
    frac = cfg.ck_unlabelled_fraction
    n_unlab = 0 if frac == 0 else max(1, math.ceil(frac * n_lab - 1e-9))
    rng = np.random.default_rng([cfg.seed, TAG_CK_UNLABELLED])
    owners = rng.choice(n_sub, size=n_unlab, replace=n_unlab > n_sub) if n_unlab else np.array([], int)
    plan = []
    for i in range(n_sub):
        items = [("labelled", j) for j in range(k)] + [("unlabelled", u) for u in np.flatnonzero(owners == i)]
        order = np.random.default_rng([cfg.seed, TAG_CK_ORDER, i]).permutation(len(items))
        plan.append([items[o] for o in order])
    return plan


def _ck_sequence(cfg, i, kind, idx):
    H, W = cfg.ck_canvas
    identity = sample_identity(np.random.default_rng([cfg.seed, TAG_CK_IDENTITY, i]))
    rng = np.random.default_rng([cfg.seed, TAG_CK_SEQUENCE, i, 0 if kind == "labelled" else 1, int(idx)])
    if kind == "labelled":
        # cyclic assignment: balanced over classes, distinct within a subject
        name = CKPLUS_CLASSES[(i * cfg.ck_sequences_per_subject + idx) % len(CKPLUS_CLASSES)]
        code = _CKPLUS_CODE_OF[name]
    else:
        name = SYNTHETIC_EXPRESSIONS[int(rng.integers(len(SYNTHETIC_EXPRESSIONS)))]
        code = None
    n_frames = int(rng.integers(cfg.ck_min_frames, cfg.ck_max_frames + 1))
    amplitude = 1.0 + cfg.ck_apex_jitter * rng.uniform(-1.0, 1.0)
    vec = jittered_apex(name, rng)
    intens = intensity_profile(name, n_frames) * amplitude
    n0 = sample_nuisance(rng, "ckplus", cfg.pose_strength, cfg.illumination_strength, cfg.noise_strength, 0.0)
    n1 = drift_nuisance(n0, rng, cfg.pose_strength, cfg.illumination_strength)
    seeds = rng.integers(2**31, size=n_frames)
    frames = np.empty((n_frames, H, W), np.uint8)
    lms = np.empty((n_frames, CKPLUS_N_LANDMARKS, 2))
    w = smoothstep(np.linspace(0.0, 1.0, n_frames))
    for f in range(n_frames):
        frames[f], lms[f] = render_face(identity, vec, intens[f], lerp_nuisance(n0, n1, w[f], seeds[f]), (H, W))
    return {"expression": name, "label": code, "frames": frames, "landmarks": lms, "intensity": intens}


def iter_sequences(config=None, progress=False):
    """Yield the synthetic CK+ sequences one at a time (see :func:`make_sequences`)."""
    cfg = as_config(config)
    from tqdm.auto import tqdm

    plan = _ck_plan(cfg)
    total = sum(len(p) for p in plan)
    with tqdm(total=total, desc="synthetic CK+", unit="seq", disable=not progress) as bar:
        for i, items in enumerate(plan):
            for s, (kind, idx) in enumerate(items):
                seq = _ck_sequence(cfg, i, kind, idx)
                seq = {"subject": f"S{501 + i:03d}", "sequence": f"{s + 1:03d}", **seq}
                bar.update(1)
                yield seq


def make_sequences(config=None, progress=False):
    """Render all synthetic CK+ sequences.

    Parameters
    ----------
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    list of dict
        One dict per sequence, ordered by subject then sequence, with keys

        - ``subject`` (str, e.g. ``"S501"``) and ``sequence`` (str, ``"001"``);
        - ``frames``: ndarray of shape (T, H, W), dtype uint8 (``H, W = ck_canvas``);
        - ``landmarks``: ndarray of shape (T, 68, 2), float ``(x, y)`` pixels;
        - ``label``: CK+ code (int, 1..7) or None for an unlabelled sequence;
        - ``expression``: the generating expression (also for unlabelled ones);
        - ``intensity``: ndarray of shape (T,), the intensity of each frame.
    """
    return list(iter_sequences(config, progress))


def ckplus48_crop(frames, landmarks, size=CKPLUS48_SIZE):
    """Crop faces like the CK+48 release: a square box around the landmarks.

    One box (the union of the landmarks of all given frames, squared, with a
    10 % margin and shifted up a little to keep the forehead) is used for all
    frames, so the crop does not jitter within a clip.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W), dtype uint8
    landmarks : ndarray of shape (T, 68, 2)
    size : int, default=48

    Returns
    -------
    ndarray of shape (T, size, size), dtype uint8
    """
    frames = np.asarray(frames)
    pts = np.asarray(landmarks).reshape(-1, 2)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    side = 1.1 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.06 * side
    bx0, by0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = max(int(round(side)), 2)
    out = np.empty((len(frames), size, size), np.uint8)
    H, W = frames.shape[1:3]
    for k, fr in enumerate(frames):
        pad = max(0, -bx0, -by0, bx0 + n - W, by0 + n - H)
        src = cv2.copyMakeBorder(fr, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else fr
        crop = src[by0 + pad : by0 + pad + n, bx0 + pad : bx0 + pad + n]
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out
