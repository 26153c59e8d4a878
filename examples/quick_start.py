"""Quick start: fit, score, predict_proba and predict_top_k.

Generates a problem whose 512 classes sit in nested clusters
(:func:`skxc.datasets.make_hierarchical_classification`), fits
:class:`skxc.AdversarialSoftmaxClassifier` and shows its prediction methods.

Run with ``python examples/quick_start.py``. The first run compiles the numba
kernels (tens of seconds); later runs load them from the on-disk cache.
"""

import time

import numpy as np
from sklearn.model_selection import train_test_split

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification

X, y = make_hierarchical_classification(n_samples=30_000, n_features=32, n_classes=512, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
print(f"train {X_train.shape}, test {X_test.shape}, {len(np.unique(y_train))} classes")

# tol=None runs exactly max_iter epochs (no ConvergenceWarning); see the user guide.
clf = AdversarialSoftmaxClassifier(max_iter=10, tol=None, random_state=0)
t0 = time.perf_counter()
clf.fit(X_train, y_train)
print(
    f"fit: {time.perf_counter() - t0:.1f} s ({clf.tree_fit_seconds_:.1f} s of it for the auxiliary tree, "
    f"depth {clf.tree_.depth_}), {clf.n_iter_} epochs"
)
print(f"training loss per epoch: {np.round(clf.loss_curve_, 3).tolist()}")

# predict: exact top-1 of the bias-corrected scores xi_y(x) + log p_n(y|x)
accuracy = clf.score(X_test, y_test)
print(f"test accuracy: {accuracy:.3f}  (majority class: {np.bincount(y_train).max() / len(y_train):.3f})")
print(f"accuracy of the auxiliary tree alone: {clf.tree_.score(X_test, y_test):.3f}")

# predict_proba: softmax over all classes; rows sum to 1, columns follow classes_
proba = clf.predict_proba(X_test[:5])
print(f"predict_proba shape {proba.shape}, row sums {np.round(proba.sum(axis=1), 6).tolist()}")
print(f"probability of the true class: {np.round(proba[np.arange(5), np.searchsorted(clf.classes_, y_test[:5])], 3)}")

# predict_top_k: the k most probable classes of each row, best first
top5 = clf.predict_top_k(X_test, k=5)
assert np.array_equal(top5[:, 0], clf.predict(X_test))
top5_accuracy = np.mean(np.any(top5 == y_test[:, None], axis=1))
print(f"top-5 accuracy: {top5_accuracy:.3f}")
print(f"first test row: true class {y_test[0]}, top-5 {top5[0].tolist()}")
