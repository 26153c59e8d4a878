"""Multi-label: train on every label of a row, rank labels, score with P@k / nDCG@k / PSP@k.

Generates documents with several tags each, passes the tag lists through
:class:`~sklearn.preprocessing.MultiLabelBinarizer` (a sparse indicator
matrix), fits :class:`skxc.AdversarialSoftmaxClassifier` on all labels
(pick-all-labels; a row's own labels are never drawn as negatives) and
compares its ranking with always predicting the most frequent labels.

Run with ``python examples/multilabel.py``.
"""

import time

import numpy as np
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MultiLabelBinarizer

from skxc import AdversarialSoftmaxClassifier
from skxc.metrics import ndcg_at_k, precision_at_k, propensity, psp_at_k

X, Y_dense = make_multilabel_classification(
    n_samples=8000, n_features=60, n_classes=200, n_labels=4, allow_unlabeled=False, random_state=0
)
# tags as lists of names, the usual raw form, turned into a sparse indicator matrix
tags = [[f"tag{j}" for j in np.flatnonzero(row)] for row in Y_dense]
mlb = MultiLabelBinarizer(sparse_output=True)
Y = mlb.fit_transform(tags).tocsr()
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, random_state=0)
print(f"train {X_train.shape}, {Y.shape[1]} labels, {Y_train.sum(axis=1).mean():.2f} labels per row")

clf = AdversarialSoftmaxClassifier(random_state=0)
t0 = time.perf_counter()
clf.fit(X_train, Y_train)
print(f"fit: {time.perf_counter() - t0:.1f} s, {clf.t_} (row, label) examples seen in {clf.n_iter_} epochs")

top5, proba5 = clf.predict_top_k(X_test, 5, return_scores=True)
frequent = np.tile(np.argsort(-np.asarray(Y_train.sum(axis=0)).ravel(), kind="stable")[:5], (X_test.shape[0], 1))
prop = propensity(Y_train)
for name, top in (("skxc", top5), ("most frequent labels", frequent)):
    print(
        f"{name:>22s}: P@1 {precision_at_k(Y_test, top, k=1):.3f}  P@3 {precision_at_k(Y_test, top, k=3):.3f}  "
        f"P@5 {precision_at_k(Y_test, top, k=5):.3f}  nDCG@5 {ndcg_at_k(Y_test, top, k=5):.3f}  "
        f"PSP@5 {psp_at_k(Y_test, top, propensities=prop, k=5):.3f}"
    )
print(f"score (precision@1): {clf.score(X_test, Y_test):.3f}")

# predict_proba: shares of the label marginals (rows sum to 1); times the mean number of
# labels per row, a rough marginal estimate, which predict thresholds at 0.5
print("first test row, true tags:", list(mlb.classes_[Y_test[0].indices]))
print("  top-5 tags:", [f"{mlb.classes_[c]} ({p:.2f})" for c, p in zip(top5[0], proba5[0], strict=True)])
predicted = clf.predict(X_test)
print(f"  predicted set: {list(mlb.classes_[np.flatnonzero(predicted[0])])}")
print(f"predicted labels per row: {predicted.sum(axis=1).mean():.2f} (label_cardinality_ {clf.label_cardinality_:.2f})")
