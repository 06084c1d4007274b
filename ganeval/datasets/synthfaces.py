"""synthfaces: a procedural, labelled, face-like RGB dataset whose attribute distribution the user sets.

One line: (seed, marginals, correlations) -> latent normals (Gaussian copula) -> 0/1 attributes,
(seed) -> nuisance uniforms -> per-image geometry and colours -> PIL polygons drawn 4x supersampled
-> box-filtered to `size` -> lighting -> DIR/images/*.png + DIR/attributes.csv + DIR/synthfaces.json.

Attributes (columns of attributes.csv, in this order; 0/1 each):
    skin_tone   0 = light, 1 = dark: the protected group; two clearly separated skin palettes, each with
                its own within-group variation of shade and warmth.
    hat         a brimmed hat over the top of the head (crown + brim, in a random colour).
    glasses     tinted lenses with thick dark frames, a bridge and temple arms, around the eyes.
    smiling     an open smile (dark mouth with a row of teeth) instead of a closed, flat mouth.
    beard       a full beard over cheeks and chin with a moustache, black to dark brown (darker than
                either skin palette, whatever the hair colour).
    dark_hair   hair from a black / dark-brown palette instead of blond / ginger / light brown / grey.

Nuisance (drawn from its own seeded stream, independent of every attribute): head position, size,
aspect and rotation, hair length and volume, eye spacing and height, mouth height and width, hat
crown height and brim width, hat, clothing, frame and background colours, background gradient
direction, lighting direction and strength, the beard's shade, and the within-group skin and hair shades.

Joint distribution of the attributes: a Gaussian copula. Attribute k is 1 when the latent
Z_k < Phi^-1(p_k), with Z ~ N(0, C). For each requested pair the latent correlation C_ij is solved so
that the phi (Pearson) correlation of the two 0/1 variables is exactly the requested value; pairs not
requested have C_ij = 0 and are therefore exactly independent. docs/synthfaces.md gives the limits.

Determinism: the attributes come from numpy's PCG64 seeded with (seed, 1), the nuisance from (seed, 2);
both are drawn row by row, so image i depends only on (seed, i, marginals, correlations, size):
the first 100 images of a 20,000-image set are the 100 images of the same seed's 100-image set
(when the requested distribution is the same), and the PNG bytes are the same on every run.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganeval import __version__
from ganeval.atomic import replace_folder
from ganeval.errors import BadInputError
from ganeval.progress import NO_PROGRESS, ProgressReporter

if TYPE_CHECKING:
    import torch

    from ganeval.datasets import ImageDataset

ATTRIBUTES = ("skin_tone", "hat", "glasses", "smiling", "beard", "dark_hair")
DEFAULT_MARGINALS: dict[str, float] = {
    "skin_tone": 0.5, "hat": 0.3, "glasses": 0.3, "smiling": 0.5, "beard": 0.3, "dark_hair": 0.5,
}
SKIN_TONE_GROUPS = {0: "light", 1: "dark"}
DEFAULT_N = 20000
DEFAULT_SIZE = 64
MIN_SIZE, MAX_SIZE = 16, 512
FORMAT = "ganeval-synthfaces"
FORMAT_VERSION = 1
RENDERER_VERSION = 1  # bump whenever a change to the drawing changes any pixel
JSON_NAME = "synthfaces.json"
CSV_NAME = "attributes.csv"
IMAGES_DIR = "images"
ATTRIBUTE_STREAM, NUISANCE_STREAM = 1, 2  # second word of the seed of each random stream

MSG_BAD_MARGINAL = "bad --p {text!r}: {why}"
MSG_BAD_CORRELATION = "bad --correlate {text!r}: {why}"
MSG_INFEASIBLE_PAIR = (
    "--correlate {a}:{b}={r:g} is infeasible with p({a})={pa:g} and p({b})={pb:g}: their phi correlation can "
    "only lie in [{lo:.4f}, {hi:.4f}]"
)
MSG_INFEASIBLE_JOINT = (
    "the requested correlations {pairs} cannot hold together in the Gaussian-copula model: their latent normal "
    "correlation matrix is not positive semi-definite (smallest eigenvalue {eig:.3g}); weaken or drop some of them"
)
MSG_MIXED_SIZES = (
    "images listed in {path} have different sizes ({first} is {w0}x{h0}, {other} is {w1}x{h1}); "
    "pass an image size to resize them all"
)
MSG_OUT_NOT_EMPTY = "{path} is a folder that is not empty; choose another folder or pass --force to replace it"
MSG_OUT_FOREIGN = (
    "{path} holds files but no synthfaces.json; ganeval replaces only a previous synthfaces dataset, even with --force"
)


# -- the joint distribution of the attributes ------------------------------------------------------


def parse_marginal(text: str) -> tuple[str, float]:
    """Parse a `--p NAME=P` request into (name, p); p must lie in [0, 1]."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise BadInputError(MSG_BAD_MARGINAL.format(text=text, why="expected NAME=P, e.g. hat=0.3"))
    try:
        p = float(value)
    except ValueError:
        raise BadInputError(MSG_BAD_MARGINAL.format(text=text, why=f"{value.strip()!r} is not a number")) from None
    return name, p


def parse_correlation(text: str) -> tuple[tuple[str, str], float]:
    """Parse a `--correlate A:B=R` request into ((A, B), R); R is the phi correlation, in [-1, 1]."""
    pair, sep, value = text.partition("=")
    a, colon, b = pair.partition(":")
    a, b = a.strip(), b.strip()
    if not sep or not colon or not a or not b:
        raise BadInputError(MSG_BAD_CORRELATION.format(text=text, why="expected A:B=R, e.g. hat:glasses=0.8"))
    try:
        r = float(value)
    except ValueError:
        raise BadInputError(MSG_BAD_CORRELATION.format(text=text, why=f"{value.strip()!r} is not a number")) from None
    return (a, b), r


