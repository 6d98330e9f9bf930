"""The data audit (notebook 01): counts, pixel statistics and leakage checks.

Duplicate definitions used by :func:`find_duplicates`:

exact
    byte-identical 48x48 images (SHA-1 of the pixels).
near
    not exact, same 64-bit DCT perceptual hash (32x32 resize, lowest 8x8 DCT
    coefficients thresholded at their median) *and* a mean absolute pixel
    difference of at most ``near_max_mad`` grey levels: the same photo after
    re-encoding, small brightness changes or a pixel of shift.
"""

import hashlib
from itertools import combinations

import numpy as np
import pandas as pd


def imbalance(counts):
    """Largest over smallest class count (1.0 = balanced).

    Parameters
    ----------
    counts : array-like of shape (n_classes,)
    """
    counts = np.asarray(counts, dtype=float)
    return float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")


def pixel_statistics(images, groups, blank_std=2.0):
    """Pixel statistics per group (e.g. per split).

    Parameters
    ----------
    images : ndarray of shape (n, H, W), uint8
    groups : array-like of shape (n,)
        Group of each image (split name, data set ...).
    blank_std : float, default=2.0
        An image whose own pixel standard deviation is below this is counted as
        near-constant (FER-2013 holds a few blank frames).

    Returns
    -------
    DataFrame
        Index: group; columns ``n, mean, std, per_image_std_median, n_near_constant``.
    """
    images = np.asarray(images)
    groups = np.asarray(groups, dtype=object)
    flat = images.reshape(len(images), -1).astype(np.float32)
    own_std = flat.std(axis=1)
    rows = {}
    for group in pd.unique(groups):
        mask = groups == group
        rows[group] = {
            "n": int(mask.sum()),
            "mean": float(flat[mask].mean()),
            "std": float(flat[mask].std()),
            "per_image_std_median": float(np.median(own_std[mask])),
            "n_near_constant": int((own_std[mask] < blank_std).sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def exact_hashes(images):
    """SHA-1 hex digest of each image's pixels.

    Parameters
    ----------
    images : ndarray of shape (n, H, W), uint8

    Returns
    -------
    ndarray of shape (n,), object
    """
    images = np.ascontiguousarray(images)
    return np.array([hashlib.sha1(img.tobytes()).hexdigest() for img in images], dtype=object)


def perceptual_hashes(images, hash_size=8, resize=32):
    """64-bit DCT perceptual hash of each image.

    Parameters
    ----------
    images : ndarray of shape (n, H, W), uint8
    hash_size : int, default=8
        Side of the low-frequency DCT block kept (8 gives 64 bits).
    resize : int, default=32
        Images are resized to ``resize x resize`` (area interpolation) first.

    Returns
    -------
    ndarray of shape (n,), uint64
    """
    import cv2
    from scipy.fft import dctn

    small = np.stack([cv2.resize(img, (resize, resize), interpolation=cv2.INTER_AREA) for img in images])
    coeffs = dctn(small.astype(np.float32), axes=(1, 2), norm="ortho")[:, :hash_size, :hash_size]
    flat = coeffs.reshape(len(images), -1)
    bits = flat > np.median(flat[:, 1:], axis=1, keepdims=True)  # DC term excluded from the median
    weights = (np.uint64(1) << np.arange(bits.shape[1], dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def find_duplicates(images, groups, labels, near_max_mad=4.0, max_group=200):
    """Exact and near-duplicate pairs of images, within and across groups.

    Parameters
    ----------
    images : ndarray of shape (n, H, W), uint8
    groups : array-like of shape (n,)
        Split of each image.
    labels : array-like of shape (n,)
        Label of each image (to report pairs whose labels disagree).
    near_max_mad : float, default=4.0
        Largest mean absolute pixel difference of a near-duplicate pair.
    max_group : int, default=200
        Hash buckets larger than this (e.g. hundreds of blank images) are
        reported as one row per image against the bucket's first image instead
        of all pairs, to keep the table linear in size.

    Returns
    -------
    DataFrame
        One row per pair: ``i, j, group_i, group_j, label_i, label_j, kind, mad``,
        with ``i < j`` and ``kind`` in {"exact", "near"}.
    """
    images = np.asarray(images)
    groups = np.asarray(groups, dtype=object)
    labels = np.asarray(labels)
    rows = []

    def pairs_of(members):
        members = sorted(members)
        if len(members) > max_group:
            return [(members[0], m) for m in members[1:]]
        return list(combinations(members, 2))

    exact = pd.Series(exact_hashes(images))
    exact_pairs = set()
    for members in exact.groupby(exact).indices.values():
        if len(members) > 1:
            for i, j in pairs_of(members):
                exact_pairs.add((i, j))
                rows.append((i, j, "exact", 0.0))
    # Near duplicates: one representative per exact-hash bucket, bucketed by perceptual hash.
    first_of_exact = np.array(sorted(idx[0] for idx in exact.groupby(exact).indices.values()))
    phash = pd.Series(perceptual_hashes(images[first_of_exact]), index=first_of_exact)
    for members in phash.groupby(phash).groups.values():
        if len(members) < 2:
            continue
        for i, j in pairs_of(list(members)):
            mad = float(np.abs(images[i].astype(np.int16) - images[j].astype(np.int16)).mean())
            if mad <= near_max_mad:
                rows.append((i, j, "near", mad))
    frame = pd.DataFrame(rows, columns=["i", "j", "kind", "mad"])
    frame.insert(2, "group_i", groups[frame["i"]] if len(frame) else [])
    frame.insert(3, "group_j", groups[frame["j"]] if len(frame) else [])
    frame.insert(4, "label_i", labels[frame["i"]] if len(frame) else [])
    frame.insert(5, "label_j", labels[frame["j"]] if len(frame) else [])
    return frame.sort_values(["kind", "i", "j"]).reset_index(drop=True)


def duplicate_summary(pairs, group_order):
    """Count duplicate pairs per pair of groups and kind, with label disagreements.

    Parameters
    ----------
    pairs : DataFrame
        Output of :func:`find_duplicates`.
    group_order : sequence of str
        Order of the groups (e.g. the FER-2013 splits).

    Returns
    -------
    DataFrame
        Columns ``groups, kind, pairs, label_disagreements``, one row per
        (group pair, kind) found, groups written as ``"Training / PublicTest"``.
    """
    rank = {g: k for k, g in enumerate(group_order)}
    if pairs.empty:
        return pd.DataFrame(columns=["groups", "kind", "pairs", "label_disagreements"])
    first = [min(a, b, key=rank.get) for a, b in zip(pairs["group_i"], pairs["group_j"])]
    second = [max(a, b, key=rank.get) for a, b in zip(pairs["group_i"], pairs["group_j"])]
    frame = pairs.assign(
        groups=[f"{a} / {b}" for a, b in zip(first, second)],
        disagree=(pairs["label_i"] != pairs["label_j"]).astype(int),
    )
    out = frame.groupby(["groups", "kind"]).agg(pairs=("i", "size"), label_disagreements=("disagree", "sum"))
    return out.reset_index()


def leaked_test_images(pairs, train_group, test_groups):
    """Number of test images with at least one duplicate (exact or near) in the training group.

    Returns
    -------
    dict of str to int
        ``{test_group: n_images}``.
    """
    out = {}
    for test in test_groups:
        left = pairs[(pairs["group_i"] == train_group) & (pairs["group_j"] == test)]["j"]
        right = pairs[(pairs["group_j"] == train_group) & (pairs["group_i"] == test)]["i"]
        out[test] = int(pd.concat([left, right]).nunique())
    return out




#: Data sets the audit looks for, in the order it reports them.
AUDITED_DATASETS = ("fer2013", "ckplus48", "ckplus_sequences")


def load_datasets(data_dir):
    """Load whichever of FER-2013, CK+48 and the CK+ sequences ``data_dir`` holds.

    A data set that is absent is reported, not an error; one that is present
    but malformed raises :class:`~fer_lib.core.errors.DataError`.

    Parameters
    ----------
    data_dir : Path
        Resolved data folder.

    Returns
    -------
    loaded : dict
        ``{"fer2013": FER2013Data, "ckplus48": CKPlus48Data, "ckplus_sequences": CKPlusSequences}``
        for those present.
    absent : dict of str to str
        Why each missing data set is missing.
    """
    from fer_lib.core.errors import DataError
    from fer_lib.data import ckplus, fer2013

    finders = {
        "fer2013": (fer2013.find_fer2013, fer2013.load_fer2013),
        "ckplus48": (ckplus.find_ckplus48, ckplus.load_ckplus48),
        "ckplus_sequences": (ckplus.find_ckplus_sequences, ckplus.load_ckplus_sequences),
    }
    loaded, absent = {}, {}
    for name in AUDITED_DATASETS:
        find, load = finders[name]
        try:
            location = find(data_dir)
        except DataError as exc:
            absent[name] = str(exc)
            continue
        loaded[name] = load(location)
    return loaded, absent
