"""Slow NumPy references for the tree-fitting tests (``tests/test_tree_fit.py``).

Everything here is float64, written for clarity, and walks the heap layout
explicitly: inner node ``i`` has children ``2i+1`` (left) and ``2i+2`` (right),
leaf ``j`` is heap node ``n_inner + j``, going right has probability
``sigmoid(w_i @ z + b_i)``.
"""

import numpy as np


def log_sigmoid(t):
    """log(sigmoid(t)), stable for any magnitude."""
    return -np.logaddexp(0.0, -np.asarray(t, dtype=np.float64))


def sigmoid(t):
    return np.exp(log_sigmoid(t))


def leaf_path(n_inner, leaf):
    """List of (inner node, zeta) from the root to ``leaf``; zeta = +1 means right."""
    node = n_inner + leaf
    path = []
    while node > 0:
        parent = (node - 1) // 2
        path.append((parent, 1.0 if node == 2 * parent + 2 else -1.0))
        node = parent
    return path[::-1]


def leaf_log_proba(node_weight, node_bias, Z):
    """log p(leaf | z) of every leaf, float64 (N, n_leaves), by walking each path."""
    W = np.asarray(node_weight, dtype=np.float64)
    b = np.asarray(node_bias, dtype=np.float64)
    n_inner = W.shape[0]
    A = np.asarray(Z, dtype=np.float64) @ W.T + b  # (N, n_inner)
    out = np.zeros((A.shape[0], n_inner + 1))
    for leaf in range(n_inner + 1):
        for node, zeta in leaf_path(n_inner, leaf):
            out[:, leaf] += log_sigmoid(zeta * A[:, node])
    return out


def class_log_proba(node_weight, node_bias, class_leaf, Z):
    """log p(class | z), float64 (N, C)."""
    return leaf_log_proba(node_weight, node_bias, Z)[:, class_leaf]


def subtree_leaves(n_inner, node):
    """Leaf indices below heap node ``node`` (contiguous range)."""
    lo = hi = node
    while lo < n_inner:
        lo, hi = 2 * lo + 1, 2 * hi + 2
    return np.arange(lo - n_inner, hi - n_inner + 1)


def node_split(leaf_class, node):
    """(left classes, right classes) of inner ``node``, as sorted int arrays."""
    n_inner = leaf_class.shape[0] - 1
    left = leaf_class[subtree_leaves(n_inner, 2 * node + 1)]
    right = leaf_class[subtree_leaves(n_inner, 2 * node + 2)]
    return np.sort(left[left >= 0]), np.sort(right[right >= 0])


def design(Z):
    """Rows ``[z, 1]`` as float64 (N, k + 1)."""
    Z = np.asarray(Z, dtype=np.float64)
    return np.hstack([Z, np.ones((Z.shape[0], 1))])


def node_objective(theta, Z, s, zeta, alpha):
    """sum_i s_i log sigmoid(zeta_i (w @ z_i + b)) - alpha |theta|^2."""
    X = design(Z)
    return float(np.sum(s * log_sigmoid(zeta * (X @ theta))) - alpha * theta @ theta)


def node_gradient(theta, Z, s, zeta, alpha):
    X = design(Z)
    u = zeta * (X @ theta)
    return X.T @ (s * zeta * sigmoid(-u)) - 2.0 * alpha * theta


def node_neg_hessian(theta, Z, s, zeta, alpha):
    X = design(Z)
    u = X @ theta
    h = s * sigmoid(u) * sigmoid(-u)
    return (X * h[:, None]).T @ X + 2.0 * alpha * np.eye(X.shape[1])


def newton_step(theta, Z, s, zeta, alpha):
    """One full Newton step on the node objective."""
    g = node_gradient(theta, Z, s, zeta, alpha)
    H = node_neg_hessian(theta, Z, s, zeta, alpha)
    return theta + np.linalg.solve(H, g)


def fit_logistic(Z, s, zeta, alpha, n_iter=50, tol=1e-12):
    """Maximise the node objective by damped Newton (reference)."""
    theta = np.zeros(np.shape(Z)[1] + 1)
    f = node_objective(theta, Z, s, zeta, alpha)
    for _ in range(n_iter):
        g = node_gradient(theta, Z, s, zeta, alpha)
        d = np.linalg.solve(node_neg_hessian(theta, Z, s, zeta, alpha), g)
        if g @ d / 2 <= tol * max(np.sum(s), 1.0):
            break
        t = 1.0
        while node_objective(theta + t * d, Z, s, zeta, alpha) < f and t > 1e-10:
            t /= 2
        theta = theta + t * d
        f = node_objective(theta, Z, s, zeta, alpha)
    return theta


def fit_fixed_tree(Z, y, leaf_class, alpha, sample_weight=None, padding_bias=1.0e4):
    """Fit every node's (w, b) for a given, fixed class-to-leaf assignment.

    Nodes whose right side holds no real class get ``w = 0, b = -padding_bias``
    (and ``b = 0`` if the node holds no real class at all).
    """
    Z = np.asarray(Z, dtype=np.float64)
    s_all = np.ones(Z.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_inner = leaf_class.shape[0] - 1
    W = np.zeros((n_inner, Z.shape[1]))
    b = np.zeros(n_inner)
    for node in range(n_inner):
        left, right = node_split(leaf_class, node)
        if right.size == 0:
            b[node] = -padding_bias if left.size else 0.0
            continue
        rows = np.isin(y, np.concatenate([left, right]))
        zeta = np.where(np.isin(y[rows], right), 1.0, -1.0)
        theta = fit_logistic(Z[rows], s_all[rows], zeta, alpha)
        W[node], b[node] = theta[:-1], theta[-1]
    return W, b


def split_sides(theta, S, cnt):
    """Discrete step (Eq. 9): +1 for the ``m // 2`` classes of largest Delta, -1 for the rest.

    ``Delta_c = w @ S[c] + cnt[c] b``; ties go to the smaller position.
    """
    S = np.asarray(S, dtype=np.float64)
    delta = S @ theta[:-1] + np.asarray(cnt, dtype=np.float64) * theta[-1]
    m = delta.shape[0]
    order = np.lexsort((np.arange(m), -delta))
    side = -np.ones(m)
    side[order[: m // 2]] = 1.0
    return side


def initial_theta(S, cnt):
    """Initial ``[w, b]`` of a node with class sums ``S`` (m, k) and class weights ``cnt`` (m,).

    ``w``: dominant eigenvector of the covariance of the class sums (sign:
    largest-magnitude entry positive), scaled so that the class means' scores
    have unit weighted standard deviation; ``b``: zero weighted mean score.
    """
    S = np.asarray(S, dtype=np.float64)
    cnt = np.asarray(cnt, dtype=np.float64)
    k = S.shape[1]
    w = np.zeros(k)
    if k and S.shape[0] >= 2:
        evals, evecs = np.linalg.eigh(np.cov(S.T, bias=True).reshape(k, k))
        if evals[-1] > 0:
            w = evecs[:, -1] * np.sign(evecs[np.argmax(np.abs(evecs[:, -1])), -1])
    score = S @ w
    total = cnt.sum()
    mean = score.sum() / total
    pos = cnt > 0
    var = np.sum(score[pos] ** 2 / cnt[pos]) / total - mean**2
    scale = 1.0 / np.sqrt(var) if var > 1e-12 * np.sum(score[pos] ** 2 / cnt[pos]) / total else 1.0
    return np.append(scale * w, -scale * mean)
