r"""Bayesian binary-image denoising with an Ising prior: the posterior is an Ising model in a field.

A clean binary image :math:`s \in \{-1, +1\}^{H\times W}` has the Ising prior
:math:`P(s) = e^{K\sum_{\langle ij\rangle} s_i s_j} / Z(K, 0)` on the pixel grid, and each pixel is
observed through a noise channel:

* Gaussian: :math:`y_i \sim N(\mu s_i, \sigma^2)`, so
  :math:`\ln p(y_i\mid s_i) = -\tfrac12\ln(2\pi\sigma^2) - \frac{y_i^2 + \mu^2}{2\sigma^2} + \frac{\mu y_i}{\sigma^2}s_i`;
* binary symmetric channel (``bsc``): :math:`y_i = \pm s_i` with flip probability p, so
  :math:`\ln p(y_i\mid s_i) = \tfrac12\ln[p(1-p)] + \tfrac12\ln\frac{1-p}{p}\,y_i s_i`.

Both are :math:`\ln p(y_i\mid s_i) = a_i + h_i s_i`, hence the posterior

.. math::

    P(s\mid y) = \frac{e^{K\sum s_i s_j + \sum_i h_i s_i}}{Z(K, h)},\qquad
    h_i = \mu y_i/\sigma^2\ \ (\text{Gaussian}),\quad h_i = \tfrac12\ln\tfrac{1-p}{p}\, y_i\ \ (\text{BSC}),

and the evidence

.. math::

    \ln p(y) = \sum_i a_i + \ln Z(K, h) - \ln Z(K, 0).

:math:`\ln Z(K, 0)` is exact by Kaufman on a periodic square image and by enumeration for N ≤ 20;
:math:`\ln Z(K, h)` is exact by enumeration (4×4) and estimated otherwise (spin TI/AIS, or the
evidence of the continuous HS model, :mod:`physml.models.continuous_ising`).

Built-in images (``shapes``, ``letters`` at any size ≥ 16, ``tiny`` 4×4) are drawn in code;
:func:`load_image` reads a user's ``.npy`` (binary values) or PNG (grey level thresholded at ½;
dark = +1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import special

from physml.inference.enumeration import spin_states
from physml.inference.spins.lattice import BOUNDARIES, IsingCouplings, grid_couplings

from . import continuous_ising as ci
from . import ising as im

__all__ = ["NOISE_MODELS", "IMAGES", "DenoiseSpec", "DenoiseData", "builtin_image", "load_image", "as_spins",
           "make_observation", "pixel_log_likelihood", "log_joint", "posterior_field", "likelihood_constant",
           "prior_couplings", "posterior_couplings", "spin_posterior_model", "hs_posterior_model", "log_evidence",
           "log_partition_prior", "exact_posterior", "log_evidence_enumeration"]

NOISE_MODELS = ("gaussian", "bsc")
IMAGES = ("shapes", "letters", "tiny")


def _real(name, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite real number, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class DenoiseSpec:
    """Prior coupling K ≥ 0; Gaussian noise (mu > 0, sigma > 0) or ``bsc`` with 0 < flip_p < 1/2; grid boundary."""

    K: float = 0.5
    mu: float = 1.0
    sigma: float = 1.0
    noise: str = "gaussian"
    flip_p: float = 0.1
    boundary: str = "periodic"

    def __post_init__(self):
        if _real("K", self.K) < 0:
            raise ValueError(f"K must be >= 0, got {self.K}")
        if not _real("mu", self.mu) > 0:
            raise ValueError(f"mu must be > 0, got {self.mu}")
        if not _real("sigma", self.sigma) > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if not 0 < _real("flip_p", self.flip_p) < 0.5:
            raise ValueError(f"flip_p must be in (0, 0.5), got {self.flip_p}")
        if self.noise not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {NOISE_MODELS}, got {self.noise!r}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")


def _check_image_shape(name: str, arr: np.ndarray) -> None:
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"{name} must be a 2-D image of at least 2x2 pixels, got shape {arr.shape}")


def as_spins(image, name: str = "ground truth") -> np.ndarray:
    """A binary image (values {0, 1}, {−1, +1} or bool) as int8 spins in {−1, +1} (1 → +1, 0 → −1)."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    _check_image_shape(name, arr)
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has NaN or infinite pixels")
    vals = set(np.unique(arr).tolist())
    if vals <= {0.0, 1.0}:
        return np.where(arr > 0, 1, -1).astype(np.int8)
    if vals <= {-1.0, 1.0}:
        return arr.astype(np.int8)
    raise ValueError(f"{name} must be binary (values {{0, 1}} or {{-1, +1}}), got values such as "
                     f"{sorted(vals)[:4]}; threshold it first")


