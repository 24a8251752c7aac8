"""Metric formulas against straightforward numpy/scipy reference implementations."""
import numpy as np
import pytest

from gankit.errors import GankitError
from gankit.metrics import scores

scipy_linalg = pytest.importorskip("scipy.linalg")


def _features(seed, n=400, d=24, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ mix + shift).astype(np.float32)


def _fid_reference(f1, f2):
    # the textbook formula with scipy's general matrix square root (as pytorch-fid does)
    mu1, mu2 = f1.mean(0, dtype=np.float64), f2.mean(0, dtype=np.float64)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(covmean).real)


def test_feature_stats_match_numpy():
    f = _features(0)
    mu, sigma = scores.feature_stats(f)
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f, rowvar=False), rtol=1e-10, atol=1e-14)
    # chunked accumulation (chunks that do not divide N) gives the same statistics
    mu_c, sigma_c = scores.feature_stats(f, chunk=7)
    np.testing.assert_allclose(mu_c, mu, rtol=1e-12)
    np.testing.assert_allclose(sigma_c, sigma, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("shift", [0.0, 0.3, 2.0])
def test_fid_matches_scipy_reference(shift):
    f1, f2 = _features(1), _features(2, shift=shift)
    ours, ref = scores.fid_from_features(f1, f2), _fid_reference(f1, f2)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_trace_sqrt_product_matches_scipy_sqrtm():
    for seed in range(3):
        _, s1 = scores.feature_stats(_features(seed, d=40))
        _, s2 = scores.feature_stats(_features(seed + 10, d=40, shift=1.0))
        ref = np.trace(scipy_linalg.sqrtm(s1 @ s2)).real
        assert scores.trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-9)


def test_fid_identical_sets_is_zero_and_rank_deficient_is_finite():
    f = _features(3)
    assert abs(scores.fid_from_features(f, f)) < 1e-8
    small = _features(4, n=10, d=24)  # fewer images than dimensions: singular covariances
    val = scores.fid_from_features(small, _features(5, n=10, d=24))
    assert np.isfinite(val) and val > 0


def test_fid_shape_mismatch_is_user_error():
    with pytest.raises(GankitError):
        scores.fid_from_features(_features(0, d=8), _features(1, d=9))


def _is_reference(logits, splits):
    from scipy.special import softmax
    from scipy.stats import entropy

    p = softmax(logits.astype(np.float64), axis=1)
    out = []
    for part in np.array_split(p, splits):
        py = part.mean(0)
        out.append(np.exp(np.mean([entropy(row, py) for row in part])))
    return np.mean(out), np.std(out)


def test_inception_score_matches_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(200, 17))
    mean, std = scores.inception_score(logits, splits=10)
    rmean, rstd = _is_reference(logits, 10)
    assert mean == pytest.approx(rmean, rel=1e-6)
    assert std == pytest.approx(rstd, rel=1e-6)


def test_inception_score_bounds():
    mean, std = scores.inception_score(np.zeros((100, 1008)))  # uniform p(y|x)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # confident, perfectly balanced predictions over K classes give IS = K
    onehot = np.eye(10)[np.arange(1000) % 10] * 50.0
    assert scores.inception_score(onehot)[0] == pytest.approx(10.0, rel=1e-6)
    with pytest.raises(GankitError):
        scores.inception_score(np.zeros((5, 3)))


def _mmd_reference(x, y, degree=3, coef0=1.0):
    # explicit double loops over the unbiased estimator's three sums
    x, y = x.astype(np.float64), y.astype(np.float64)
    m, d = x.shape
    k = lambda a, b: (a @ b / d + coef0) ** degree  # noqa: E731
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - 2 * sxy / m**2


def test_polynomial_mmd_matches_reference():
    x, y = _features(0, n=30, d=8), _features(1, n=30, d=8, shift=0.5)
    assert scores.polynomial_mmd2(x, y) == pytest.approx(_mmd_reference(x, y), rel=1e-6)


def test_kid_matches_reference_subsets():
    f1, f2 = _features(0, n=60, d=8), _features(1, n=50, d=8, shift=0.5)
    mean, std, size = scores.kernel_inception_distance(f1, f2, subsets=5, subset_size=20)
    rng = np.random.RandomState(2020)  # torch-fidelity's subset draws
    vals = []
    for _ in range(5):
        a = f1[rng.choice(60, 20, replace=False)]
        b = f2[rng.choice(50, 20, replace=False)]
        vals.append(_mmd_reference(a, b))
    assert size == 20
    assert mean == pytest.approx(np.mean(vals), rel=1e-6)
    assert std == pytest.approx(np.std(vals), rel=1e-6)


def test_kid_identical_sets_near_zero_and_few_images():
    f = _features(0, n=300, d=16)
    other = _features(1, n=300, d=16, shift=1.0)
    same, _, _ = scores.kernel_inception_distance(f, f, subsets=20, subset_size=100)
    diff, _, _ = scores.kernel_inception_distance(f, other, subsets=20, subset_size=100)
    assert abs(same) < 1e-2 * diff
    with pytest.warns(UserWarning, match="subset size"):
        _, _, size = scores.kernel_inception_distance(f[:50], other, subsets=2)
    assert size == 50
    with pytest.raises(GankitError, match="subset size"):
        scores.kernel_inception_distance(f[:50], other, subsets=2, adjust=False)


def _pr_reference(real, fake, k):
    real, fake = real.astype(np.float64), fake.astype(np.float64)

    def radii(f):
        d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]

    def frac(q, s, r):
        d = np.sqrt(((q[:, None] - s[None]) ** 2).sum(-1))
        return np.mean((d <= r[None]).any(1))

    return frac(fake, real, radii(real)), frac(real, fake, radii(fake))


def test_precision_recall_matches_reference():
    real, fake = _features(0, n=120, d=6), _features(1, n=100, d=6, shift=0.7)
    p, r = scores.precision_recall(real, fake, k=3)
    rp, rr = _pr_reference(real, fake, 3)
    assert (p, r) == (pytest.approx(rp, abs=1e-12), pytest.approx(rr, abs=1e-12))
    assert 0 < p < 1 and 0 < r < 1
    assert scores.precision_recall(real, real) == (1.0, 1.0)