def pair_key(a: str, b: str) -> str:
    """The "a:b" name of a pair, with a and b in ATTRIBUTES order (how JSON records pairs)."""
    i, j = sorted((ATTRIBUTES.index(a), ATTRIBUTES.index(b)))
    return f"{ATTRIBUTES[i]}:{ATTRIBUTES[j]}"


def _check_name(name: str, what: str, text: str) -> None:
    if name not in ATTRIBUTES:
        msg = MSG_BAD_MARGINAL if what == "p" else MSG_BAD_CORRELATION
        raise BadInputError(msg.format(text=text, why=f"unknown attribute {name!r} (known: {', '.join(ATTRIBUTES)})"))


def binary_phi_bounds(pa: float, pb: float) -> tuple[float, float]:
    """The smallest and largest phi correlation two 0/1 variables with P(1) = pa, pb can have
    (Frechet bounds on P(both) = max(0, pa + pb - 1) .. min(pa, pb)). Needs 0 < pa, pb < 1."""
    sd = math.sqrt(pa * (1 - pa) * pb * (1 - pb))
    return (max(0.0, pa + pb - 1) - pa * pb) / sd, (min(pa, pb) - pa * pb) / sd


def latent_to_phi(rho: float, pa: float, pb: float) -> float:
    """The phi correlation of 1[Z_a < Phi^-1(pa)] and 1[Z_b < Phi^-1(pb)] when (Z_a, Z_b) is standard
    bivariate normal with correlation rho.

    P(both) - pa*pb = integral over r from 0 to rho of the bivariate normal density at (h, k) with
    correlation r (d Phi2 / d rho is that density; Plackett 1954). With r = sin(t) the integrand
    exp(-(h^2 - 2 h k sin t + k^2) / (2 cos^2 t)) / (2 pi) is smooth and bounded on [0, asin(rho)], so
    scipy's quad evaluates it to ~1e-12. rho = +-1 gives the Frechet bounds exactly.
    """
    from scipy import integrate
    from scipy.stats import norm

    lo, hi = binary_phi_bounds(pa, pb)
    if rho >= 1.0:
        return hi
    if rho <= -1.0:
        return lo
    h, k = float(norm.ppf(pa)), float(norm.ppf(pb))

    def integrand(t: float) -> float:
        c2 = math.cos(t) ** 2
        return math.exp(-(h * h - 2 * h * k * math.sin(t) + k * k) / (2 * c2)) / (2 * math.pi) if c2 > 0 else 0.0

    cov, _ = integrate.quad(integrand, 0.0, math.asin(rho), epsabs=1e-14, epsrel=1e-12, limit=200)
    return cov / math.sqrt(pa * (1 - pa) * pb * (1 - pb))


def phi_to_latent(phi: float, pa: float, pb: float) -> float:
    """The latent normal correlation in [-1, 1] that gives phi (inverse of latent_to_phi, by brentq).
    The caller has checked that phi lies within binary_phi_bounds(pa, pb)."""
    from scipy.optimize import brentq

    lo, hi = binary_phi_bounds(pa, pb)
    if phi >= hi:
        return 1.0
    if phi <= lo:
        return -1.0
    if phi == 0.0:
        return 0.0
    return float(brentq(lambda r: latent_to_phi(r, pa, pb) - phi, -1.0, 1.0, xtol=1e-13, rtol=1e-13, maxiter=200))


@dataclass(frozen=True)
class AttributeModel:
    """The joint distribution of the 0/1 attributes (a Gaussian copula; module docstring).

    names:        attribute names, the column order of every matrix (ATTRIBUTES).
    marginals:    P(attribute = 1), float64 (K,).
    requested:    the requested phi correlations, {(a, b): phi} with a before b in `names`.
    latent:       the latent normal correlation matrix C, float64 (K, K), unit diagonal.
    """

    names: tuple[str, ...]
    marginals: np.ndarray
    requested: dict[tuple[str, str], float]
    latent: np.ndarray

    @property
    def thresholds(self) -> np.ndarray:
        """Phi^-1(p_k): attribute k is 1 when its latent normal lies below this (float64 (K,))."""
        from scipy.stats import norm

        return norm.ppf(self.marginals)

    def factor(self) -> np.ndarray:
        """A lower-triangular L with L L^T = C (Cholesky; a 1e-10 ridge when C is singular, which happens
        only when a requested phi sits exactly on its bound and rho = +-1)."""
        try:
            return np.linalg.cholesky(self.latent)
        except np.linalg.LinAlgError:
            ridge = 1e-10
            return np.linalg.cholesky((self.latent + ridge * np.eye(len(self.names))) / (1 + ridge))


