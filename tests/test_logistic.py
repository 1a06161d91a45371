"""The multi-label linear model's solver (textrnn/logistic.py): scikit-learn's regularised optimum per label,
the labels independent of one another, and MultiLabel.fit_linear's labels that cannot be fitted."""

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

import torch

from textrnn.logistic import TOL, OneVsRest, fit_one_vs_rest, with_bias
from textrnn.tasks import make_task


@pytest.fixture(scope="module")
def problem():
    """TF-IDF-like rows and four labels from rare (about 3%) to common (about 60%), as multi-label data has."""
    rng = np.random.default_rng(0)
    features = normalize(scipy.sparse.random(600, 200, density=0.05, random_state=1, format="csr", dtype=np.float32))
    signal = np.asarray(features @ rng.normal(size=(200, 4)) * 4)
    noise = rng.normal(size=signal.shape)
    targets = (signal + noise > np.array([3.0, 1.5, 0.5, -0.5])).astype(np.float32)
    return features, targets


@pytest.mark.parametrize("c", [1.0, 30.0])
def test_each_label_reaches_scikit_learns_optimum(problem, c):
    """The same objective as LogisticRegression(C=c): at a tight tolerance scikit-learn's weights are ours to
    within what our stopping test (each gradient entry at most TOL) allows, and the objective is the same."""
    features, targets = problem
    weights, bias = fit_one_vs_rest(features, targets, c)
    check = OneVsRest(with_bias(features), targets, c)
    ours = torch.from_numpy(np.vstack([weights, bias]))
    scores = check.scores(ours)
    assert check.gradient(ours, scores).abs().max() <= TOL
    for label in range(targets.shape[1]):
        optimum = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(features, targets[:, label])
        np.testing.assert_allclose(weights[:, label], optimum.coef_[0], atol=0.01 * np.abs(optimum.coef_).max())
        np.testing.assert_allclose(bias[label], optimum.intercept_[0], atol=0.01 * np.abs(optimum.coef_).max())
        theirs = torch.from_numpy(np.vstack([optimum.coef_.T, optimum.intercept_]).astype(np.float32))
        best = check.labels(torch.tensor([label])).objective(theirs, check.x @ theirs)
        reached = check.objective(ours, scores)[label]
        assert reached == pytest.approx(float(best), rel=1e-5)


def test_labels_fitted_together_are_fitted_as_alone(problem):
    """Each label has its own steps and stopping test, so the others, and the order they come in, do not move its
    optimum. (Not to the bit: a product's rounding depends on how many labels it holds, and so, within the
    stopping test, does where a label stops.)"""
    features, targets = problem
    weights, bias = fit_one_vs_rest(features, targets, 3.0)
    slack = 0.01 * np.abs(weights).max()
    for label in range(targets.shape[1]):
        alone_weights, alone_bias = fit_one_vs_rest(features, targets[:, [label]], 3.0)
        np.testing.assert_allclose(alone_weights[:, 0], weights[:, label], atol=slack)
        np.testing.assert_allclose(alone_bias[0], bias[label], atol=slack)
    reversed_weights, _ = fit_one_vs_rest(features, targets[:, ::-1].copy(), 3.0)
    np.testing.assert_allclose(reversed_weights[:, ::-1], weights, atol=slack)


def test_a_label_every_text_has_or_none_gets_a_bias_alone(problem):
    features, targets = problem
    columns = np.column_stack([targets[:, 0], np.ones(len(targets)), np.zeros(len(targets)), targets[:, 2]])
    task = make_task("multi", ["rare", "always", "never", "common"])
    weights, bias = task.fit_linear(features, columns.astype(np.float32), 3.0)
    assert not weights[:, 1:3].any()
    assert bias[1] == 30.0 and bias[2] == -30.0  # a sigmoid of 1 and of 0 at any score
    fitted, fitted_bias = fit_one_vs_rest(features, targets[:, [0, 2]], 3.0)
    np.testing.assert_allclose(weights[:, [0, 3]], fitted, atol=0.01 * np.abs(fitted).max())
    np.testing.assert_allclose(bias[[0, 3]], fitted_bias, atol=0.01 * np.abs(fitted).max())