@dataclass(frozen=True, eq=False)
class DenoiseData:
    """Observed image ``y`` (H×W, finite; ±1 for ``bsc``), the spec, and the clean image ``truth`` (±1) if known."""

    y: np.ndarray
    spec: DenoiseSpec = field(default_factory=DenoiseSpec)
    truth: np.ndarray | None = None
    name: str = "image"

    def __post_init__(self):
        if not isinstance(self.spec, DenoiseSpec):
            raise ValueError("spec must be a DenoiseSpec")
        y = np.asarray(self.y, dtype=float)
        _check_image_shape("observed image y", y)
        if not np.all(np.isfinite(y)):
            raise ValueError("observed image y has NaN or infinite pixels")
        if self.spec.noise == "bsc" and not np.all(np.abs(y) == 1):
            raise ValueError("observed image y must have values in {-1, +1} for the bsc noise model")
        y.setflags(write=False)
        object.__setattr__(self, "y", y)
        if self.truth is not None:
            t = as_spins(self.truth)
            if t.shape != y.shape:
                raise ValueError(f"ground truth shape {t.shape} must equal the observed shape {y.shape}")
            t.setflags(write=False)
            object.__setattr__(self, "truth", t)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.y.shape)

    @property
    def n_pixels(self) -> int:
        return int(self.y.size)


# ------------------------------------------------------------------ images
_GLYPHS = {  # 5x7 bitmaps
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
}


