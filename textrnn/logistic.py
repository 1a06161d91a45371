"""The linear model's one-vs-rest logistic regressions, all labels (or classes) fitted together by truncated
Newton in PyTorch, along the walk over C.

scikit-learn fits one-vs-rest one label at a time, and so reads the whole sparse matrix once per label per step:
GoEmotions' 28 labels took 12 s of a 100 s run. Here the labels step together, so each read of the matrix (one
sparse x dense product) serves all of them. The labels stay independent: each has its own Newton step,
conjugate-gradient coefficients, step length and stopping test, and leaves the products once it is done. Each C
of the walk starts from the last one's weights, a few Newton steps from its own optimum. GoEmotions' walk took
3.3 s against 12.1 s for scikit-learn's L-BFGS label by label, and online_shopping_zh `category`'s 9 classes 4.2 s
(C 1 to 100) against 7.5 s (C 1 to 30) for scikit-learn SAG's softmax (docs/RESULTS.md).

The objective is scikit-learn's LogisticRegression's, per label j, with s_ij = +1 or -1 and the bias unpenalised:

    mean_i log(1 + exp(-s_ij (x_i . w_j + b_j))) + |w_j|^2 / (2 C n)

minimised as scikit-learn's newton-cg does: conjugate gradient to a residual of min(0.5, sqrt(|g|_inf)) times
the gradient's (L1 norms), then a backtracking line search, until the largest entry of the label's gradient is
at most TOL.
"""

import copy
import warnings

import numpy as np
import scipy.sparse
import torch

# scikit-learn's default, 1e-4, is loose for a warm start: the mean loss's gradient shrinks with the texts, and at
# C 1's optimum C 3's gradient was already about 2e-4 on GoEmotions, so the fit stopped far from C 3's optimum
# (validation macro-F1 46.8 against 48.4). At 1e-5 the warm walk reaches what scikit-learn reaches at 1e-6.
TOL = 1e-5
ARMIJO = 1e-4  # the share of the decrease the slope promises that a step must achieve
MAX_HALVINGS = 30
MAX_NEWTON, MAX_CG = 100, 200


class RegularisationPath:
    """fit(c) for C after C (rising, as the walk goes) on the same features [n, columns] and targets [n, labels]
    0/1: (weights [columns, labels], bias [labels]), each fit from the last one's weights. Every label needs a
    text with it and one without (the caller sets the others apart)."""

    def __init__(self, features: scipy.sparse.csr_matrix, targets: np.ndarray):
        self.features = Features(with_bias(features))
        self.signs = torch.from_numpy(2 * np.asarray(targets, dtype=np.float32) - 1)  # [n, labels]
        self.weights = torch.zeros(self.features.columns, self.signs.shape[1])  # the last row: the bias

    def fit(self, c: float) -> tuple[np.ndarray, np.ndarray]:
        self.weights = newton_cg(OneVsRest(self.features, self.signs, c), self.weights.clone())
        return self.weights[:-1].numpy().copy(), self.weights[-1].numpy().copy()


