"""Where a model's weights live: ``coef_`` and the training table of sparse weights.

``coef_`` is a plain attribute (a dense float32 array or a CSR matrix),
except that sparse weights trained by ``partial_fit`` stay in their hash table
(:class:`~skxc._weights.HashedWeights`) between calls and become a CSR matrix
only when ``coef_`` is read, pickled or tokenised.

The functions here work on the estimator's attribute dictionary ``d``
(``vars(estimator)``) and its keys ``"_coef"`` (coef_, or None while a table
holds newer weights), ``"_table"`` (the table; absent when there is none)
and ``"_adagrad_state"`` (an :class:`~skxc._state.AdagradState`, whose per
weight sums of a full state live in the table while it exists).
"""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ._state import AdagradState, writeable
from ._validation import ModelMemoryError, check_model_memory
from ._weights import densified, pruned, reserve_epoch, sparsified, table_with_room

__all__ = [
    "SparseCoefMixin",
    "drop_coef",
    "has_sparse_weights",
    "intact_on_error",
    "loaded_state",
    "pickled_state",
    "read_coef",
    "training_model",
    "write_coef",
]


def read_coef(d: dict, owner: str):
    """coef_: built (as CSR, with the full Adagrad sums) from a table that holds newer weights."""
    table = d.get("_table")
    if table is not None and d.get("_coef") is None:
        coef, acc = table.to_csr()
        if acc is not None:
            d["_adagrad_state"].coef_sums = acc
        d["_coef"] = coef
    try:
        coef = d["_coef"]
    except KeyError:
        raise AttributeError(f"{owner!r} object has no attribute 'coef_'") from None
    if sp.issparse(coef):  # read-only: see read_only_sparse
        read_only_sparse(coef)
    return coef


def read_only_sparse(coef) -> None:
    """Mark the arrays of sparse ``coef`` read-only (in place), so that an edit of coef_ in place raises
    numpy's ValueError ("assignment destination is read-only") instead of being lost: prediction scores from
    an index of coef_ made once per matrix (``skxc._weights.scoring_weights``), and a model streamed by
    ``partial_fit`` trains on from the table that coef_ was copied from. A new matrix assigned to coef_ is the
    model (the index is made again, the table dropped); dense coef_ is scored as it is and stays writeable."""
    for name in ("data", "indices", "indptr"):
        array = getattr(coef, name, None)
        if isinstance(array, np.ndarray):
            array.flags.writeable = False


def write_coef(d: dict, value) -> None:
    """Set coef_; a table is dropped (coef_ is the model now)."""
    d["_coef"] = value
    d.pop("_table", None)


def drop_coef(d: dict) -> None:
    """Delete coef_ and any table."""
    d.pop("_coef", None)
    d.pop("_table", None)


def has_sparse_weights(d: dict) -> bool:
    """Whether the model stores sparse weights (without building coef_ from a kept table)."""
    return d.get("_table") is not None or sp.issparse(d.get("_coef"))


def training_model(d: dict, room):
    """The weights to train on, made ready: the kept table, or a new table from a sparse coef_, either with
    room for ``room(weights)`` more keys (``skxc._weights.first_epoch_room``), or the dense coef_
    made writeable. While a table trains, ``d["_coef"]`` is None (coef_ is rebuilt from the table when read)."""
    table = d.get("_table")
    if table is not None:
        d["_coef"] = None  # the table is the model; coef_ is rebuilt from it when read
        reserve_epoch(table, room(table))
        return table
    if has_sparse_weights(d):  # sparse weights train in a hash table (skxc/_weights.py)
        state = d["_adagrad_state"]
        coef = d["_coef"]
        table = table_with_room(coef, state.coef_sums if state.kind == "full" else None, room(coef))
        d["_table"], d["_coef"] = table, None
        return table
    write_coef(d, writeable(d["_coef"]))
    return d["_coef"]


def pickled_state(state: dict, d: dict, owner: str) -> dict:
    """The attributes to pickle: ``state`` (a copy of ``d``) with coef_ as CSR in place of a kept table
    (``d`` keeps its table)."""
    if state.get("_table") is not None:
        state["_coef"] = read_coef(d, owner)
        state["_adagrad_state"] = d["_adagrad_state"]
        del state["_table"]
    return state


def loaded_state(state: dict) -> dict:
    """The attributes of an unpickled model, upgraded from older layouts."""
    if "coef_" in state:  # pickled before coef_ became a property
        state = dict(state)
        state["_coef"] = state.pop("coef_")
    # models pickled before AdagradState (skxc <= 0.1.0) store its arrays as three attributes
    if "_acc_intercept" in state and "_adagrad_state" not in state:
        state = dict(state)
        state["_adagrad_state"] = AdagradState.from_arrays(
            state.pop("_acc_coef"), state.pop("_acc_factors", None), state.pop("_acc_intercept")
        )
    # fitted before stop 64: the centroid term, if any, is the cosine rule
    if "centroid_blend_" in state and "centroid_metric_" not in state:
        state = dict(state)
        state["centroid_metric_"] = "cosine"
    return state


