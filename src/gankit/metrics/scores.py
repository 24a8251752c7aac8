"""The metric formulas, on features (numpy arrays), in float64.

All functions take feature matrices with one row per image and are independent of the feature
net, so the same code computes Inception FID and the MNIST "classifier FID".
"""
from __future__ import annotations

import warnings

import numpy as np

from gankit.errors import GankitError


# --------------------------------------------------------------------------- FID

def feature_stats(features: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``np.cov(rowvar=False)``) of N x D features, in float64.

    Rows are converted to float64 ``chunk`` at a time, so the extra memory is one chunk and the
    D x D result rather than two float64 copies of all N x D features (330 MB for 10k x 2048).
    """
    f = np.asarray(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise GankitError(f"need at least 2 feature vectors for a covariance, got {f.shape}")
    n = f.shape[0]
    mu = np.zeros(f.shape[1])
    for lo in range(0, n, chunk):
        mu += f[lo:lo + chunk].sum(axis=0, dtype=np.float64)
    mu /= n
    sigma = np.zeros((f.shape[1], f.shape[1]))
    for lo in range(0, n, chunk):
        d = f[lo:lo + chunk].astype(np.float64) - mu
        sigma += d.T @ d
    return mu, sigma / (n - 1)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr sqrt(sigma1 sigma2)`` for symmetric PSD matrices, via two symmetric eigensolves.

    sigma1 sigma2 is similar to sqrt(sigma1) sigma2 sqrt(sigma1) (multiply by sqrt(sigma1) on
    either side), which is symmetric PSD, so Tr sqrt(sigma1 sigma2) = sum_i sqrt(lambda_i) over
    the eigenvalues of that symmetric matrix. Symmetric eigensolvers are backward stable and
    several times faster than the Schur-based general ``scipy.linalg.sqrtm``, and they never
    produce the spurious imaginary parts that sqrtm gives on rank-deficient covariances
    (fewer images than feature dimensions); tiny negative eigenvalues from rounding are clipped.
    """
    s1 = _sqrt_psd(sigma1)
    m = s1 @ sigma2 @ s1
    m = (m + m.T) / 2  # remove rounding asymmetry before the symmetric solver
    w = np.linalg.eigvalsh(m)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017):

    FID = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr sqrt(sigma1 sigma2).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise GankitError(f"FID statistics have different shapes: {mu1.shape} vs {mu2.shape} "
                          "(were they computed with the same feature net?)")
    diff = mu1 - mu2
    tr = trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    return frechet_distance(*feature_stats(f1), *feature_stats(f2))


# --------------------------------------------------------------------------- IS

def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), per split.

    ``logits`` (N x K) -> softmax p(y|x); the N rows are cut into ``splits`` contiguous parts
    (as in the original code); each part gives exp(mean_x sum_y p(y|x) (log p(y|x) - log p(y)))
    with p(y) the part's mean of p(y|x). Returns the mean and the (population) std over parts.
    """
    logits = np.asarray(logits, np.float64)
    n = logits.shape[0]
    if n < splits:
        raise GankitError(f"the Inception Score needs at least {splits} images, got {n}")
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        py = p[lo:hi].mean(axis=0)
        kl = (p[lo:hi] * (log_p[lo:hi] - np.log(py))).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------- KID

def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                    coef0: float = 1.0) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (gamma a.b + coef0)^degree, gamma = 1/D default:

    MMD^2 = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
            - 2 sum_{i,j} k(x_i, y_j) / m^2     (Bińkowski et al. 2018, equal subset sizes m)
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = x.shape[0]
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    kxx = (x @ x.T * gamma + coef0) ** degree
    kyy = (y @ y.T * gamma + coef0) ** degree
    kxy = (x @ y.T * gamma + coef0) ** degree
    sxx = kxx.sum() - np.trace(kxx)
    syy = kyy.sum() - np.trace(kyy)
    return float((sxx + syy) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def kernel_inception_distance(f1: np.ndarray, f2: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, degree: int = 3,
                              gamma: float | None = None, coef0: float = 1.0,
                              seed: int = 2020, adjust: bool = True) -> tuple[float, float, int]:
    """KID: mean and std of the unbiased polynomial MMD^2 over random subsets.

    Defaults follow torch-fidelity (100 subsets of 1000, degree 3, gamma 1/D, coef0 1, subsets
    drawn without replacement by ``np.random.RandomState(2020)``). With fewer images than
    ``subset_size`` on either side, ``adjust=True`` shrinks the subset size to the smaller
    count (with a warning); ``adjust=False`` raises. Returns (mean, std, subset size used).
    """
    n1, n2 = len(f1), len(f2)
    if min(n1, n2) < subset_size:
        msg = (f"KID subset size {subset_size} is larger than the number of images "
               f"({n1} vs {n2})")
        if not adjust or min(n1, n2) < 2:
            raise GankitError(msg + ": use more images or a smaller kid_subset_size")
        subset_size = min(n1, n2)
        warnings.warn(msg + f"; using subsets of {subset_size} (KID is then not comparable "
                            "with numbers computed with 1000)", stacklevel=2)
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        a = f1[rng.choice(n1, subset_size, replace=False)]
        b = f2[rng.choice(n2, subset_size, replace=False)]
        mmds[i] = polynomial_mmd2(a, b, degree, gamma, coef0)
    return float(mmds.mean()), float(mmds.std()), subset_size


# --------------------------------------------------------------------------- precision / recall

def _pairwise_sqdist(a, b, chunk: int = 1024):
    """Yield (row slice, squared Euclidean distances a[rows] to all of b) in chunks.

    float32, as the reference implementation (NVlabs' precision/recall) computes them: the
    manifold test only compares distances, and float32 halves the cost of the N x M matmuls.
    """
    import torch

    ta = torch.as_tensor(np.asarray(a, np.float32))
    tb = torch.as_tensor(np.asarray(b, np.float32))
    nb = (tb * tb).sum(1)
    for lo in range(0, ta.shape[0], chunk):
        x = ta[lo:lo + chunk]
        d = (x * x).sum(1)[:, None] + nb[None, :] - 2 * x @ tb.T
        yield slice(lo, lo + x.shape[0]), d.clamp_(min=0)


def knn_radii(f: np.ndarray, k: int = 3) -> np.ndarray:
    """Squared distance of each row to its k-th nearest other row (the manifold radius)."""
    out = np.empty(len(f), np.float32)
    for rows, d in _pairwise_sqdist(f, f):
        # the k+1-th smallest: the point itself is its own nearest neighbour at distance 0
        out[rows] = d.kthvalue(k + 1, dim=1).values.numpy()
    return out


def _coverage_fraction(queries, support, radii) -> float:
    import torch

    r = torch.as_tensor(radii)
    inside = 0
    for _, d in _pairwise_sqdist(queries, support):
        inside += int((d <= r[None, :]).any(dim=1).sum())
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    The real manifold is the union of balls around each real feature with radius its distance
    to the k-th nearest real neighbour; likewise for fakes. precision = fraction of fakes inside
    the real manifold, recall = fraction of reals inside the fake manifold.
    """
    if min(len(real), len(fake)) <= k:
        raise GankitError(f"precision/recall with k={k} needs more than {k} images per side")
    precision = _coverage_fraction(fake, real, knn_radii(real, k))
    recall = _coverage_fraction(real, fake, knn_radii(fake, k))
    return precision, recall