def with_bias(features: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    ones = np.ones((features.shape[0], 1), dtype=np.float32)
    return scipy.sparse.hstack([features, ones], format="csr", dtype=np.float32)


class Features:
    """The sparse rows [n, columns] in both directions, as PyTorch CSR tensors: a CSR product is the fast one."""

    def __init__(self, matrix: scipy.sparse.csr_matrix):
        self.x, self.x_t = csr_tensor(matrix), csr_tensor(matrix.T.tocsr())
        self.rows, self.columns = matrix.shape


def newton_cg(problem: "OneVsRest", weights: torch.Tensor) -> torch.Tensor:
    """The weights [columns + 1, labels] at each label's minimum, from these."""
    unsettled = torch.arange(weights.shape[1])  # the labels whose gradient is still above TOL
    for _ in range(MAX_NEWTON):
        if not len(unsettled):
            break
        part = problem.labels(unsettled)
        scores = part.scores(weights[:, unsettled])
        gradient = part.gradient(weights[:, unsettled], scores)
        largest = gradient.abs().amax(dim=0)
        keep = largest > TOL
        if not keep.all():  # settled labels leave the fit: their weights no longer change
            unsettled, scores, gradient, largest = unsettled[keep], scores[:, keep], gradient[:, keep], largest[keep]
            if not len(unsettled):
                break
            part = problem.labels(unsettled)
        step = conjugate_gradient(part, part.curvature(scores), gradient, torch.clamp(largest.sqrt(), max=0.5))
        moved, improved = line_search(part, weights[:, unsettled], scores, gradient, step)
        weights[:, unsettled] = moved
        unsettled = unsettled[improved]  # a label that no step length improves has gone as far as it can
    return weights


class OneVsRest:
    """The objective's pieces at one C, for weights [columns + 1, labels] (the last row: the bias)."""

    def __init__(self, features: Features, signs: torch.Tensor, c: float):
        self.x, self.x_t, self.rows = features.x, features.x_t, features.rows
        self.signs = signs  # [n, labels]
        self.penalty = torch.full((features.columns, 1), 1 / (c * self.rows))  # per weight
        self.penalty[-1] = 0.0  # the bias

    def labels(self, chosen: torch.Tensor) -> "OneVsRest":
        """The same problem for the chosen labels only: the features are shared, not copied."""
        part = copy.copy(self)
        part.signs = self.signs[:, chosen]
        return part

    def scores(self, weights: torch.Tensor) -> torch.Tensor:
        return self.x @ weights  # [n, labels]

    def objective(self, weights: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """[labels], summed in float64 so that a step's small decrease still shows."""
        loss = torch.nn.functional.softplus(-self.signs * scores).double().sum(dim=0) / self.rows
        return loss + (self.penalty * weights.square()).double().sum(dim=0) / 2

    def gradient(self, weights: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        residual = -self.signs * torch.sigmoid(-self.signs * scores)  # d loss / d score: p - y
        return (self.x_t @ residual).div_(self.rows).addcmul_(self.penalty, weights)

    def curvature(self, scores: torch.Tensor) -> torch.Tensor:
        probability = torch.sigmoid(scores)
        return probability * (1 - probability) / self.rows  # [n, labels]: the Hessian's middle, a diagonal

    def hessian_times(self, curvature: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        return (self.x_t @ (self.x @ directions).mul_(curvature)).addcmul_(self.penalty, directions)


def csr_tensor(matrix: scipy.sparse.csr_matrix) -> torch.Tensor:
    """PyTorch's CSR tensor: its product with a dense matrix ran 10x as fast as a COO tensor's here."""
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state", at every creation
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(np.int64)),
                                       torch.from_numpy(matrix.indices.astype(np.int64)),
                                       torch.from_numpy(matrix.data), matrix.shape, check_invariants=False)


def conjugate_gradient(problem: "OneVsRest", curvature: torch.Tensor, gradient: torch.Tensor,
                       forcing: torch.Tensor) -> torch.Tensor:
    """Each label's Newton step: H s = -g solved by conjugate gradient until the residual's L1 norm is `forcing`
    times the gradient's (scikit-learn's test). A label that is done leaves the products, as in the Newton loop."""
    step = torch.zeros_like(gradient)
    running = torch.arange(gradient.shape[1])  # the labels still iterating; the tensors below hold only theirs
    partial, residual = torch.zeros_like(gradient), -gradient
    direction, squared, target = residual.clone(), dot(residual, residual), forcing * l1_norm(gradient)
    for iteration in range(MAX_CG):
        going = l1_norm(residual) > target
        if not going.all():
            step[:, running[~going]] = partial[:, ~going]
            if not going.any():
                return step
            running, partial, residual, direction = (tensor[..., going] for tensor in
                                                     (running, partial, residual, direction))
            squared, target, curvature = squared[going], target[going], curvature[:, going]
        product = problem.hessian_times(curvature, direction)
        bend = dot(direction, product)
        # Without positive curvature along it a direction is no use: the label stops where it is (with the
        # gradient's own direction if it has no step yet), as scikit-learn's _cg does.
        flat = bend <= 0
        if flat.any():
            if iteration == 0:
                partial[:, flat] = -gradient[:, running[flat]]
            target = torch.where(flat, torch.inf, target)
        alpha = torch.where(flat, 0.0, squared / torch.where(flat, 1.0, bend))
        partial.addcmul_(direction, alpha)
        residual.addcmul_(product, -alpha)
        new_squared = dot(residual, residual)
        direction.mul_(torch.where(flat, 0.0, new_squared / squared)).add_(residual)
        squared = new_squared
    step[:, running] = partial
    return step


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vecdot(a, b, dim=0)  # [labels], without a [parameters, labels] temporary


def l1_norm(a: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(a, ord=1, dim=0)


def line_search(problem: "OneVsRest", weights: torch.Tensor, scores: torch.Tensor, gradient: torch.Tensor,
                step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(each label's weights moved along its step, halved until the objective falls by at least ARMIJO of what
    the slope promises; whether it moved): a label that no length improves keeps its weights."""
    start = problem.objective(weights, scores)
    slope = dot(gradient, step).double()
    length = torch.ones(step.shape[1])
    waiting = slope < 0  # a step that does not point down has nothing to find
    improved = torch.zeros_like(waiting)
    moved = weights.clone()
    for _ in range(MAX_HALVINGS):
        if not waiting.any():
            break
        trial = weights + length * step
        value = problem.objective(trial, problem.scores(trial))
        accepted = waiting & (value <= start + ARMIJO * length.double() * slope)
        moved[:, accepted], improved = trial[:, accepted], improved | accepted
        waiting &= ~accepted
        length = torch.where(waiting, length / 2, length)
    return moved, improved