def builtin_image(name: str = "shapes", size: int = 32) -> np.ndarray:
    """A clean ±1 image drawn in code: ``shapes`` (disc, square, triangle), ``letters`` ("PM"), ``tiny`` (4×4).

    ``size`` (≥ 16; ignored for ``tiny``) is the side in pixels.
    """
    if name not in IMAGES:
        raise ValueError(f"image must be one of {IMAGES}, got {name!r}")
    if name == "tiny":
        return np.array([[1, 1, -1, -1], [1, 1, -1, -1], [1, 1, 1, -1], [-1, -1, -1, -1]], dtype=np.int8)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    n = int(size)
    r, c = np.mgrid[0:n, 0:n] / n
    if name == "shapes":
        disc = (r - 0.3) ** 2 + (c - 0.3) ** 2 < 0.18 ** 2
        square = (np.abs(r - 0.7) < 0.16) & (np.abs(c - 0.28) < 0.16)
        tri = (r > 0.15) & (r < 0.85) & (np.abs(c - 0.72) < 0.22 * (r - 0.15) / 0.7)
        img = disc | square | tri
    else:
        img = np.zeros((n, n), dtype=bool)
        cell = max(1, n // 12)
        width = 5 * cell
        x0 = (n - 2 * width - cell) // 2
        y0 = (n - 7 * cell) // 2
        for k, ch in enumerate("PM"):
            g = np.array([[b == "1" for b in row] for row in _GLYPHS[ch]])
            big = np.kron(g, np.ones((cell, cell), dtype=bool))
            xs = x0 + k * (width + cell)
            img[y0:y0 + big.shape[0], xs:xs + big.shape[1]] |= big
    return np.where(img, 1, -1).astype(np.int8)


def load_image(path) -> np.ndarray:
    """A user's clean image as ±1 spins: ``.npy`` (binary values) or ``.png`` (grey < ½ → +1)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"data file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"could not read {p.name} as a .npy array: {exc}") from None
        return as_spins(arr)
    if suffix == ".png":
        import matplotlib.image as mpimg

        try:
            img = np.asarray(mpimg.imread(p), dtype=float)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"could not read {p.name} as a PNG: {exc}") from None
        if img.ndim == 3:
            img = img[..., :3].mean(axis=-1)
        if img.max() > 1.0:
            img = img / 255.0
        _check_image_shape("image", img)
        if not np.all(np.isfinite(img)):
            raise ValueError("image has NaN pixels")
        return np.where(img < 0.5, 1, -1).astype(np.int8)
    raise ValueError(f"data file must be .npy or .png, got {p.name!r}")


def make_observation(truth, spec: DenoiseSpec = DenoiseSpec(), seed: int = 0, name: str = "image") -> DenoiseData:
    """Noisy observation of the clean ±1 image ``truth`` through ``spec``'s channel (seeded)."""
    s = as_spins(truth)
    rng = np.random.default_rng(seed)
    if spec.noise == "gaussian":
        y = spec.mu * s + spec.sigma * rng.standard_normal(s.shape)
    else:
        y = np.where(rng.random(s.shape) < spec.flip_p, -s, s).astype(float)
    return DenoiseData(y, spec, s, name)


# ------------------------------------------------------------------ energy / log density
def pixel_log_likelihood(data: DenoiseData, spins) -> np.ndarray:
    r""":math:`\ln p(y\mid s) = \sum_i a_i + h_i s_i` for spins of shape (..., H, W) or (..., N)."""
    s = np.asarray(spins, dtype=float)
    if s.ndim >= 2 and s.shape[-2:] == data.shape:
        s = s.reshape(s.shape[:-2] + (-1,))
    return likelihood_constant(data) + s @ posterior_field(data).reshape(-1)


def log_joint(data: DenoiseData, spins) -> np.ndarray:
    r""":math:`\ln p(y, s) = \ln p(y\mid s) + K\sum_{\langle ij\rangle} s_i s_j - \ln Z(K, 0)` up to :math:`\ln Z(K,0)`
    (returned without the prior's normaliser; spins of shape (..., N))."""
    s = np.asarray(spins, dtype=float)
    if s.ndim >= 2 and s.shape[-2:] == data.shape:
        s = s.reshape(s.shape[:-2] + (-1,))
    return pixel_log_likelihood(data, s) + prior_couplings(data).log_weight(s)


def posterior_field(data: DenoiseData) -> np.ndarray:
    r"""The field :math:`h` (H×W): :math:`\mu y/\sigma^2` (Gaussian) or :math:`\tfrac12\ln\frac{1-p}{p}\,y` (BSC)."""
    sp = data.spec
    if sp.noise == "gaussian":
        return sp.mu * data.y / sp.sigma ** 2
    return 0.5 * math.log((1 - sp.flip_p) / sp.flip_p) * data.y


def likelihood_constant(data: DenoiseData) -> float:
    r""":math:`\sum_i a_i`: :math:`-\tfrac12\ln(2\pi\sigma^2) - (y_i^2+\mu^2)/(2\sigma^2)` or :math:`\tfrac12\ln[p(1-p)]` per pixel."""
    sp = data.spec
    if sp.noise == "gaussian":
        return float(np.sum(-0.5 * math.log(2 * math.pi * sp.sigma ** 2) - (data.y ** 2 + sp.mu ** 2) / (2 * sp.sigma ** 2)))
    return data.n_pixels * 0.5 * math.log(sp.flip_p * (1 - sp.flip_p))


def prior_couplings(data: DenoiseData) -> IsingCouplings:
    """The prior's Ising couplings (field 0) on the H×W grid."""
    rows, cols = data.shape
    return grid_couplings(rows, cols, data.spec.K, 0.0, data.spec.boundary)


def posterior_couplings(data: DenoiseData) -> IsingCouplings:
    """The posterior: same grid and K, field :func:`posterior_field`."""
    rows, cols = data.shape
    return grid_couplings(rows, cols, data.spec.K, posterior_field(data), data.spec.boundary)


# ------------------------------------------------------------------ PyMC models
def spin_posterior_model(data: DenoiseData):
    """The posterior as physml's declarative Ising model (Bernoulli ``up``; checkerboard / heat-bath samplers)."""
    return im.ising_model_from_couplings(posterior_couplings(data))


def hs_posterior_model(data: DenoiseData, spec: ci.HSSpec = ci.HSSpec()):
    """The posterior as a continuous HS model (NUTS, ADVI, SMC; cached per data and spec); evidence Z(K, h)."""
    return ci.continuous_ising_model(posterior_couplings(data), spec)


def log_evidence(data: DenoiseData, log_z_posterior: float, log_z_prior: float) -> float:
    r""":math:`\ln p(y) = \sum_i a_i + \ln Z(K, h) - \ln Z(K, 0)`."""
    return likelihood_constant(data) + float(log_z_posterior) - float(log_z_prior)


# ------------------------------------------------------------------ exact references
def log_partition_prior(data: DenoiseData) -> tuple[float | None, str]:
    """Exact ln Z(K, 0) of the prior and its source: enumeration (N ≤ 20), Kaufman (periodic square), else None."""
    rows, cols = data.shape
    if data.n_pixels <= 20:
        return im.enumerate_ising(prior_couplings(data))["log_z"], "enumeration"
    if data.spec.boundary == "periodic" and rows == cols:
        return im.log_partition_kaufman(rows, data.spec.K), "kaufman"
    return None, "none"


def exact_posterior(data: DenoiseData, max_pixels: int = 20) -> dict:
    r"""Exact posterior by enumerating all :math:`2^N` images (N ≤ 20): marginals P(s_i = +1 | y) (H×W),
    ln Z(K, h), ln Z(K, 0), ln p(y), the MAP image and the posterior-mean pixel error against the truth."""
    n = data.n_pixels
    if n > max_pixels:
        raise ValueError(f"enumeration needs at most {max_pixels} pixels, got {n}")
    post = posterior_couplings(data)
    s = spin_states(n).astype(np.int8)
    lw = post.log_weight(s)
    log_z_post = float(special.logsumexp(lw))
    p = np.exp(lw - log_z_post)
    mean = p @ s
    log_z_prior = im.enumerate_ising(prior_couplings(data))["log_z"]
    out = {"p_up": (0.5 * (1 + mean)).reshape(data.shape), "spin_mean": mean.reshape(data.shape),
           "log_z_posterior": log_z_post, "log_z_prior": log_z_prior,
           "log_evidence": log_evidence(data, log_z_post, log_z_prior),
           "map": s[int(np.argmax(lw))].reshape(data.shape)}
    if data.truth is not None:
        out["expected_pixel_error"] = float(np.mean(0.5 * (1 - mean * data.truth.reshape(-1))))
    return out


def log_evidence_enumeration(data: DenoiseData, max_pixels: int = 20) -> float:
    r""":math:`\ln p(y) = \ln\sum_s p(y\mid s)P(s)` summed directly over all images (independent of the field algebra)."""
    n = data.n_pixels
    if n > max_pixels:
        raise ValueError(f"enumeration needs at most {max_pixels} pixels, got {n}")
    s = spin_states(n).astype(float)
    prior = prior_couplings(data).log_weight(s)
    prior -= special.logsumexp(prior)
    sp = data.spec
    y = data.y.reshape(-1)
    if sp.noise == "gaussian":
        ll = (-0.5 * math.log(2 * math.pi * sp.sigma ** 2) - (y - sp.mu * s) ** 2 / (2 * sp.sigma ** 2)).sum(axis=1)
    else:
        ll = np.where(s == y, math.log(1 - sp.flip_p), math.log(sp.flip_p)).sum(axis=1)
    return float(special.logsumexp(prior + ll))
