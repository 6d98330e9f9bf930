"""Face geometry: the canonical shapes and 68 landmarks of an identity with an expression.

Canonical face frame: head ellipse centred at (0, 0), half-width ~1, y down, eyes near
y = 0; :mod:`~fer_lib.data.synthetic.render` places and poses it on the canvas. The
landmarks follow the iBUG 68-point layout (jaw 0-16, brows 17-26, nose 27-35, eyes
36-47, mouth 48-67; "left" is the image left, i.e. the subject's right).
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np

from fer_lib.data.constants import CKPLUS_N_LANDMARKS
from fer_lib.data.synthetic.expressions import PARAMETER_INDEX

_P = PARAMETER_INDEX  # short name for the parameter look-ups of face_geometry


def _mouth_samples():
    """Positions r in [-1, 1] (corner to corner) where the mouth curves are evaluated."""
    segs = {
        "corners": [-1.0, 1.0, -0.9, 0.9],
        "lm5": [-0.7, -0.35, 0.0, 0.35, 0.7],
        "lm3": [-0.45, 0.0, 0.45],
        "dense": np.linspace(-1.0, 1.0, 25),
        "inner": np.linspace(-0.9, 0.9, 21),
        "chin": np.linspace(-0.45, 0.45, 9),
    }
    r, idx, start = [], {}, 0
    for name, values in segs.items():
        values = np.asarray(values, dtype=np.float64)
        r.append(values)
        idx[name] = slice(start, start + len(values))
        start += len(values)
    inner = idx["inner"]
    idx["teeth"] = slice(inner.start + 3, inner.stop - 3)
    idx["centre"] = slice(inner.start + 8, inner.start + 13)
    r = np.concatenate(r)
    r.setflags(write=False)
    return r, MappingProxyType(idx)


_MOUTH_R, _MOUTH_SEG = _mouth_samples()


def head_outline(idt, alpha, jaw_drop):
    """Head contour at parameter angles ``alpha`` (bottom at pi/2), canonical coords."""
    s, c = np.sin(alpha), np.cos(alpha)
    y = idt.face_h * s
    taper = 1.0 - idt.chin_taper * np.clip(s, 0.0, 1.0) ** 2
    x = idt.face_w * c * taper
    y = y + jaw_drop * np.clip(s, 0.0, 1.0) ** 3
    return np.stack([x, y], axis=-1)


def face_geometry(idt, p):
    """Canonical shapes and 68 landmarks of a face with parameter vector ``p``."""
    g = {}
    br, bi, bq = p[_P["brow_raise"]], p[_P["brow_inner"]], p[_P["brow_squeeze"]]
    eo, lt = p[_P["eye_open"]], p[_P["lid_tighten"]]
    nw_, ulr = max(p[_P["nose_wrinkle"]], 0.0), max(p[_P["upper_lip_raise"]], 0.0)
    mo, ms = max(p[_P["mouth_open"]], 0.0), p[_P["mouth_stretch"]]
    cr, ca, lp = p[_P["corner_raise"]], max(p[_P["corner_asym"]], 0.0), max(p[_P["lip_press"]], 0.0)

    lm = np.zeros((CKPLUS_N_LANDMARKS, 2))
    lmz = np.zeros(CKPLUS_N_LANDMARKS)

    # mouth opening: gap between the lips, mostly a jaw drop
    gap = 0.3 * mo
    jaw_drop = 0.75 * gap
    g["jaw_drop"] = jaw_drop

    # --- jaw (0-16) on the head contour
    a0 = math.asin(float(np.clip((idt.eye_y + 0.1) / idt.face_h, -0.9, 0.9)))
    lm[0:17] = head_outline(idt, np.linspace(np.pi - a0, a0, 17), jaw_drop)
    g["head"] = head_outline(idt, np.linspace(0, 2 * np.pi, 72, endpoint=False), jaw_drop)

    # --- eyes (36-47)
    hu = idt.eye_h * max(0.2, 1.0 + 0.85 * eo - 0.35 * lt)
    hl = idt.eye_h * 0.7 * max(0.15, 1.0 + 0.25 * eo - 0.7 * lt)
    eyes = []
    r_dense = np.linspace(-1.0, 1.0, 15)
    r_lm = np.array([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])
    for k, side in enumerate((-1.0, 1.0)):
        cx = side * idt.eye_dx

        def y0(r, side=side):
            return idt.eye_y - idt.eye_tilt * (1.0 + side * r) / 2.0

        def upper(r, y0=y0):
            return y0(r) - hu * (1.0 - r**2) ** 0.75

        def lower(r, y0=y0):
            return y0(r) + hl * (1.0 - r**2) ** 0.75

        xs = cx + idt.eye_w * r_lm
        ys = np.array([y0(-1.0), upper(-1 / 3), upper(1 / 3), y0(1.0), lower(1 / 3), lower(-1 / 3)])
        lm[36 + 6 * k : 42 + 6 * k] = np.stack([xs, ys], -1)
        up = np.stack([cx + idt.eye_w * r_dense, upper(r_dense)], -1)
        lo = np.stack([cx + idt.eye_w * r_dense[::-1], lower(r_dense[::-1])], -1)
        eyes.append(
            {
                "poly": np.concatenate([up, lo[1:-1]]),
                "upper": up,
                "lower": lo,
                "iris": (cx, y0(0.0) - 0.15 * (hu - hl), 0.42 * idt.eye_w),
                "top": float(upper(0.0)),
                "crease": np.stack([up[:, 0], up[:, 1] - 0.035 - 0.25 * hu], -1)[2:-2],
            }
        )
    g["eyes"] = eyes

    # --- brows (17-26): centre lines, outer -> inner for the image-left brow
    t = np.linspace(0.0, 1.0, 5)  # 0 = outer end, 1 = inner end
    t_dense = np.linspace(0.0, 1.0, 11)
    brows = []
    for k, side in enumerate((-1.0, 1.0)):
        top_of_eye = idt.eye_y - hu - 0.045 - idt.brow_thick / 2

        def centre(tt, side=side, top_of_eye=top_of_eye):
            x_out = side * (idt.eye_dx + idt.eye_w * 1.3)
            x_in = side * (idt.eye_dx - idt.eye_w * 1.05)
            x = x_out + (x_in - x_out) * tt - side * 0.07 * max(bq, 0.0) * tt
            arch = 1.0 - ((tt - 0.4) / 0.6) ** 2
            y = (
                idt.eye_y
                - idt.brow_gap
                - idt.brow_arch * arch
                + 0.03 * (1.0 - tt) ** 2
                - 0.14 * br
                - 0.13 * bi * tt**1.5
            )
            return np.stack([x, np.minimum(y, top_of_eye)], -1)

        pts = centre(t)
        lm[17 + 5 * k : 22 + 5 * k] = pts if side < 0 else pts[::-1]
        c = centre(t_dense)
        d = np.gradient(c, axis=0)
        nrm = np.stack([-d[:, 1], d[:, 0]], -1)
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
        half = (idt.brow_thick * (0.55 + 0.45 * t_dense) / 2)[:, None]
        brows.append({"poly": np.concatenate([c + nrm * half, (c - nrm * half)[::-1]]), "centre": c})
    g["brows"] = brows
    brow_inner_y = float(min(lm[21, 1], lm[22, 1]))
    brow_mean_y = float(lm[17:27, 1].mean())

    # --- nose (27-35)
    lift = 0.04 * nw_ + 0.03 * ulr
    nwid = idt.nose_w * (1.0 + 0.1 * nw_)
    top = idt.eye_y - 0.02
    tip = idt.nose_y - 0.05 - lift
    lm[27:31] = np.stack([np.zeros(4), np.linspace(top, tip, 4)], -1)
    lmz[27:31] = [0.1, 0.18, 0.26, 0.33]
    nb = idt.nose_y - lift
    lm[31:36] = np.stack([np.array([-1, -0.5, 0, 0.5, 1]) * nwid, nb + np.array([-0.02, 0.01, 0.025, 0.01, -0.02])], -1)
    lmz[31:36] = [0.12, 0.2, 0.24, 0.2, 0.12]
    g["nose"] = {"w": nwid, "base_y": nb, "tip_y": tip, "top_y": top}

    # --- mouth (48-67)
    my = idt.mouth_y - 0.07 * ulr * 0.4
    mw = idt.mouth_w * (1.0 + 0.25 * ms + 0.12 * max(cr, 0.0) - 0.08 * lp)
    dy_corner = -0.09 * cr
    mwl = mwr = mw
    dyl = dyr = dy_corner
    if idt.contempt_side > 0:
        mwr, dyr = mw + 0.06 * ca, dy_corner - 0.085 * ca
    else:
        mwl, dyl = mw + 0.06 * ca, dy_corner - 0.085 * ca
    ut = idt.upper_lip * (1.0 - 0.55 * lp) * (1.0 - 0.15 * max(ms, 0.0))
    lt_ = idt.lower_lip * (1.0 - 0.55 * lp) * (1.0 - 0.15 * max(ms, 0.0))
    up_gap = 0.25 * gap + 0.05 * ulr
    low_gap = jaw_drop

    # every mouth curve evaluated once on all sample positions (_MOUTH_R), then sliced
    r = _MOUTH_R
    r2 = r * r
    left = r < 0
    x = r * np.where(left, mwl, mwr)
    mid = my + np.where(left, dyl, dyr) * r2
    opening = np.sqrt(np.maximum(1.0 - r2 / 0.81, 0.0))
    iu = mid - up_gap * opening
    il = mid + low_gap * opening
    round_ = np.sqrt(np.maximum(1.0 - r2, 0.0))
    ou = iu - ut * (0.25 + 0.75 * round_) * (1.0 - 0.25 * np.exp(-r2 / 0.0144))  # cupid's bow dip
    ol = il + lt_ * (0.2 + 0.8 * round_)

    def at(y, seg):
        return np.stack([x[seg], y[seg]], -1)

    m = _MOUTH_SEG
    corners4 = at(mid, m["corners"])  # r = -1, 1, -0.9, 0.9
    lm[48], lm[54], lm[60], lm[64] = corners4
    lm[49:54] = at(ou, m["lm5"])
    lm[55:60] = at(ol, m["lm5"])[::-1]
    lm[61:64] = at(iu, m["lm3"])
    lm[65:68] = at(il, m["lm3"])[::-1]
    lmz[48:68] = 0.08
    teeth = at(iu, m["teeth"])
    g["mouth"] = {
        "outer": np.concatenate([at(ou, m["dense"]), at(ol, m["dense"])[::-1][1:-1]]),
        "inner": np.concatenate([at(iu, m["inner"]), at(il, m["inner"])[::-1][1:-1]]),
        "line": at(mid, m["inner"]),
        "gap": float(np.mean((il - iu)[m["centre"]])),
        "teeth": np.concatenate([teeth, (teeth + (0.0, min(0.075, 0.45 * gap)))[::-1]]),
        "chin_crease": at(ol + 0.07 + 0.04 * (1.0 - r2), m["chin"]),
        "corners": (np.array([-mwl, my + dyl]), np.array([mwr, my + dyr])),
    }

    # --- wrinkles and folds: groups of polylines sharing (alpha, width)
    lines = []
    w_fore = 0.4 * float(np.clip(br - 0.2, 0.0, 1.0)) + 0.15 * idt.wrinkles * max(br, 0.0)
    if w_fore > 0.01:
        group = []
        for j, dy in enumerate((0.12, 0.2, 0.28)):
            xs = np.linspace(-0.38 + 0.05 * j, 0.38 - 0.05 * j, 9)
            ys = brow_mean_y - dy - 0.04 * (1 - (xs / 0.4) ** 2)
            group.append(np.stack([xs, ys], -1))
        lines.append((group, w_fore, 0.018))
    w_furrow = 0.5 * max(bq, 0.0) + 0.3 * max(-bi, 0.0)
    if w_furrow > 0.01:
        group = [
            np.stack([side * np.array([0.035, 0.05, 0.055]), brow_inner_y + np.array([0.02, -0.06, -0.13])], -1)
            for side in (-1, 1)
        ]
        lines.append((group, min(w_furrow, 0.7), 0.016))
    if nw_ > 0.01:
        group = []
        for side in (-1, 1):
            for j in range(3):
                y = idt.eye_y + 0.06 + 0.055 * j
                group.append(np.array([[side * 0.02, y - 0.01], [side * 0.09, y + 0.015]]))
        lines.append((group, 0.55 * min(nw_, 1.3), 0.015))
    w_nl = 0.12 + 0.45 * max(cr, 0.0) + 0.35 * ulr + 0.25 * nw_ + 0.25 * idt.wrinkles
    corners = g["mouth"]["corners"]
    tt = np.linspace(0, 1, 9)[:, None]
    folds = {}
    for k, side in enumerate((-1, 1)):
        start = np.array([side * (nwid + 0.05), nb - 0.05])
        end = corners[k] + np.array([side * 0.07, 0.06])
        ctrl = np.array([side * max(abs(end[0]) + 0.04, nwid + 0.13), (start[1] + end[1]) / 2])
        curve = (1 - tt) ** 2 * start + 2 * (1 - tt) * tt * ctrl + tt**2 * end
        a = round(min(w_nl + (0.3 * ca if side == idt.contempt_side else 0.0), 0.8), 6)
        folds.setdefault(a, []).append(curve)
    lines.extend((group, a, 0.02) for a, group in folds.items())
    g["lines"] = lines
    g["cheek_glow"] = 0.15 * max(cr, 0.0)
    return g, lm, lmz
