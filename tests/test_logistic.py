"""The linear model's one-vs-rest solver (textrnn/logistic.py): scikit-learn's regularised optimum per label, at
each C of a warm-started walk, the labels independent of one another, and the tasks' labels that cannot be fitted."""

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from textrnn.logistic import TOL, Features, OneVsRest, RegularisationPath, with_bias
from textrnn.tasks import make_task

WALK = (1.0, 3.0, 30.0)


@pytest.fixture(scope="module")
def problem():
    """TF-IDF-like rows and four labels from rare (about 3%) to common (about 60%), as multi-label data has."""
    rng = np.random.default_rng(0)
    features = normalize(scipy.sparse.random(600, 200, density=0.05, random_state=1, format="csr", dtype=np.float32))
    signal = np.asarray(features @ rng.normal(size=(200, 4)) * 4)
    targets = (signal + rng.normal(size=signal.shape) > np.array([3.0, 1.5, 0.5, -0.5])).astype(np.float32)
    return features, targets


def fit_alone(features, targets, c):
    return RegularisationPath(features, targets).fit(c)


def test_each_c_of_the_walk_reaches_scikit_learns_optimum(problem):
    """The same objective as LogisticRegression(C=c), each C started from the last one's weights: scikit-learn's
    weights at a tight tolerance are ours to within what our stopping test (each gradient entry at most TOL)
    allows, and the objective is the same."""
    features, targets = problem
    path = RegularisationPath(features, targets)
    for c in WALK:
        weights, bias = path.fit(c)
        check = OneVsRest(Features(with_bias(features)), path.signs, c)
        ours = torch.from_numpy(np.vstack([weights, bias]))
        scores = check.scores(ours)
        assert check.gradient(ours, scores).abs().max() <= TOL
        for label in range(targets.shape[1]):
            optimum = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(features, targets[:, label])
            slack = 0.01 * np.abs(optimum.coef_).max()
            np.testing.assert_allclose(weights[:, label], optimum.coef_[0], atol=slack)
            np.testing.assert_allclose(bias[label], optimum.intercept_[0], atol=slack)
            theirs = torch.from_numpy(np.vstack([optimum.coef_.T, optimum.intercept_]).astype(np.float32))
            best = check.labels(torch.tensor([label])).objective(theirs, check.x @ theirs)
            assert check.objective(ours, scores)[label] == pytest.approx(float(best), rel=1e-5)


def test_labels_fitted_together_are_fitted_as_alone(problem):
    """Each label has its own steps and stopping test, so the others, and the order they come in, do not move its
    optimum. (Not to the bit: a product's rounding depends on how many labels it holds, and so, within the
    stopping test, does where a label stops.)"""
    features, targets = problem
    weights, bias = fit_alone(features, targets, 3.0)
    slack = 0.01 * np.abs(weights).max()
    for label in range(targets.shape[1]):
        alone_weights, alone_bias = fit_alone(features, targets[:, [label]], 3.0)
        np.testing.assert_allclose(alone_weights[:, 0], weights[:, label], atol=slack)
        np.testing.assert_allclose(alone_bias[0], bias[label], atol=slack)
    reversed_weights, _ = fit_alone(features, targets[:, ::-1].copy(), 3.0)
    np.testing.assert_allclose(reversed_weights[:, ::-1], weights, atol=slack)


def test_a_label_every_text_has_or_none_gets_a_bias_alone(problem):
    features, targets = problem
    columns = np.column_stack([targets[:, 0], np.ones(len(targets)), np.zeros(len(targets)), targets[:, 2]])
    fit = make_task("multi", ["rare", "always", "never", "common"]).linear_fits(features, columns.astype(np.float32))
    weights, bias = fit(3.0)
    assert not weights[:, 1:3].any()
    assert bias[1] == 30.0 and bias[2] == -30.0  # a sigmoid of 1 and of 0 at any score
    fitted, fitted_bias = fit_alone(features, targets[:, [0, 2]], 3.0)
    np.testing.assert_allclose(weights[:, [0, 3]], fitted, atol=0.01 * np.abs(fitted).max())
    np.testing.assert_allclose(bias[[0, 3]], fitted_bias, atol=0.01 * np.abs(fitted).max())
    only_constant = make_task("multi", ["always", "never"]).linear_fits(features, columns[:, 1:3].astype(np.float32))
    weights, bias = only_constant(3.0)
    assert not weights.any() and list(bias) == [30.0, -30.0]


def test_past_two_classes_each_class_is_fitted_against_the_rest(problem):
    """A single-label model of more than two classes fits one regression per class, a class without training texts
    gets a bias that keeps it from being chosen, and two classes fit scikit-learn's one weight vector."""
    features, targets = problem
    classes = np.asarray(features @ np.random.default_rng(2).normal(size=(200, 3))).argmax(axis=1)
    classes[classes == 1] = 3  # class 1 of four has no training text
    weights, bias = make_task("single", ["a", "b", "c", "d"]).linear_fits(features, classes)(10.0)
    expected, expected_bias = fit_alone(features, (classes[:, None] == np.array([0, 2, 3])).astype(np.float32), 10.0)
    np.testing.assert_allclose(weights[:, [0, 2, 3]], expected, atol=0.01 * np.abs(expected).max())
    np.testing.assert_allclose(bias[[0, 2, 3]], expected_bias, atol=0.01 * np.abs(expected).max())
    assert not weights[:, 1].any() and bias[1] == -30.0
    decided = (features @ weights + bias).argmax(axis=1)
    assert (decided == classes).mean() > 0.9
    two = np.where(classes == 0, 0, 2)
    weights, bias = make_task("single", ["a", "b", "c"]).linear_fits(features, two)(10.0)
    optimum = LogisticRegression(C=10.0, max_iter=1000).fit(features, two)
    np.testing.assert_allclose(weights[:, 2], optimum.coef_[0], rtol=1e-5, atol=1e-6)
    assert not weights[:, :2].any() and bias[0] == 0.0 and bias[1] == -30.0
