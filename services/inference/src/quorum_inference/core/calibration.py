"""Temperature scaling (Guo et al. 2017): one scalar T fitted on held-out logits by minimising the NLL."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

# Bounds on log T: T in [0.05, 20] covers under- and over-confident nets without letting a tiny or
# separable validation set drive T to 0 or infinity.
_LOG_T_BOUNDS = (float(np.log(0.05)), float(np.log(20.0)))


def nll(logits: NDArray[np.floating], labels: NDArray[np.integer], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature)."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits: NDArray[np.floating], labels: NDArray[np.integer], *, prior_scale: float = 1.0
) -> float:
    """The T > 0 that minimises the NLL of held-out `labels` (1.0 when there is nothing to fit on).

    A Gaussian prior on log T (sd `prior_scale`, i.e. a MAP fit) keeps a small separable validation set, whose
    NLL keeps falling as T -> 0, from making every later prediction 0/1; with hundreds of labels it is
    negligible.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits must be (n, k), n == len(labels); got {logits.shape} and {labels.shape}")
    n = len(labels)
    if n == 0:
        return 1.0

    def objective(log_t: float) -> float:
        return nll(logits, labels, float(np.exp(log_t))) + log_t**2 / (2 * prior_scale**2 * n)

    result = minimize_scalar(objective, bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def apply_temperature(logits: NDArray[np.floating], temperature: float) -> NDArray[np.float64]:
    """Calibrated class probabilities softmax(logits / T)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def fit_temperature_and_noise(
    logits: NDArray[np.floating], labels: NDArray[np.integer], *, max_noise: float = 0.25
) -> tuple[float, float]:
    """(T, eps) maximising the likelihood of noisy held-out labels: a label is the true class (distributed as
    softmax(logits / T)) with probability 1 - eps, else uniform over the other classes. Errors spread evenly
    over confidences are the humans'; errors that fall with the margin are the model's, so the two separate
    given a few hundred labels. eps lies in [0, max_noise]; (fit_temperature's T, 0.0) with nothing to fit.
    """
    from scipy.optimize import minimize  # noqa: PLC0415

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, k = logits.shape if logits.ndim == 2 else (0, 0)
    if n == 0 or k < 2:
        return 1.0, 0.0
    rows = np.arange(n)

    def objective(params: NDArray[np.float64]) -> float:
        log_t = float(np.clip(params[0], *_LOG_T_BOUNDS))
        eps = max_noise / (1.0 + np.exp(-params[1]))
        p = softmax(logits / np.exp(log_t), axis=1)[rows, labels]
        q = (1.0 - eps) * p + eps / (k - 1) * (1.0 - p)
        return float(-np.log(q + 1e-12).mean() + log_t**2 / (2 * n))

    start = np.log(fit_temperature(logits, labels))
    best = minimize(objective, np.array([start, -4.0]), method="Nelder-Mead", options={"xatol": 1e-4})
    log_t = float(np.clip(best.x[0], *_LOG_T_BOUNDS))
    return float(np.exp(log_t)), float(max_noise / (1.0 + np.exp(-best.x[1])))