def build_attribute_model(marginals: Mapping[str, float] | Iterable[tuple[str, float]] = (),
                          correlations: Mapping[tuple[str, str], float] | Iterable[tuple[tuple[str, str], float]] = (),
                          ) -> AttributeModel:
    """Turn user requests into an AttributeModel; defaults (DEFAULT_MARGINALS) fill unrequested marginals.

    marginals:    {name: P(name = 1)} with P in [0, 1].
    correlations: {(a, b): phi} with phi in [-1, 1], a != b, each unordered pair at most once; both
                  attributes must have 0 < p < 1 (phi is undefined for a constant).
    Raises BadInputError (one line, naming the request) for unknown names, values out of range, a
    phi beyond what the two marginals allow, or requests that cannot hold together (latent matrix
    not positive semi-definite).
    """
    items = marginals.items() if isinstance(marginals, Mapping) else marginals
    p = dict(DEFAULT_MARGINALS)
    seen: set[str] = set()
    for name, value in items:
        text = f"{name}={value}"
        _check_name(name, "p", text)
        if name in seen:
            raise BadInputError(MSG_BAD_MARGINAL.format(text=text, why=f"{name} is given more than once"))
        if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
            raise BadInputError(MSG_BAD_MARGINAL.format(text=text, why="P must be a number in [0, 1]"))
        seen.add(name)
        p[name] = float(value)
    names = ATTRIBUTES
    k = len(names)
    latent = np.eye(k)
    requested: dict[tuple[str, str], float] = {}
    pairs = correlations.items() if isinstance(correlations, Mapping) else correlations
    for (a, b), r in pairs:
        text = f"{a}:{b}={r}"
        _check_name(a, "r", text)
        _check_name(b, "r", text)
        if a == b:
            raise BadInputError(MSG_BAD_CORRELATION.format(text=text, why="a pair needs two different attributes"))
        if not (isinstance(r, (int, float)) and -1.0 <= float(r) <= 1.0):
            raise BadInputError(MSG_BAD_CORRELATION.format(text=text, why="R must be a number in [-1, 1]"))
        i, j = sorted((names.index(a), names.index(b)))
        key = (names[i], names[j])
        if key in requested:
            raise BadInputError(MSG_BAD_CORRELATION.format(text=text, why=f"the pair {a}:{b} is given more than once"))
        for name in (a, b):
            if not 0.0 < p[name] < 1.0:
                raise BadInputError(MSG_BAD_CORRELATION.format(
                    text=text, why=f"p({name}) = {p[name]:g} makes {name} constant, so it has no correlation"))
        lo, hi = binary_phi_bounds(p[a], p[b])
        if not lo - 1e-12 <= float(r) <= hi + 1e-12:
            raise BadInputError(MSG_INFEASIBLE_PAIR.format(a=a, b=b, r=float(r), pa=p[a], pb=p[b], lo=lo, hi=hi))
        requested[key] = float(r)
        latent[i, j] = latent[j, i] = phi_to_latent(float(r), p[names[i]], p[names[j]])
    smallest = float(np.linalg.eigvalsh(latent)[0]) if requested else 1.0
    if smallest < -1e-9:
        listed = ", ".join(f"{a}:{b}={r:g}" for (a, b), r in requested.items())
        raise BadInputError(MSG_INFEASIBLE_JOINT.format(pairs=listed, eig=smallest))
    return AttributeModel(names=names, marginals=np.array([p[n] for n in names]), requested=requested,
                          latent=latent)


def sample_attributes(model: AttributeModel, n: int, seed: int) -> np.ndarray:
    """Draw n rows of 0/1 attributes, uint8 (n, K) in model.names order.

    Latent rows are L g with g ~ N(0, I) from PCG64 seeded with (seed, ATTRIBUTE_STREAM), drawn row
    by row, so row i does not depend on n.
    """
    rng = np.random.default_rng([seed, ATTRIBUTE_STREAM])
    g = rng.standard_normal((n, len(model.names)))
    z = g @ model.factor().T
    return (z < model.thresholds).astype(np.uint8)


def phi_matrix(values: np.ndarray) -> np.ndarray:
    """Pearson (phi) correlations between the columns of a 0/1 matrix (n, K) -> float64 (K, K);
    NaN where a column is constant."""
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean(axis=0)
    sd = np.sqrt((x * x).mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x.T @ x / len(x)) / np.outer(sd, sd)


# -- nuisance --------------------------------------------------------------------------------------

# Each nuisance parameter is one uniform column mapped linearly onto (low, high); colours are mapped
# through HSV or a palette below. Geometry is in units of the image side.
_NUISANCE_RANGES: dict[str, tuple[float, float]] = {
    "cx": (0.43, 0.57), "cy": (0.42, 0.50), "scale": (0.175, 0.225), "aspect": (1.12, 1.30),
    "angle": (-10.0, 10.0),
    "skin_shade": (0.0, 1.0), "skin_warmth": (0.0, 1.0), "hair_shade": (0.0, 1.0), "beard_shade": (0.0, 1.0),
    "hair_length": (0.0, 0.95), "hair_volume": (0.06, 0.2), "fringe": (0.42, 0.62),
    "eye_x": (0.36, 0.44), "eye_y": (-0.18, -0.04), "mouth_y": (0.50, 0.62), "mouth_w": (0.36, 0.48),
    "crown": (0.28, 0.5), "brim": (1.25, 1.5), "hat_h": (0.0, 1.0), "hat_s": (0.55, 1.0), "hat_v": (0.45, 0.95),
    "cloth_h": (0.0, 1.0), "cloth_s": (0.2, 0.9), "cloth_v": (0.25, 0.9),
    "frame": (0.0, 1.0),
    "bg1_h": (0.0, 1.0), "bg1_s": (0.05, 0.5), "bg1_v": (0.35, 0.95),
    "bg2_h": (0.0, 1.0), "bg2_s": (0.05, 0.5), "bg2_v": (0.35, 0.95), "bg_angle": (0.0, 2 * math.pi),
    "light_angle": (0.0, 2 * math.pi), "light": (0.0, 0.16),
}
NUISANCE_FIELDS = tuple(_NUISANCE_RANGES)


@dataclass(frozen=True)
class Nuisance:
    """One image's nuisance parameters (values, not uniforms).

    Geometry: the head is an ellipse centred at (cx, cy) (fractions of the image side, x right, y
    down) with half-width `scale` (fraction of the side) and half-height scale * aspect, rotated by
    `angle` degrees (positive: clockwise on screen). Face-local coordinates (u, v) are in units of the
    half-width, v down, before rotation: pixel = centre + scale * side * R(angle) (u, v). Features sit
    at fixed local places: eyes at (+-eye_x, eye_y * aspect), mouth at v = mouth_y * aspect, the hat
    brim at v = -0.5 * aspect. The other fields are colours and shapes (see _NUISANCE_RANGES).
    """

    values: dict[str, float]

    def __getattr__(self, name: str) -> float:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def from_uniforms(cls, u: Sequence[float]) -> Nuisance:
        """Map one row of len(NUISANCE_FIELDS) uniforms in [0, 1) onto the parameter ranges."""
        return cls({name: lo + (hi - lo) * float(x) for (name, (lo, hi)), x in zip(_NUISANCE_RANGES.items(), u)})


