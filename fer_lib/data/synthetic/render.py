"""Drawing one face: :func:`render_face` and the anti-aliased raster helpers it uses.

From an identity, an expression and nuisance to a grayscale image and its 68 landmarks.

Coordinates: landmarks are float ``(x, y)`` pixel coordinates, 0-based, with
integer values at pixel centres (x to the right, y down), in the iBUG 68-point
layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67; "left" is
the image left, i.e. the subject's right).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from fer_lib.data.constants import FER2013_SIZE
from fer_lib.data.synthetic.expressions import EXPRESSION_PARAMETERS, SYNTHETIC_EXPRESSIONS, expression_vector
from fer_lib.data.synthetic.geometry import face_geometry, head_outline
from fer_lib.data.synthetic.nuisance import Nuisance

# Canonical face frame: head ellipse centred at (0, 0), half-width ~1, y down,
# eyes near y = 0. The point (0, _FACE_CENTRE_Y) is placed at the nuisance centre.
_FACE_CENTRE_Y = 0.25
_FACE_DEPTH = 0.55  # depth of the face surface at x = 0 (for yaw)
_N_PARAMS = len(EXPRESSION_PARAMETERS)


class _Transform:
    """Canonical face coordinates -> pixel coordinates (yaw, rotation, scale, shift)."""

    def __init__(self, idt, nuis, size):
        self.H, self.W = size
        self.unit = nuis.scale * self.H
        a = math.radians(nuis.angle_deg)
        self.ca, self.sa = math.cos(a), math.sin(a)
        self.cy_, self.sy_ = math.cos(nuis.yaw), math.sin(nuis.yaw)
        self.px0, self.py0 = nuis.cx * self.W, nuis.cy * self.H
        self.inv_fw2 = 1.0 / idt.face_w**2

    def __call__(self, pts, z_extra=0.0):
        pts = np.asarray(pts, dtype=np.float64)
        x, y = pts[..., 0], pts[..., 1]
        z = np.sqrt(np.maximum(1.0 - x * x * self.inv_fw2, 0.0))
        z *= _FACE_DEPTH
        z += z_extra
        u = (x * self.cy_ + z * self.sy_) * self.unit
        v = (y - _FACE_CENTRE_Y) * self.unit
        out = np.empty(pts.shape)
        out[..., 0] = self.px0 + self.ca * u - self.sa * v
        out[..., 1] = self.py0 + self.sa * u + self.ca * v
        return out

    def canonical_grid(self, y0, y1, x0, x1):
        """Approximate canonical (x, y) of the pixel centres of a box (for shading)."""
        xx, yy = _pixel_grid(self.H, self.W)
        dx, dy = xx[y0:y1, x0:x1] - self.px0, yy[y0:y1, x0:x1] - self.py0
        u = (self.ca * dx + self.sa * dy) / self.unit
        v = (-self.sa * dx + self.ca * dy) / self.unit
        x = (u - 0.8 * _FACE_DEPTH * self.sy_) / self.cy_
        return x, v + _FACE_CENTRE_Y


@functools.lru_cache(maxsize=8)
def _pixel_grid(H, W):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xx.setflags(write=False)
    yy.setflags(write=False)
    return xx, yy


@functools.lru_cache(maxsize=16)
def _unit_circle(n):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c = np.stack([np.cos(t), np.sin(t)], -1)
    c.setflags(write=False)
    return c


def _bbox(polys, H, W, pad):
    allp = polys[0] if len(polys) == 1 else np.concatenate(polys)
    xs, ys = allp[..., 0], allp[..., 1]
    x0 = max(int(math.floor(xs.min() - pad)), 0)
    y0 = max(int(math.floor(ys.min() - pad)), 0)
    x1 = min(int(math.ceil(xs.max() + pad)) + 1, W)
    y1 = min(int(math.ceil(ys.max() + pad)) + 1, H)
    return x0, y0, x1, y1


def _coverage(polys, H, W, closed=True, thickness=0, pad=2.0, box=None):
    """Anti-aliased coverage in [0, 1] of pixel polygons, on their bounding box (or ``box``)."""
    x0, y0, x1, y1 = _bbox(polys, H, W, pad + thickness) if box is None else box
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0], np.float64)
    ipts = [np.rint((p - off) * 16.0).astype(np.int32).reshape(-1, 1, 2) for p in polys]
    if thickness:
        cv2.polylines(mask, ipts, closed, 255, thickness=int(thickness), lineType=cv2.LINE_AA, shift=4)
    else:
        cv2.fillPoly(mask, ipts, 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) * (1.0 / 255.0), (y0, y1, x0, x1)


def _blend(img, cov, tone, alpha=1.0):
    if cov is None or alpha <= 0:
        return
    m, (y0, y1, x0, x1) = cov
    sub = img[y0:y1, x0:x1]
    sub += (m * alpha) * (tone - sub)


def _fill(img, polys, tone, alpha=1.0):
    _blend(img, _coverage(polys, img.shape[0], img.shape[1]), tone, alpha)


def _stroke(img, polys, tone, width_px, alpha=1.0, closed=False):
    """Draw polylines ``polys`` (a list of pixel arrays) of width ``width_px``."""
    th = max(1, int(round(width_px)))
    a = alpha * width_px if width_px < 1 else alpha
    _blend(img, _coverage(polys, img.shape[0], img.shape[1], closed=closed, thickness=th), tone, a)


def _ellipse(cx, cy, ax, ay, n=24):
    return _unit_circle(n) * (ax, ay) + (cx, cy)


@functools.lru_cache(maxsize=64)
def _texture(seed, H, W):
    """Low-frequency background texture in [-1, 1] (cached: constant within a sequence)."""
    small = np.random.default_rng(seed).uniform(-1.0, 1.0, (5, 6)).astype(np.float32)
    tex = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    tex.setflags(write=False)
    return tex


def _background(nuis, H, W):
    yy = np.linspace(-0.5, 0.5, H, dtype=np.float32)[:, None]
    img = np.full((H, W), nuis.background, np.float32) + nuis.background_gradient * yy
    if nuis.background_texture > 0:
        img += nuis.background_texture * _texture(nuis.texture_seed, H, W)
    return img


class _Shapes:
    """Collects canonical point arrays, then transforms them all in one call."""

    def __init__(self):
        self._pts, self._z, self._out = [], [], None

    def add(self, pts, z=0.0):
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        self._pts.append(pts)
        self._z.append(np.full(len(pts), z) if np.isscalar(z) else np.asarray(z, dtype=np.float64))
        return len(self._pts) - 1

    def run(self, tf):
        sizes = np.cumsum([len(p) for p in self._pts])[:-1]
        px = tf(np.concatenate(self._pts), np.concatenate(self._z))
        self._out = np.split(px, sizes)

    def __getitem__(self, handle):
        return self._out[handle]

    def many(self, handles):
        return [self._out[h] for h in handles]


def render_face(identity, expression="neutral", intensity=1.0, nuisance=None, size=(FER2013_SIZE, FER2013_SIZE)):
    """Draw one grayscale face and its 68 landmarks.

    Parameters
    ----------
    identity : Identity
        The subject (see :func:`sample_identity`).
    expression : str or array-like of shape (len(EXPRESSION_PARAMETERS),), default="neutral"
        A name from :data:`SYNTHETIC_EXPRESSIONS`, or an explicit apex
        parameter vector.
    intensity : float, default=1.0
        Scales the deformation (0 = neutral, 1 = apex). The subject's
        ``expressiveness`` multiplies it.
    nuisance : Nuisance, optional
        Pose, placement, illumination and image quality; default a clean,
        frontal, centred face.
    size : tuple of int, default=(48, 48)
        ``(height, width)`` of the canvas.

    Returns
    -------
    image : ndarray of shape (height, width), dtype uint8
        The rendered face.
    landmarks : ndarray of shape (68, 2), dtype float64
        iBUG 68-point ``(x, y)`` pixel coordinates of the drawn geometry,
        after the pose transform (may fall outside the canvas).
    """
    if isinstance(expression, str):
        p = expression_vector(expression, 1.0)
    else:
        p = np.asarray(expression, dtype=np.float64)
        if p.shape != (_N_PARAMS,):
            raise ValueError(
                f"expression must be a name from {list(SYNTHETIC_EXPRESSIONS)} or a vector of shape "
                f"({_N_PARAMS},); got shape {p.shape}"
            )
    p = p * float(intensity) * identity.expressiveness
    nuis = Nuisance() if nuisance is None else nuisance
    H, W = (int(size[0]), int(size[1]))
    idt = identity
    g, lm, lmz = face_geometry(idt, p)
    tf = _Transform(idt, nuis, (H, W))
    unit = tf.unit
    img = _background(nuis, H, W)
    skin = idt.skin

    # --- register every shape in canonical coordinates, then transform them at once
    sh = _Shapes()
    h_landmarks = sh.add(lm, lmz)
    h_shoulders = sh.add(_ellipse(0.0, 2.95, 2.2, 1.0, 32))
    h_neck = sh.add([[-0.4, 0.7], [0.4, 0.7], [0.46, 2.3], [-0.46, 2.3]])
    h_back = None
    if idt.hair_length > -0.35:
        back = _ellipse(0.0, -0.2, idt.face_w * 1.13 + idt.hair_volume * 0.5, idt.face_h * 1.02 + idt.hair_volume)
        back[:, 1] = np.minimum(back[:, 1], idt.hair_length)
        h_back = sh.add(back)
    h_ears = [sh.add(_ellipse(sd * idt.face_w * 0.97, 0.12, 0.12, 0.22, 16)) for sd in (-1, 1)]
    h_head = sh.add(g["head"])
    arc = head_outline(idt, np.linspace(np.pi, 2 * np.pi, 33), 0.0)  # hair cap above the hairline
    hl_y = idt.hairline + 0.55 * (arc[:, 0] / idt.face_w) ** 4
    cap = np.concatenate([arc, np.stack([arc[:, 0], np.maximum(arc[:, 1], hl_y)], -1)[::-1]])
    cap[:, 1] -= np.where(cap[:, 1] < idt.hairline, idt.hair_volume * 0.3, 0.0)
    h_cap = sh.add(cap)
    h_cheeks = [sh.add(_ellipse(sd * (idt.eye_dx + 0.03), idt.eye_y + 0.33, 0.2, 0.12)) for sd in (-1, 1)]
    eyes = g["eyes"]
    h_sockets = [sh.add(_ellipse(e["iris"][0], e["iris"][1] - 0.02, idt.eye_w * 1.35, idt.eye_h * 2.2)) for e in eyes]
    h_sclera = [sh.add(e["poly"]) for e in eyes]
    h_irises = [sh.add(_ellipse(cx, cy, r, r, 20)) for cx, cy, r in (e["iris"] for e in eyes)]
    h_pupils = [sh.add(_ellipse(cx, cy, 0.45 * r, 0.45 * r, 12)) for cx, cy, r in (e["iris"] for e in eyes)]
    h_upper = [sh.add(e["upper"]) for e in eyes]
    h_lower = [sh.add(e["lower"]) for e in eyes]
    h_crease = [sh.add(e["crease"]) for e in eyes]
    h_brows = [sh.add(brow["poly"]) for brow in g["brows"]]
    nose = g["nose"]
    nwid, nb, top = nose["w"], nose["base_y"], nose["top_y"]
    h_nose_sides = [
        sh.add([[sd * 0.07, top + 0.1], [sd * 0.085, nb - 0.2], [sd * nwid * 0.8, nb - 0.07]], 0.15) for sd in (-1, 1)
    ]
    h_wings = [sh.add(_ellipse(sd * nwid * 0.82, nb - 0.03, nwid * 0.28, 0.06, 12)[6:], 0.15) for sd in (-1, 1)]
    h_nostrils = [sh.add(_ellipse(sd * nwid * 0.45, nb - 0.005, 0.055, 0.024, 12), 0.2) for sd in (-1, 1)]
    h_tip = sh.add(_ellipse(0.0, nose["tip_y"] - 0.02, 0.06, 0.05, 12), 0.33)
    h_nose_shadow = sh.add(_ellipse(0.0, nb + 0.06, nwid * 0.7, 0.03, 16), 0.15)
    h_lines = [([sh.add(pts) for pts in group], a, width) for group, a, width in g["lines"]]
    mouth = g["mouth"]
    h_lips = sh.add(mouth["outer"])
    h_inner = sh.add(mouth["inner"])
    h_teeth = sh.add(mouth["teeth"])
    h_lip_line = sh.add(mouth["line"])
    h_chin = sh.add(mouth["chin_crease"])
    h_occ = None
    if nuis.occlusion is not None:
        x0, y0, x1, y1, _ = nuis.occlusion
        rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        h_occ = sh.add(np.concatenate([np.linspace(rect[i], rect[(i + 1) % 4], 8, endpoint=False) for i in range(4)]))
    sh.run(tf)

    # --- draw, back to front
    _fill(img, [sh[h_shoulders]], nuis.clothing)
    _fill(img, [sh[h_neck]], skin * 0.82)
    if h_back is not None:
        _fill(img, [sh[h_back]], idt.hair_tone)
    _fill(img, sh.many(h_ears), skin * 0.9)
    head_cov = _coverage([sh[h_head]], H, W)
    _blend(img, head_cov, skin)
    if head_cov is not None:  # shading: darker towards the face contour, only on the head
        m, (y0, y1, x0, x1) = head_cov
        gx, gy = tf.canonical_grid(y0, y1, x0, x1)
        r2 = (gx / idt.face_w) ** 2 + (gy / idt.face_h) ** 2
        img[y0:y1, x0:x1] *= 1.0 - m * 0.22 * np.clip(r2, 0.0, 1.0) ** 2
    _fill(img, [sh[h_cap]], idt.hair_tone)
    if g["cheek_glow"] > 0:
        _fill(img, sh.many(h_cheeks), min(1.0, skin * 1.15), g["cheek_glow"])

    # eyes: socket shadow, sclera, iris and pupil (clipped to the eye), lids
    _fill(img, sh.many(h_sockets), skin * 0.8, 0.35)
    sclera = sh.many(h_sclera)
    box = _bbox(sclera, H, W, 3.0)
    eye_cov = _coverage(sclera, H, W, box=box)
    _blend(img, eye_cov, min(0.92, skin + 0.22))
    if eye_cov is not None:
        m = eye_cov[0]
        _blend(img, (_coverage(sh.many(h_irises), H, W, box=box)[0] * m, eye_cov[1]), idt.iris_tone)
        _blend(img, (_coverage(sh.many(h_pupils), H, W, box=box)[0] * m, eye_cov[1]), 0.04)
    _stroke(img, sh.many(h_upper), 0.08, 0.035 * unit, 0.9)
    _stroke(img, sh.many(h_lower), skin * 0.6, 0.02 * unit, 0.5)
    _stroke(img, sh.many(h_crease), skin * 0.7, 0.018 * unit, 0.35)

    _fill(img, sh.many(h_brows), idt.brow_tone, 0.9)

    # nose: side shading, wings, nostrils, tip highlight, shadow below
    _stroke(img, sh.many(h_nose_sides), skin * 0.65, 0.02 * unit, 0.35)
    _stroke(img, sh.many(h_wings), skin * 0.6, 0.02 * unit, 0.45)
    _fill(img, sh.many(h_nostrils), skin * 0.3, 0.85)
    _fill(img, [sh[h_tip]], min(1.0, skin * 1.15), 0.35)
    _fill(img, [sh[h_nose_shadow]], skin * 0.7, 0.2)

    # wrinkles and folds
    for handles, a, width in h_lines:
        _stroke(img, sh.many(handles), skin * 0.62, width * unit, a)

    # mouth: lips, dark inside, upper teeth (clipped to the inside), lip line, chin crease
    _fill(img, [sh[h_lips]], skin * idt.lip_tone)
    if mouth["gap"] > 0.004:
        inner = [sh[h_inner]]
        box = _bbox(inner, H, W, 2.0)
        inner_cov = _coverage(inner, H, W, box=box)
        _blend(img, inner_cov, 0.08)
        if mouth["gap"] > 0.03 and inner_cov is not None:
            teeth = _coverage([sh[h_teeth]], H, W, box=box)[0]
            _blend(img, (teeth * inner_cov[0], inner_cov[1]), 0.85, 0.9)
    _stroke(img, [sh[h_lip_line]], skin * 0.35, 0.022 * unit, 0.8)
    _stroke(img, [sh[h_chin]], skin * 0.7, 0.02 * unit, 0.2)

    # occlusion (rotates with the head)
    if h_occ is not None:
        _fill(img, [sh[h_occ]], nuis.occlusion[4])

    # illumination gradient, brightness and contrast
    if nuis.illum_strength > 0:
        xx, yy = _pixel_grid(H, W)
        proj = ((xx / W - 0.5) * math.cos(nuis.illum_angle) + (yy / H - 0.5) * math.sin(nuis.illum_angle)) * 2.0
        img *= 1.0 + nuis.illum_strength * proj
    img = 0.5 + nuis.contrast * (img * nuis.brightness - 0.5)

    # blur and noise
    sigma = nuis.blur * unit
    if sigma > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)
    if nuis.noise_std > 0:
        img = img + np.random.default_rng(nuis.noise_seed).normal(0.0, nuis.noise_std / 255.0, img.shape).astype(
            np.float32
        )
    image = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return image, sh[h_landmarks].copy()