@contextmanager
def intact_on_error(d: dict):
    """Restore every attribute in ``d`` if the block raises (an error or Ctrl-C before training starts).

    Initialisation (tree fit, allocation, centroid start) builds new arrays
    rather than writing into the previous model's, so restoring the
    attribute dictionary restores the previous model.
    """
    previous = dict(d)
    try:
        yield
    except BaseException:
        d.clear()
        d.update(previous)
        raise


class SparseCoefMixin:
    """``coef_`` storage of :class:`~skxc.AdversarialSoftmaxClassifier`: dense or sparse weights,
    ``sparsify`` / ``densify`` (as scikit-learn's linear models), pruning, pickling and Dask tokens."""

    # -- coef_: an attribute, except that sparse weights trained by partial_fit stay in their training
    # table between calls and become a CSR matrix only when coef_ is read (skxc/_model.py) ----------

    coef_ = property(
        lambda self: read_coef(self.__dict__, type(self).__name__),
        lambda self, value: write_coef(self.__dict__, value),
        lambda self: drop_coef(self.__dict__),
    )

    def _sparse_weights(self) -> bool:
        """Whether the model stores sparse weights (without building coef_ from a kept table)."""
        return has_sparse_weights(self.__dict__)

    def __getstate__(self):
        # object.__getstate__ may hand out __dict__ itself: copied first
        return pickled_state(dict(super().__getstate__()), self.__dict__, type(self).__name__)

    def __setstate__(self, state):
        super().__setstate__(loaded_state(state))

    def __dask_tokenize__(self):
        """Dask token from all attributes, large arrays by fingerprint: no pickling (skxc/_dask.py)."""
        from ._dask import object_token

        if self.__dict__.get("_table") is not None:
            self.coef_ = self.coef_  # the token is of coef_, not of the training table
        return object_token(self)

    def _prune(self, threshold: float) -> None:
        """Drop (sparse) or zero (dense) the weights below ``threshold`` times their class's largest |w|."""
        coef = self.coef_ if sp.issparse(self.coef_) else writeable(self.coef_)
        self.coef_ = pruned(coef, self._adagrad_state, threshold)

    def sparsify(self, threshold: float = 0.0):
        """Store the weights sparse: ``coef_`` becomes a scipy.sparse CSR matrix.

        Further training (``partial_fit``, a warm start) keeps the sparse
        layout, except for a model with ``noise=None``: the exact softmax
        updates every weight, so its training makes them dense again
        (:meth:`densify`) first. Predicted labels do not change (unless
        ``threshold`` > 0), save for near-ties: the sparse scores sum the
        same float32 weights in another order, so scores and probabilities
        move by float32 rounding (about 1e-5 relative).

        Parameters
        ----------
        threshold : float in [0, 1), default=0.0
            Also drop the weights whose magnitude is below ``threshold``
            times the largest magnitude of their class's weights (0 keeps
            every non-zero weight).

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator.
        """
        check_is_fitted(self)
        if not (isinstance(threshold, Real) and 0 <= threshold < 1):
            raise ValueError(f"threshold must be a number in [0, 1); got {threshold!r}.")
        if not sp.issparse(self.coef_):
            self.coef_, self._shared_coef = sparsified(self.coef_, self._adagrad_state), None
        if threshold > 0:
            self._prune(threshold)
        return self

    def densify(self):
        """Store the weights dense: ``coef_`` becomes a float32 ndarray (feature-major).

        Predicted labels do not change, save for near-ties (scores move by
        float32 rounding, as for :meth:`sparsify`); further training uses
        dense weights.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator.
        """
        check_is_fitted(self)
        if not sp.issparse(self.coef_):
            return self
        n_classes, n_features = self.coef_.shape
        state = self._adagrad_state
        try:
            check_model_memory(n_classes, n_features, type(self).__name__, full_adagrad=state.kind == "full")
        except ModelMemoryError as error:  # the guard's options are a new fit's: say what this call was
            raise ModelMemoryError(
                f"densify() would store the weights dense and cannot: {error} The model is unchanged: it keeps "
                "its sparse weights, which it predicts and trains with as they are."
            ) from None
        self.coef_ = densified(self.coef_, getattr(self, "_shared_coef", None), state)
        self._shared_coef = None
        return self