def sample_nuisance(n: int, seed: int) -> np.ndarray:
    """Uniforms float64 (n, len(NUISANCE_FIELDS)) from PCG64 seeded with (seed, NUISANCE_STREAM);
    drawn row by row and never looking at the attributes, so nuisance is independent of them."""
    return np.random.default_rng([seed, NUISANCE_STREAM]).random((n, len(NUISANCE_FIELDS)))


# -- rendering --------------------------------------------------------------------------------------

# Skin palettes: (shade 0 colour, shade 1 colour) per group; warmth shifts red/blue a little.
_SKIN = {0: ((248, 218, 192), (222, 176, 140)), 1: ((150, 102, 72), (98, 64, 44))}
# Hair palettes as colour polylines walked by hair_shade.
_HAIR = {
    0: ((228, 196, 120), (196, 112, 54), (168, 128, 86), (190, 188, 182)),  # blond, ginger, light brown, grey
    1: ((22, 18, 18), (48, 34, 26), (74, 48, 30)),  # black, very dark brown, dark brown
}
_BEARD = ((18, 14, 12), (52, 38, 30))  # black to dark brown: darker than either skin palette
_FRAMES = ((20, 20, 22), (60, 60, 66), (70, 40, 24), (24, 30, 70))
_LENS_TINT = (205, 225, 255, 130)
_MOUTH_OPEN = (72, 12, 22)
_TEETH = (246, 246, 240)
_LIPS = (150, 62, 62)
_EYE_WHITE = (246, 246, 246)
_IRIS = (40, 30, 30)
_WRITE_BLOCK = 256  # images per rendering task
PNG_COMPRESS_LEVEL = 1  # zlib level: about 2.5x faster than PIL's default 6 for ~20% larger files
SUPERSAMPLE = 4  # shapes are drawn at 4x the output side and box-filtered down (antialiasing)


def _lerp(c0: Sequence[float], c1: Sequence[float], t: float) -> tuple[float, ...]:
    return tuple(a + (b - a) * t for a, b in zip(c0, c1))


def _polyline_colour(colours: Sequence[Sequence[int]], t: float) -> tuple[float, ...]:
    pos = t * (len(colours) - 1)
    i = min(int(pos), len(colours) - 2)
    return _lerp(colours[i], colours[i + 1], pos - i)


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _rgb(c: Sequence[float]) -> tuple[int, int, int]:
    return tuple(int(round(min(255.0, max(0.0, v)))) for v in c)  # type: ignore[return-value]


def skin_colour(group: int, nz: Nuisance) -> tuple[int, int, int]:
    """Skin colour of a face: the group's palette at skin_shade, warmed or cooled by up to +-8 levels."""
    base = _lerp(*_SKIN[int(group)], nz.skin_shade)
    w = (nz.skin_warmth - 0.5) * 16
    return _rgb((base[0] + w, base[1], base[2] - w))


def hair_colour(dark: int, nz: Nuisance) -> tuple[int, int, int]:
    """Hair colour: the dark or the light palette walked by hair_shade."""
    return _rgb(_polyline_colour(_HAIR[int(dark)], nz.hair_shade))


class _Frame:
    """Maps face-local (u, v) points to supersampled canvas pixels for one image."""

    def __init__(self, nz: Nuisance, side: int) -> None:
        self.s = nz.scale * side
        self.c = np.array([nz.cx * side, nz.cy * side])
        t = math.radians(nz.angle)
        self.rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])

    def __call__(self, pts: np.ndarray) -> list[float]:
        """Flat [x0, y0, x1, y1, ...] canvas coordinates (the form ImageDraw takes)."""
        return (self.c + self.s * (np.asarray(pts, dtype=np.float64) @ self.rot.T)).ravel().tolist()


_CLOSED_STEPS: dict[int, np.ndarray] = {}
_OPEN_STEPS: dict[int, np.ndarray] = {}


def _ellipse(cu: float, cv: float, ru: float, rv: float, t0: float = 0.0, t1: float = 2 * math.pi,
             n: int = 48) -> np.ndarray:
    """n points (n, 2) of the ellipse centred (cu, cv) with radii (ru, rv), angles t0..t1 (a full turn
    leaves out the repeated end point)."""
    if abs(t1 - t0) >= 2 * math.pi - 1e-9:
        steps = _CLOSED_STEPS.get(n)
        if steps is None:
            steps = _CLOSED_STEPS[n] = np.arange(n) / n
    else:
        steps = _OPEN_STEPS.get(n)
        if steps is None:
            steps = _OPEN_STEPS[n] = np.arange(n) / (n - 1)
    t = t0 + (t1 - t0) * steps
    out = np.empty((n, 2))
    out[:, 0] = cu + ru * np.cos(t)
    out[:, 1] = cv + rv * np.sin(t)
    return out


def _arc_below(ru: float, rv: float, v0: float, cv: float = 0.0, n: int = 40) -> np.ndarray:
    """Points of the ellipse (0, cv, ru, rv) with v > v0, from the right side round the bottom to the left."""
    s = np.clip((v0 - cv) / rv, -1.0, 1.0)
    t0 = math.asin(s)
    return _ellipse(0.0, cv, ru, rv, t0, math.pi - t0, n)


def _arc_above(ru: float, rv: float, v0: float, cv: float = 0.0, n: int = 40) -> np.ndarray:
    """Points of the ellipse (0, cv, ru, rv) with v < v0, from the left side over the top to the right."""
    s = np.clip((v0 - cv) / rv, -1.0, 1.0)
    t0 = math.asin(s)
    return _ellipse(0.0, cv, ru, rv, math.pi - t0, 2 * math.pi + t0, n)


def _background(nz: Nuisance, side: int) -> np.ndarray:
    """A linear gradient between two colours along bg_angle: uint8 (side, side, 3), computed at the
    output side (the canvas repeats each pixel SUPERSAMPLE x SUPERSAMPLE times, which the final box
    filter returns exactly)."""
    c1 = np.array(_hsv(nz.bg1_h, nz.bg1_s, nz.bg1_v), dtype=np.float32)
    c2 = np.array(_hsv(nz.bg2_h, nz.bg2_s, nz.bg2_v), dtype=np.float32)
    g = (np.arange(side, dtype=np.float32) + 0.5) / side - 0.5
    proj = math.cos(nz.bg_angle) * g[None, :] + math.sin(nz.bg_angle) * g[:, None]
    t = np.clip(proj / math.sqrt(0.5) * 0.5 + 0.5, 0.0, 1.0)[:, :, None]
    return (c1 + (c2 - c1) * t + 0.5).astype(np.uint8)


def render_face(attributes: Mapping[str, int] | Sequence[int], nuisance: Nuisance, size: int) -> np.ndarray:
    """Draw one face: uint8 (size, size, 3) RGB.

    attributes: {name: 0/1} for every name in ATTRIBUTES, or a sequence in ATTRIBUTES order.
    The picture depends only on (attributes, nuisance, size); every attribute draws only inside its
    own region of the face (docs/synthfaces.md), so flipping one attribute leaves the rest of the
    image as it was.
    """
    from PIL import Image, ImageDraw

    a = dict(attributes) if isinstance(attributes, Mapping) else dict(zip(ATTRIBUTES, attributes))
    if set(a) != set(ATTRIBUTES) or any(int(v) not in (0, 1) for v in a.values()):
        raise BadInputError(f"render_face needs a 0/1 value for each of {', '.join(ATTRIBUTES)}, got {a!r}")
    nz = nuisance
    side = size * SUPERSAMPLE
    img = Image.fromarray(_background(nz, size)).resize((side, side), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img, "RGBA")
    f = _Frame(nz, side)
    asp = nz.aspect
    skin = skin_colour(a["skin_tone"], nz)
    hair = hair_colour(a["dark_hair"], nz)
    px = f.s  # one face-local unit in canvas pixels

    def poly(pts: np.ndarray, colour: Sequence[int]) -> None:
        draw.polygon(f(pts), fill=tuple(colour))

    # clothing and neck
    poly(_ellipse(0.0, asp + 1.45, 1.75, 1.05), _hsv(nz.cloth_h, nz.cloth_s, nz.cloth_v))
    shade = _rgb(np.array(skin) * 0.86)
    poly(np.array([[-0.36, 0.55 * asp], [0.36, 0.55 * asp], [0.40, asp + 0.55], [-0.40, asp + 0.55]]), shade)
    # hair behind the head: the top of a larger ellipse, extended down the sides to hair_length
    vol = nz.hair_volume
    length = nz.hair_length * asp
    back = _arc_above(1.0 + vol, asp + vol, 0.0)
    back = np.vstack([[[-(1.0 + vol), length]], back, [[1.0 + vol, length]]])
    poly(back, hair)
    # ears, head
    for side_sign in (-1.0, 1.0):
        poly(_ellipse(side_sign * 0.98, 0.02 * asp, 0.16, 0.26, n=24), skin)
    poly(_ellipse(0.0, 0.0, 1.0, asp), skin)
    # hair over the forehead, and sideburns down to the ears
    fringe_v = -nz.fringe * asp
    poly(_arc_above(1.03, asp * 1.03, fringe_v), hair)
    for sgn in (-1.0, 1.0):
        poly(np.array([[sgn * 1.02, fringe_v], [sgn * 0.82, fringe_v], [sgn * 0.86, 0.0], [sgn * 1.0, 0.0]]), hair)
    # eyes and nose
    ey = nz.eye_y * asp
    for sgn in (-1.0, 1.0):
        poly(_ellipse(sgn * nz.eye_x, ey, 0.17, 0.1, n=24), _EYE_WHITE)
        poly(_ellipse(sgn * nz.eye_x, ey, 0.075, 0.075, n=16), _IRIS)
    poly(np.array([[0.0, ey + 0.12], [0.08, 0.3 * asp], [-0.08, 0.3 * asp]]), shade)
    my = nz.mouth_y * asp
    mw = nz.mouth_w
    if a["beard"]:
        beard = _rgb(_lerp(*_BEARD, nz.beard_shade))
        top = 0.22 * asp
        pts = _arc_below(1.02, asp * 1.1, top)
        poly(np.vstack([[[-0.95, top]], [[-0.8, top - 0.04]], [[0.8, top - 0.04]], [[0.95, top]], pts[::-1]]), beard)
        poly(_ellipse(0.0, my - 0.12, mw + 0.12, 0.1, n=24), beard)  # moustache
    if a["smiling"]:
        poly(np.vstack([[[-mw, my - 0.08]], _ellipse(0.0, my - 0.08, mw, 0.34, 0.0, math.pi, 24)]), _MOUTH_OPEN)
        poly(np.array([[-mw * 0.88, my - 0.06], [mw * 0.88, my - 0.06], [mw * 0.7, my + 0.1],
                       [-mw * 0.7, my + 0.1]]), _TEETH)
    else:
        poly(_ellipse(0.0, my, mw * 0.8, 0.05, n=24), _LIPS)
    if a["glasses"]:
        frame = _FRAMES[min(int(nz.frame * len(_FRAMES)), len(_FRAMES) - 1)]
        width = max(1, int(round(0.09 * px)))
        for sgn in (-1.0, 1.0):
            ring = f(_ellipse(sgn * nz.eye_x, ey, 0.27, 0.22, n=32))
            draw.polygon(ring, fill=_LENS_TINT)
            draw.line(ring + ring[:2], fill=frame, width=width, joint="curve")
            outer = sgn * (nz.eye_x + 0.27)
            draw.line(f(np.array([[outer, ey - 0.03], [sgn * 1.0, ey - 0.06]])), fill=frame, width=width)
        draw.line(f(np.array([[-nz.eye_x + 0.27, ey - 0.02], [nz.eye_x - 0.27, ey - 0.02]])), fill=frame,
                  width=width)
    if a["hat"]:
        colour = _hsv(nz.hat_h, nz.hat_s, nz.hat_v)
        brim_v = -0.5 * asp
        top_v = -(asp + nz.crown)
        crown = np.vstack([[[-0.88, brim_v]], _ellipse(0.0, top_v + 0.25, 0.8, 0.25, math.pi, 2 * math.pi, 24),
                           [[0.88, brim_v]]])
        poly(crown, colour)
        poly(np.array([[-0.87, brim_v - 0.02], [0.87, brim_v - 0.02], [0.86, brim_v - 0.18], [-0.86, brim_v - 0.18]]),
             _rgb(np.array(colour) * 0.6))  # band
        poly(_ellipse(0.0, brim_v, nz.brim, 0.13, n=40), colour)
    small = np.asarray(img.reduce(SUPERSAMPLE), dtype=np.float32)
    return _light(small, nz)


def _light(pixels: np.ndarray, nz: Nuisance) -> np.ndarray:
    """Multiply by 1 + light * (position along light_angle, -1..1): uint8 (H, W, 3)."""
    side = pixels.shape[0]
    g = (np.arange(side, dtype=np.float32) + 0.5) / side * 2.0 - 1.0
    proj = (math.cos(nz.light_angle) * g[None, :] + math.sin(nz.light_angle) * g[:, None]) / math.sqrt(2.0)
    out = pixels * (1.0 + nz.light * proj)[:, :, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# -- writing a dataset ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthFacesConfig:
    """What `ganeval data synthfaces` makes.

    n:            number of images; size: side in pixels (MIN_SIZE..MAX_SIZE); seed: seeds everything.
    marginals:    ((name, P(name = 1)), ...) overriding DEFAULT_MARGINALS.
    correlations: (((a, b), phi), ...) requested phi correlations; other pairs are independent.
    """

    n: int = DEFAULT_N
    size: int = DEFAULT_SIZE
    seed: int = 0
    marginals: tuple[tuple[str, float], ...] = ()
    correlations: tuple[tuple[tuple[str, str], float], ...] = ()

    def model(self) -> AttributeModel:
        """The attribute model these requests define (BadInputError when they are infeasible)."""
        return build_attribute_model(self.marginals, self.correlations)

    def check(self) -> None:
        """Refuse bad n, size or seed with a one-line BadInputError."""
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise BadInputError(f"--n must be a positive integer, got {self.n!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE:
            raise BadInputError(f"--size must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {self.size!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise BadInputError(f"--seed must be a non-negative integer, got {self.seed!r}")


@dataclass(frozen=True)
class SynthFacesSummary:
    """What write_synthfaces wrote: the folder, the synthfaces.json record, and the wall time in seconds."""

    out: Path
    record: dict[str, Any]
    seconds: float


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def dataset_record(config: SynthFacesConfig, model: AttributeModel, values: np.ndarray) -> dict[str, Any]:
    """The synthfaces.json content: settings, the requested and realised distribution, versions.
    Deterministic for the same config (no times or paths), so the whole folder is byte-identical."""
    import PIL
    import scipy

    names = model.names
    phi = phi_matrix(values)
    width = max(6, len(str(config.n - 1)))
    realised_pairs = {f"{names[i]}:{names[j]}": _finite(phi[i, j])
                      for i in range(len(names)) for j in range(i + 1, len(names))}
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "renderer_version": RENDERER_VERSION,
        "n": config.n, "size": config.size, "seed": config.seed, "supersample": SUPERSAMPLE,
        "attributes": list(names),
        "groups": {"skin_tone": {str(k): v for k, v in SKIN_TONE_GROUPS.items()}},
        "marginals": {
            "requested": {name: p for name, p in config.marginals},
            "model": {n: float(p) for n, p in zip(names, model.marginals)},
            "realised": {n: float(v) for n, v in zip(names, values.mean(axis=0))},
        },
        "correlations": {
            "measure": "phi (Pearson correlation of the 0/1 attributes)",
            "requested": {f"{a}:{b}": r for (a, b), r in model.requested.items()},
            "latent": {f"{a}:{b}": float(model.latent[names.index(a), names.index(b)])
                       for (a, b) in model.requested},
            "realised": realised_pairs,
        },
        "model": "gaussian-copula",
        "files": {"images": f"{IMAGES_DIR}/{0:0{width}d}.png .. {IMAGES_DIR}/{config.n - 1:0{width}d}.png",
                  "attributes": CSV_NAME},
        "ganeval_version": __version__,
        "versions": {"numpy": np.__version__, "pillow": PIL.__version__, "scipy": scipy.__version__},
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_target(out: Path, force: bool) -> None:
    """Refuse, before any work, an output that would overwrite something it should not."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise BadInputError(MSG_OUT_NOT_EMPTY.format(path=out))
        if not (out / JSON_NAME).is_file():
            raise BadInputError(MSG_OUT_FOREIGN.format(path=out))


def _install(tmp: Path, out: Path, force: bool) -> None:
    """Rename the finished temp folder to `out`, replacing a previous synthfaces folder (renames only)."""
    _check_target(out, force)
    replace_folder(tmp, out)


def _nuisance_blocks(config: SynthFacesConfig, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, uniforms (m, len(NUISANCE_FIELDS))) for consecutive blocks of rows of the nuisance stream
    (the same numbers as sample_nuisance(config.n, config.seed), without holding all of them)."""
    rng = np.random.default_rng([config.seed, NUISANCE_STREAM])
    for start in range(0, config.n, block):
        yield start, rng.random((min(block, config.n - start), len(NUISANCE_FIELDS)))


def render_images(config: SynthFacesConfig, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images start..stop-1 of the dataset `config` describes, in memory: (uint8 (m, S, S, 3) RGB,
    attributes uint8 (m, K)); the same pixels write_synthfaces saves as PNG."""
    config.check()
    stop = config.n if stop is None else min(stop, config.n)
    values = sample_attributes(config.model(), config.n, config.seed)
    images = np.empty((max(stop - start, 0), config.size, config.size, 3), dtype=np.uint8)
    for first, u in _nuisance_blocks(config, 4096):
        for k in range(max(start, first), min(stop, first + len(u))):
            images[k - start] = render_face(values[k], Nuisance.from_uniforms(u[k - first]), config.size)
        if first + len(u) >= stop:
            break
    return images, values[start:stop]


def _render_block(job: tuple[int, np.ndarray, np.ndarray, int, str, int]) -> int:
    """Render and save one block of images (a process-pool task): (start, attributes (m, K), uniforms
    (m, F), size, folder, name width) -> m."""
    from PIL import Image

    start, values, u, size, folder, width = job
    for k in range(len(u)):
        pixels = render_face(values[k], Nuisance.from_uniforms(u[k]), size)
        Image.fromarray(pixels).save(os.path.join(folder, f"{start + k:0{width}d}.png"), format="PNG",
                                     compress_level=PNG_COMPRESS_LEVEL)
    return len(u)


def write_synthfaces(out: str | os.PathLike, config: SynthFacesConfig = SynthFacesConfig(), *, force: bool = False,
                     workers: int = 1, progress: ProgressReporter = NO_PROGRESS) -> SynthFacesSummary:
    """Render a synthfaces dataset into the folder `out`; the call behind `ganeval data synthfaces`.

    Writes out/images/000000.png ... (RGB PNGs, size x size), out/attributes.csv (`file` then one 0/1
    column per attribute, ATTRIBUTES order; files relative to `out`) and out/synthfaces.json
    (dataset_record). Everything is built in a hidden temp folder beside `out` and renamed into place
    at the end, so an interrupted run leaves no folder that looks complete. An existing non-empty
    `out` is refused unless force, and even then only a previous synthfaces folder is replaced.
    workers > 1 renders blocks of images in that many processes; the files are the same bytes.
    """
    from ganeval.datasets.attributes import make_table, table_to_csv_text

    out = Path(out)
    config.check()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BadInputError(f"--workers must be a positive integer, got {workers!r}")
    model = config.model()  # refuse infeasible requests before touching the disk
    _check_target(out, force)
    values = sample_attributes(model, config.n, config.seed)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.", suffix=".tmp", dir=parent))
    t0 = time.perf_counter()
    width = max(6, len(str(config.n - 1)))
    task = progress.task("synthfaces", total=config.n)
    pool = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; follow the umask like mkdir would
        (tmp / IMAGES_DIR).mkdir()
        jobs = ((start, values[start:start + len(u)], u, config.size, str(tmp / IMAGES_DIR), width)
                for start, u in _nuisance_blocks(config, _WRITE_BLOCK))
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            counts = pool.map(_render_block, jobs)
        else:
            counts = map(_render_block, jobs)
        done = 0
        for count in counts:
            done += count
            progress.advance(task, count, rate=f"{done / max(time.perf_counter() - t0, 1e-9):.0f} img/s")
        files = [f"{IMAGES_DIR}/{i:0{width}d}.png" for i in range(config.n)]
        table = make_table(files, values, model.names)
        (tmp / CSV_NAME).write_text(table_to_csv_text(table), encoding="utf-8")
        record = dataset_record(config, model, values)
        (tmp / JSON_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")  # last: marks complete
        _install(tmp, out, force)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if pool is not None:
        pool.shutdown()
    progress.finish(task, note=f"{config.n} images")
    return SynthFacesSummary(out=out, record=record, seconds=time.perf_counter() - t0)


# -- reading a dataset back -------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeImages:
    """Images with binary attributes, in memory (a synthfaces folder, or any folder with an attribute table).

    images:          uint8 (N, 3, H, W) torch tensor, RGB.
    attributes:      uint8 (N, K) numpy array of 0/1, column k for attribute_names[k].
    attribute_names: the K attribute names.
    files:           the N image paths as the table lists them.
    labels:          int64 (N,) torch tensor, the values of the conditioning attribute, or None.
    class_names:     (f"{attribute}=0", f"{attribute}=1") when conditioning, else ().
    fingerprint:     sha256 hex over the pixels, the attribute matrix and names, and the labels
                     (independent of where the folder lies).
    name:            the path the data was read from.
    """

    name: str
    images: torch.Tensor
    attributes: np.ndarray
    attribute_names: tuple[str, ...]
    files: tuple[str, ...]
    labels: torch.Tensor | None
    class_names: tuple[str, ...]
    fingerprint: str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def as_image_dataset(self) -> ImageDataset:
        """The registry's ImageDataset view (images, labels, class names, this fingerprint)."""
        from ganeval.datasets import ImageDataset

        return ImageDataset(name=self.name, images=self.images, labels=self.labels, class_names=self.class_names,
                            fingerprint=self.fingerprint)


def attribute_fingerprint(images: torch.Tensor, attributes: np.ndarray, names: Sequence[str],
                          labels: torch.Tensor | None, class_names: Sequence[str]) -> str:
    """sha256 hex over a format tag, the shape and bytes of the images, the attribute names and
    matrix, and the labels: a different pixel, attribute value, resize or conditioning changes it."""
    digest = hashlib.sha256(b"ganeval-attribute-images-1\n")
    digest.update(repr((tuple(images.shape), tuple(names), tuple(class_names))).encode("utf-8"))
    digest.update(images.contiguous().numpy().tobytes())
    digest.update(np.ascontiguousarray(attributes, dtype=np.uint8).tobytes())
    digest.update(b"labels:" if labels is not None else b"unlabelled")
    if labels is not None:
        digest.update(labels.contiguous().numpy().astype("<i8").tobytes())
    return digest.hexdigest()


_READ_CHUNK = 256


def _read_image(path: Path) -> np.ndarray:
    from ganeval.sources import decode_image

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read image {path}: {exc.strerror or exc}") from None
    return decode_image(data, str(path))


def _center_square(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return pixels[top:top + side, left:left + side]


def load_synthfaces_folder(path: str | os.PathLike, *, attribute: str | None = None, image_size: int | None = None,
                           limit: int | None = None, images_dir: str | os.PathLike | None = None,
                           progress: ProgressReporter = NO_PROGRESS) -> AttributeImages:
    """Read a folder with an attribute table (a synthfaces folder, or CelebA's layout) into memory.

    path:       the folder (its table is found by attributes.find_table: attributes.csv, then
                list_attr_celeba.txt, then Anno/list_attr_celeba.txt) or the table file itself.
    attribute:  condition on this attribute: labels = its 0/1 values, class names
                ("{attribute}=0", "{attribute}=1"). None: labels None.
    image_size: resize every image to image_size x image_size (bilinear, antialiased, as
                ganeval.datasets.resize_images); a non-square image is first cropped to its centred
                square. None keeps the native size, which must then be the same for every image.
    limit:      keep only the first `limit` rows of the table.
    images_dir: where the listed files are (default: attributes.images_base's search).
    Images are decoded as every ganeval input is (ganeval.sources.decode_image: RGB, alpha dropped).
    Raises BadInputError (one line, naming the file) for a bad table, missing images, an unreadable
    image, mixed sizes without image_size, or an attribute the table does not have.
    """
    import torch

    from ganeval.datasets import resize_images
    from ganeval.datasets.attributes import image_paths, read_attributes

    if image_size is not None and (isinstance(image_size, bool) or int(image_size) < 1):
        raise BadInputError(f"--image-size must be a positive integer, got {image_size!r}")
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise BadInputError(f"the image limit must be a positive integer, got {limit!r}")
    table = read_attributes(path)
    column = table.index(attribute) if attribute is not None else None
    files, values = table.files, table.values
    if limit is not None:
        files, values = files[:int(limit)], values[:int(limit)]
        table = type(table)(files=files, values=values, names=table.names, path=table.path, layout=table.layout)
    paths = image_paths(table, images_dir)
    n = len(paths)
    task = progress.task("reading", total=n)
    images: torch.Tensor | None = None
    reference: tuple[Path, tuple[int, ...]] | None = None  # the first image and its shape
    for start in range(0, n, _READ_CHUNK):
        arrays = [_read_image(p) for p in paths[start:start + _READ_CHUNK]]
        if image_size is not None:
            side = int(image_size)
            batch = torch.empty((len(arrays), 3, side, side), dtype=torch.uint8)
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for k, a in enumerate(arrays):
                arrays[k] = _center_square(a)
                by_shape.setdefault(arrays[k].shape, []).append(k)
            for idx in by_shape.values():  # images of one shape are resized together
                stacked = torch.from_numpy(np.stack([arrays[k] for k in idx])).permute(0, 3, 1, 2)
                batch[idx] = resize_images(stacked, side)
        else:
            reference = reference or (paths[0], arrays[0].shape)
            for k, a in enumerate(arrays):
                if a.shape != reference[1]:
                    (h0, w0), (h1, w1) = reference[1][:2], a.shape[:2]
                    raise BadInputError(MSG_MIXED_SIZES.format(path=table.path, first=reference[0], w0=w0, h0=h0,
                                                               other=paths[start + k], w1=w1, h1=h1))
            batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        if images is None:
            images = torch.empty((n, 3, batch.shape[2], batch.shape[3]), dtype=torch.uint8)
        images[start:start + len(batch)] = batch
        progress.advance(task, len(batch))
    assert images is not None
    labels = torch.from_numpy(values[:, column].astype(np.int64)) if column is not None else None
    class_names = (f"{attribute}=0", f"{attribute}=1") if column is not None else ()
    return AttributeImages(name=str(path), images=images, attributes=values, attribute_names=table.names,
                           files=tuple(files), labels=labels, class_names=class_names,
                           fingerprint=attribute_fingerprint(images, values, table.names, labels, class_names))


def is_attribute_folder(path: str | os.PathLike) -> bool:
    """True when `path` is a folder holding an attribute table (what load_synthfaces_folder reads), so a
    dataset registry can route such folders here instead of to the plain image-folder loader."""
    from ganeval.datasets.attributes import TABLE_CANDIDATES

    p = Path(path)
    return p.is_dir() and any((p / name).is_file() for name in TABLE_CANDIDATES)


def load_synthfaces(split: str = "train", image_size: int | None = None, data_dir: str | os.PathLike | None = None,
                    limit: int | None = None, attribute: str | None = None, **_: Any) -> ImageDataset:
    """The datasets registry's loader shape (`loader(split=, image_size=, data_dir=, limit=)`) for a folder
    written by `ganeval data synthfaces` (or any folder load_synthfaces_folder reads), given as data_dir.
    Only the "train" split exists (all images); `attribute` conditions on one attribute (labels 0/1)."""
    if data_dir is None:
        raise BadInputError("synthfaces needs its folder: make one with `ganeval data synthfaces --out DIR` and "
                            "pass --data-dir DIR")
    if split != "train":
        raise BadInputError(f"synthfaces folder {data_dir} has no {split!r} split; only 'train' (all of its images)")
    return load_synthfaces_folder(data_dir, attribute=attribute, image_size=image_size, limit=limit).as_image_dataset()


from ganeval.datasets import register_dataset  # noqa: E402  (the package is initialised before this module)

register_dataset("synthfaces", load_synthfaces,
                 "procedural labelled faces from `ganeval data synthfaces --out DIR` (pass --data-dir DIR); "
                 "--condition-on ATTR trains on one attribute", splits=("train",))
