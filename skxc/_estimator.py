"""The scikit-learn estimator: parameters, their validation and documentation, the public methods.

The methods' work is in mixins below it, each in its own module:
``_training.py`` (how ``fit``, ``partial_fit`` and ``fit_noise`` turn input
into fitted attributes), ``_prediction.py`` (scores, probabilities, top-k)
and ``_model.py`` (``coef_``: dense or sparse weights, ``sparsify``,
``densify``); no kernel is imported here or there.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ._memory import reused_buffers, small_pages
from ._model import SparseCoefMixin
from ._prediction import PredictionMixin
from ._training import TrainingMixin
from ._tree import MAX_COMPONENTS, MAX_TEMPERATURE
from ._validation import NONZERO_N_JOBS, reject_bool_numbers

#: Largest ``n_negatives``: each negative is a tree walk and a row update per example, and the kernels keep
#: scratch of about 0.5 KiB per negative and thread.
MAX_NEGATIVES = 100_000
#: Largest ``centroid_blend`` (in units of 1 / RMS row norm; "auto" tries at most 65536): beyond, the term
#: swamps the trained weights' float32 precision, and overflows float32 for far larger values.
MAX_BLEND = 1e6
#: Largest ``learning_rate``, ``alpha`` and ``l2``: beyond, the first steps overflow float32 (or float64) and
#: training stops with a FloatingPointError (a fresh fit never gives a usable model there); the "auto"
#: learning rate is at most 1.
MAX_STEP = 1e6


class AdversarialSoftmaxClassifier(PredictionMixin, SparseCoefMixin, TrainingMixin, ClassifierMixin, BaseEstimator):
    """Softmax classifier for many classes, trained by adversarial negative sampling.

    Implements Bamler & Mandt (ICLR 2020): (1) fit an auxiliary probabilistic
    binary tree p_n(y|x) over the classes on a low-dimensional projection of x;
    (2) train a linear model xi_y(x) = coef_[y] @ x + intercept_[y] by negative
    sampling with negatives drawn from the tree, minimising the regularised
    loss of the paper's Eq. 6 with Adagrad; (3) at prediction, remove the
    sampling bias: the softmax over all classes of xi_y(x) + log p_n(y|x)
    estimates p(y|x). The parameters in detail: :ref:`parameter-details`.

    Parameters
    ----------
    noise : {"adversarial", "uniform", "frequency"}, FrozenEstimator or None, default="adversarial"
        Distribution of the negatives: "adversarial", the fitted conditional
        tree (the paper's method); "uniform", all classes equally likely;
        "frequency", the training label frequencies (add-one smoothed); None,
        no sampling but the exact softmax gradient over all classes (the
        reference for small C; ``n_negatives`` is ignored);
        ``sklearn.frozen.FrozenEstimator(tree)`` around a fitted
        :class:`AuxiliaryTree`: that tree, used as is and never refitted
        (:ref:`param-noise`). The bias removal uses the same distribution, so
        all of them estimate the same softmax model. "adversarial" with
        ``tree_temperature="auto"`` may end with uniform noise where held-out
        rows clearly prefer it (up to 2,000 classes; ``noise_`` says which).

    n_negatives : int in [1, 100000] or "auto", default="auto"
        Negatives drawn per positive example, each with its own loss term.
        A few more train better per epoch and cost about one more tree walk and
        row update each (:ref:`param-noise`, :ref:`benchmarks-defaults`);
        hundreds to thousands make the probabilities worse, as every negative's
        term pushes its class down (held-out log-loss towards uniform's).
        ``"auto"``: 3 for single-label data with more than 50 training rows
        per class on average (there more negatives train a better model for
        their time), else 2 (few rows per class, and multi-label data), from
        the rows given to the call that initialises the model. Where the
        ``centroid_blend="auto"`` pilots run on single-label data of at most
        50 rows per class on average (and at most 2,000 classes where the
        rows are dense), and
        ``learning_rate`` is "auto" too, 8 (with 16 times the step) if that
        pilot's held-out log-likelihood is clearly higher (see
        ``learning_rate``). The
        value used is ``n_negatives_``. Where those rows are sparse (most
        entries zero) and single-label classes have more than 50 rows on average,
        ``fit``'s first two fifths of its epochs (rounded: 2 of 5, none of 1)
        draw 8 instead: they take the largest steps of the linear schedule
        (:ref:`param-noise`); ``partial_fit`` draws
        ``n_negatives_``.

    learning_rate : float in (0, 1e6] or "auto", default="auto"
        Adagrad step size ρ. ``"auto"``: ρ = 1 / sqrt(1 + mean ||x||^2) over
        the rows given to the call that initialises the model (multi-label:
        over the (row, label) examples, divided by the square root of those
        rows' ``label_cardinality_``; a warm start keeps the rate, though it
        sets ``label_cardinality_`` anew); where the ``centroid_blend="auto"``
        pilots run, ρ / 2 instead if their pilot at ρ / 2 has the best
        held-out log-likelihood; and with ``n_negatives="auto"`` on
        single-label data of at most 50 rows per class on average (and
        2,000 classes where the rows are dense), 16 ρ and
        8 negatives if a pilot trained so has a higher mean held-out
        log-likelihood per row than the chosen pilot's (a paired z above 0)
        and a held-out top-1 no more than one standard error below it
        (classes that must be told apart from the words they share train
        further; :ref:`benchmarks, "Stop 46"
        <benchmarks-s46-faster>` and :ref:`"Stop 52" <benchmarks-s52-faster>`;
        that pilot is left out where its negatives would not fit in memory);
        multi-label (any number of labels), 16 ρ with the estimator's
        negatives if a pilot trained so has a held-out mean of precision@1,
        3 and 5 higher than the chosen pilot's by more than one standard
        error (:ref:`benchmarks, "Stop 56" <benchmarks-s56-multilabel-faster>`).
        The value used is ``learning_rate_``.
        Too large a value does not diverge visibly (:ref:`param-learning-rate`).

    learning_rate_schedule : {"linear", "constant"}, default="linear"
        How the step size moves during ``fit``. "linear": from ρ at the first
        example down to 0 after the last example of epoch ``max_iter``
        (linearly in the number of examples seen, as fastText does), so the
        last epochs average out the noise of the early steps; training
        stopped early ends where the schedule then is. "constant": ρ
        throughout. ``partial_fit`` always steps with ρ (it does not know how
        much training follows); a warm start runs the schedule again over its
        own ``max_iter`` epochs (:ref:`param-learning-rate`).

    alpha : float in [0, 1e6], default=3e-3
        Strength λ of the regulariser λ (xi_y + log p_n(y|x))^2 of Eq. 6,
        which keeps the bias-corrected scores small; 0 turns it off.

    l2 : float in [0, 1e6], default=0.0
        L2 penalty on the weights (not the intercepts) that each step
        touches: a step adds ``l2 * w`` to the gradient of each weight it
        updates (:ref:`param-l2`).

    adagrad : {"auto", "factored", "full"}, default="auto"
        How Adagrad keeps each weight's sum of squared gradients: "full", per
        weight (a float32 array as large as ``coef_``, the paper's setting);
        "factored", only its sums per class, per feature and in total
        (C + n_features + 1 float64 numbers); "auto", "factored" for negative
        sampling and "full" for ``noise=None`` (:ref:`param-adagrad`).

    max_iter : int >= 1 or "auto", default="auto"
        Maximum number of epochs (passes over the training data) in ``fit``.
        "auto": 10 for at most 50,000 training rows (for multi-label Y too,
        whatever the number of labels per row), 5 above (the epochs of small
        sets are cheap; :ref:`benchmarks-schedule`).

    tol : float >= 0 or None, default=None
        Stopping tolerance: training stops when the monitored quantity (training
        loss, or validation accuracy with ``early_stopping``) has not improved by
        at least ``tol`` for ``n_iter_no_change`` consecutive epochs, and a
        ``ConvergenceWarning`` is raised if ``max_iter`` epochs end before that
        (not for ``max_iter=1``: one epoch is a budget, not a run to convergence).
        None runs exactly ``max_iter`` epochs, as fastText does.

    n_iter_no_change : int >= 1, default=3
        Epochs without improvement before stopping.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows, monitor their
        top-1 accuracy before the first epoch and after each one, stop when
        it has not improved by ``tol`` for ``n_iter_no_change`` epochs (with
        ``tol=None``: has not risen above its best so far, the start's
        included, so a flat accuracy stops too) and end with the model where
        it was best (``best_iteration_``; :ref:`param-early-stopping`).
        ``fit`` only (also a warm start, whose epoch 0 is the model it
        continues): ``partial_fit`` trains one epoch on every row of its batch.

    validation_fraction : float in (0, 1), default=0.1
        Fraction of rows held out when ``early_stopping`` is True
        (multi-label: of the rows with labels, which alone are held out),
        drawn uniformly among the rows of positive ``sample_weight``; the
        validation accuracy weighs them by it. A class (multi-label: a label)
        whose rows would all be held out keeps its first one for training
        (the validation set is that much smaller; none left: ValueError), so
        the model knows every class of ``y``.

    shuffle : bool, default=True
        Visit the rows in a fresh random order each epoch.

    n_components : int in [0, 1024] or "auto", default="auto"
        Dimension k of the projection the tree is fitted on ("adversarial"
        only); 0 gives an unconditional tree: the training rows' class
        frequencies pulled towards a balanced tree by ``tree_alpha``, the
        more the fewer rows (see ``n_components`` of :class:`AuxiliaryTree`,
        also for its cost, about k^3;
        ``noise="frequency"`` uses the add-one smoothed frequencies as they
        are). ``"auto"``: 24 for single-label data with more than 50
        training rows per class on average and sparse rows (less than 10 %
        of the entries stored), where the class means are reliable and the
        tree splits on the directions that separate them
        (``tree_projection``); else 16. Decided from the rows given to the
        call that initialises the model; the fitted tree's
        ``tree_.n_components_`` says what was used
        (:ref:`benchmarks, "Stop 60" <benchmarks-s60-components>` and
        :ref:`"Stop 61" <benchmarks-s61-tol>`).

    tree_projection : {"auto", "svd", "centroids"}, default="auto"
        The directions the tree splits on ("adversarial" only; see
        ``projection`` of :class:`AuxiliaryTree`): "svd", X's top
        principal directions, which ignore y; "centroids", the directions
        that best separate the class means. ``"auto"``: "centroids" for
        single-label data with more than 50 training rows per class on
        average (the boundary of ``n_negatives="auto"``), sparse rows (less
        than 10 % of the entries stored) and more classes than
        ``n_components``: there the means are reliable, and the principal
        directions of word counts follow the frequent words rather than the
        classes; else "svd" (a class of one or two rows has a mean that is
        those rows, and on dense features the principal directions already
        follow the classes); from the rows given to the call that
        initialises the model
        (:ref:`benchmarks, "The tree's projection where classes have many rows" <benchmarks-s24-projection>`).

    tree_alpha : float >= 0, default=10.0
        L2 regularisation λ_n of the tree's node splits ("adversarial" only;
        the paper's 0.1 makes the tree over-confident about rare classes:
        :ref:`benchmarks-defaults`).

    tree_temperature : float in [1e-6, 1e6] or "auto", default="auto"
        Temperature of the tree's splits ("adversarial" only; see
        :class:`AuxiliaryTree`): every split's logit is multiplied by it.
        ``"auto"`` chooses it in [1/32, 1] by the log-likelihood of the tree
        on the rows held out for calibration (:ref:`param-init`), then halves
        it if the centroid blend's pilot does better with the flatter tree
        (``centroid_blend``); a ``fit`` of more than 10 epochs (without
        ``early_stopping``, where ``max_iter`` is a cap) then trains
        with 10 / ``max_iter`` times that temperature (not below 1/32: half
        at 20 epochs), as longer training over-fits a sharper tree's
        negatives (:ref:`param-init`). For single-label data of at most 2,000 classes
        a pilot with uniform noise competes too; if it wins, the model trains
        with uniform noise (``noise_`` is then "uniform"; the bias correction
        stays exact, log p_n being a constant).

    init : {"centroid", "zeros"}, default="centroid"
        Where the weights start. "centroid": class c's weights at s times the
        unit-length mean of its L2-normalised rows, with s (``init_scale_``)
        chosen on held-out rows by the training loss with the model's negatives
        (chosen again when the automatic settings change them), s = 0 being a
        candidate; "zeros": all weights
        0, i.e. p(y|x) = p_n(y|x) (the paper's start). Calibration holds out
        10 % of the rows (at most 10,000; multi-label: of the rows with
        labels); with fewer than 1,000 such rows the temperature is 1 and the
        weights start at 0 (:ref:`param-init`).

    centroid_blend : float in [0, 1e6] or "auto", default="auto"
        Weight beta of a nearest-centroid term added to the scores after
        training: class c's score gains beta x.mu_c / r, with mu_c
        the unit-length mean of the class's L2-normalised rows (as for
        ``init``) and r the RMS row norm. It helps where classes have few
        rows, and where the classes' centroids separate them well (dense
        clustered features). ``"auto"`` chooses beta in {0, 1, 4, ..., 4096}
        (then 16384 and 65536 while the largest tried is the best), together with
        the temperature ``score_temperature_`` of the probabilities, by the
        log-likelihood of the rows held out for calibration under a pilot
        model trained on the other rows for 2 epochs (fewer if ``max_iter``
        is 1) (for single-label data, pilots try the tree at half its temperature,
        and uniform noise up to 2,000 classes, with ``tree_temperature="auto"``,
        and half the learning rate, with ``learning_rate="auto"``, and 16 times
        the learning rate with 8 negatives (up to 2,000 classes where the rows are dense), with both ``learning_rate`` and
        ``n_negatives`` "auto" (kept only if its mean held-out log-likelihood
        is higher and its top-1 not lower by more than one standard error),
        and the estimator's own settings unless the flatter tree and the half step run;
        the best pilot's settings are kept; there, a beta whose held-out
        top-1 is higher by more than 3 standard errors replaces the
        log-likelihood's, with its own temperature); it does so
        with negative sampling and at least 1,000 rows; on single-label dense
        rows, "auto" also chooses the Euclidean nearest class mean for the term
        in place of mu_c where the held-out rows' log-likelihood under each rule
        alone clearly prefers it (``centroid_metric_``); for multi-label data
        with at most 50 rows per label (there the pilots try "rows" with
        ``label_weighting="auto"`` and 16 times the learning rate with
        ``learning_rate="auto"``, each kept only if its held-out mean of
        precision@1, 3 and 5 is higher by more than one standard error), and
        otherwise means 0. Single-label
        data with more than 50 rows per class run one pilot, with the
        estimator's settings, on a random subset of 50 rows per class (at
        most 100,000 rows), and keep its beta only if it beats beta = 0 on
        the held-out rows by more than 5 standard errors (else beta 0, and
        the temperature of the pilot's own scores if it beats 1 there by
        more than 5 standard errors, else 1; above 50,000 rows, where the
        centroids do not help the tree alone either, no pilot trains: beta
        0, temperature 1). A number: that beta, temperature 1 (untempered: the
        confidence of the paper's model can be too high or too low for its
        accuracy, depending on the data, which is why "auto" fits the
        temperature on held-out rows).
        0 leaves the paper's model (:ref:`param-centroid-blend`). Where the
        few-rows pilots run, the best one's held-out rows also fit the
        top-label calibration of the probabilities
        (``top_label_calibration_``).

    calibration : {"pilot", "full"}, default="pilot"
        Which held-out scores fit the temperature of the probabilities
        (``score_temperature_``) and their top-label calibration
        (``top_label_calibration_``) where the few-rows pilots of
        ``centroid_blend="auto"`` run. "pilot": those of the 2-epoch pilot
        that chose the settings, at no extra cost. "full": those of one more
        pilot with the chosen settings, trained on the same rows for the
        fit's whole epoch budget. The model is the same either way (its
        ranking, ``predict`` and top-k do not change); with "full" its
        probabilities follow the accuracy and confidence of a model trained as
        long as it is, where the short pilot's can be far too low (it is
        less accurate) or too high (it is less confident), at the cost of one
        more model of the pilots' rows (:ref:`param-calibration`). Elsewhere
        (a fixed ``centroid_blend``, many rows per class, multi-label data,
        ``max_iter`` of 2 or less) the two are the same.

    label_weighting : {"auto", "pairs", "rows"}, default="auto"
        Multi-label y only (ignored otherwise): how a row's weight is spread
        over its labels. "pairs": each (row, label) pair has the row's
        weight (pick-all-labels, whose minimiser ranks the labels by their
        marginals, consistent for precision@k), so a row with 40 labels
        weighs 40 times as much as a row with one. "rows": a row's labels
        share its weight, each pair weighing ``label_cardinality_ / |Y_i|``
        times the row's weight (the normalised reduction, whose minimiser
        ranks by ``E[1[l in Y] / |Y| | x]``, consistent for recall@k), so every
        row counts alike, as in precision@k's mean over rows; the pairs
        weigh as much in all as with "pairs". ``"auto"``: "rows" where the rows
        carry at least 4 labels on average (``label_cardinality_``; "rows" won
        P@k there on every such set measured), else "pairs", unless the
        ``centroid_blend="auto"`` pilots run and a pilot trained with "rows"
        beats theirs on the held-out rows (up to 2,000) by the mean of
        precision@1, 3 and 5, by more than one standard error of the mean
        paired difference (one pilot more; :ref:`rows with many labels <multilabel-row-weights>`).
        ``predict_proba`` then estimates shares of the label marginals
        ("pairs") or each label's expected share of the row's labels
        ("rows"). A warm start and ``partial_fit`` keep the fitted choice.
        The value used is ``label_weighting_``. Under "rows" a later
        ``partial_fit`` batch's pairs weigh the model's
        ``label_cardinality_ / |Y_i|`` (not the batch's own mean number of
        labels); a warm start sets ``label_cardinality_`` from its rows and
        weighs with that.

    random_state : int, RandomState instance or None, default=None
        Seeds the tree fit, shuffling and the negatives.

    n_jobs : int, default=None
        Threads for training (lock-free Hogwild updates) and prediction.
        None means 1 (unless in a ``joblib.parallel_config`` context: then
        its ``n_jobs``, at most this machine's cores, also under joblib's dask
        backend, which would count a whole cluster's threads), -1 all cores,
        -2 all but one. A model of fewer than 100 classes trains on
        one thread whatever ``n_jobs`` (there the threads' updates mostly wait
        for each other). ``n_jobs=1`` is bitwise reproducible for a fixed
        ``random_state``, and so is any ``n_jobs`` for fewer than 100
        classes; with more, ``n_jobs > 1`` is not (updates race). Each
        thread keeps its own Adagrad step-size statistics within a piece of
        an epoch, scaled to stand for all the threads' rows, so that the
        step sizes are those of one thread in expectation.

    verbose : int >= 0, default=0
        When > 0, ``fit`` prints the tree's fitting time, the settings the
        "auto" pilots chose (``centroid_blend="auto"``) and their time, one
        line per epoch and, at the end, where its time went (tree, automatic
        settings, training, blend and pruning, other); >= 2 adds a line as
        the tree's fit and the pilots start, and progress within an epoch
        (every 2**20 rows). ``partial_fit`` prints its epoch line.

    warm_start : bool, default=False
        Reuse the previous fit's tree and coefficients as the starting point
        (a centroid blend stays: training continues the model underneath it,
        :ref:`param-centroid-blend`). y must then have the fitted classes
        (``classes_``) and X the fitted number of features, as for
        scikit-learn's warm starts: a ValueError names the classes y lacks or
        adds (or the features, a switch between single- and multi-label y,
        or a ``noise`` of another kind than the fitted ``noise_``, whose tree
        the model keeps; also in a later ``partial_fit``), and the model
        stays as it was (``partial_fit`` trains on rows of some of the
        classes; ``warm_start=False`` fits a new model).

    weights : {"auto", "dense", "sparse"}, default="auto"
        How ``coef_`` is stored: "dense", a float32 n_classes x n_features
        array; "sparse" (sparse X and negative sampling only), only the
        weights training has updated (a hash table while training, a CSR
        ``coef_`` after it); "auto", "sparse" for sparse X when dense weights
        would take at least 128 MiB, else "dense". Chosen when the model is
        initialised and kept by a warm start or ``partial_fit``;
        :meth:`sparsify` / :meth:`densify` convert a fitted model
        (:ref:`param-weights`). Where classes have at most 50 rows on
        average (and for multi-label y), ``fit`` with sparse weights in a
        hash table lets negatives add weights only on features frequent
        enough that each class is expected to be drawn as a negative on them
        at least once. A new model's sparse weights (``weights="auto"``,
        ``l2=0``, factored Adagrad; multi-label too since stop 56) train instead in a dense
        float32 array where that is smaller than the hash table their first
        epoch would need (its negatives reach every feature); ``coef_`` is
        CSR after ``fit`` either way.

    weight_threshold : float in [0, 1) or "auto", default="auto"
        After ``fit``, drop the weights whose magnitude is below
        ``weight_threshold`` times the largest magnitude among their class's
        weights (zeroed for dense weights); 0 keeps all. "auto": 0.01 for
        sparse weights, 0 for dense ones. Sparse weights below it are also
        dropped during ``fit`` whenever their table would otherwise grow
        (they restart from 0 if touched again). ``partial_fit`` never prunes
        (:ref:`param-weights`, :ref:`benchmarks-sparse-weights`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; ``np.arange(n_labels)`` for a model trained on a label
        indicator matrix (multi-label).
    label_cardinality_ : float
        Multi-label models only: the weighted mean number of labels of the
        training rows that have labels. Set by each ``fit`` from its y (a warm
        start too; with ``early_stopping``, from the rows it trains on), and
        when streaming from the ``fit_noise`` sample or the first
        ``partial_fit`` batch (later ``partial_fit`` calls keep it);
        ``predict`` thresholds ``label_cardinality_ * predict_proba`` at 0.5.
    label_weighting_ : {"pairs", "rows"}
        Multi-label models only: how the training rows' weights were spread
        over their labels (``label_weighting``; "auto" resolved).
    coef_ : ndarray or scipy.sparse CSR matrix of shape (n_classes, n_features), float32
        Weights of the linear scores xi. Dense: stored feature-major (Fortran
        order) when trained on sparse input, class-major otherwise. Sparse
        (``weights``): a CSR matrix of the stored weights; a centroid start
        then adds one more term, the same for every class of a row, which
        ``decision_function`` includes and ``coef_`` leaves out. Its arrays are
        read-only: an edit in place raises numpy's ValueError rather than being
        missed by predictions, which score from an index made once per matrix,
        or undone by the next ``partial_fit``, which trains on from the weights
        it was copied from. To change sparse weights, assign a new matrix
        (``clf.coef_ = C``, e.g. an edited ``clf.coef_.copy()``; C's arrays are
        read-only from then on) or use
        :meth:`sparsify` with a threshold. Dense ``coef_`` can be edited in place.
    intercept_ : ndarray of shape (n_classes,), float32
        Class biases of xi.
    tree_ : AuxiliaryTree
        The noise distribution p_n(y|x) (for "uniform"/"frequency" a tree with no
        features whose biases encode the unconditional distribution).
    noise_ : {"adversarial", "uniform", "frequency", "prefit"} or None
        The noise the model trained with: ``noise``, "prefit" for a
        ``FrozenEstimator`` tree, or "uniform" where ``noise="adversarial"``
        with ``tree_temperature="auto"`` found uniform noise better on
        held-out rows (``centroid_blend``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.
    learning_rate_ : float
        The Adagrad step size of the last training call (``learning_rate``, or
        its ``"auto"`` value). Absent after :meth:`fit_noise` until a training
        call.
    n_negatives_ : int
        Negatives per example of the last training call (``n_negatives``, or
        its ``"auto"`` value; unused by ``noise=None``).
    n_iter_ : int
        Epochs run by the last ``fit`` (``partial_fit`` adds one per call).
    t_ : int
        Positive examples processed so far.
    interrupted_ : bool
        True when the last training call was stopped by Ctrl-C (see Notes).
        Absent after :meth:`fit_noise` until a training call.
    loss_curve_ : list of float
        Mean training loss (Eq. 6) per epoch; NaN for a ``partial_fit``
        epoch without examples (a batch whose rows have no label).
    hardness_curve_ : list of float
        Per epoch, the mean sigmoid(xi) of the drawn negatives: how often the
        model mistook a negative for the positive class (:ref:`snr`). NaN for
        ``noise=None`` (no negatives are drawn) and for an epoch without
        examples.
    validation_scores_ : list of float
        Validation accuracy after each epoch of the calls with
        ``early_stopping``, appended as ``loss_curve_`` is (a warm start adds
        its epochs; empty for a model never trained with it). The accuracy of
        the model before a call's first epoch (epoch 0), which the stopping
        rule and ``best_iteration_`` count too, is not in it (``verbose``
        prints it).
    best_iteration_ : int
        With ``early_stopping``: the epoch (1-based, of the last call; 0 for
        the model before its first epoch) whose model the estimator holds.
    epoch_seconds_ : list of float
        Wall-clock seconds of each epoch's training pass.
    init_scale_ : float
        The scale s of the centroid start (0 when the weights started at 0).
    centroid_blend_ : float
        The weight beta of the centroid term in ``coef_`` and ``intercept_``
        (0: none; see ``centroid_blend``).
    centroid_metric_ : {"cosine", "euclidean"}
        The centroid term's rule: "cosine", the mean direction of each class's
        L2-normalised rows; or "euclidean", the nearest class mean, which
        ``centroid_blend="auto"`` may choose for single-label dense (or mostly
        dense) rows where held-out rows clearly prefer it. "cosine" without a
        centroid term.
    score_temperature_ : float
        T: the probabilities are the softmax of the bias-corrected scores
        (with the centroid term) divided by T, i.e. of ``decision_function``,
        which already divides by T (1 unless ``centroid_blend="auto"`` chose it),
        then mapped by ``top_label_calibration_`` unless that is (1, 0); the order of the
        classes, ``predict_top_k``'s labels and a single-label ``predict``
        do not depend on it. A multi-label ``predict`` thresholds
        ``label_cardinality_ * predict_proba`` and so does.
    top_label_calibration_ : ndarray of shape (2,)
        (slope a, offset b) of the top-label calibration: in
        ``predict_proba``, each row's most probable class has log-odds
        a * L + b instead of the softmax's L (never less than keeps it the
        most probable), and the other classes share the rest in the
        softmax's proportions. Fitted on the rows held out for calibration
        (Platt scaling of the best pilot's top class) where
        ``centroid_blend="auto"`` trains the few-rows pilots, single-label
        with at least 3 classes, and kept only if, cross-fitted on those
        rows, it clearly raises their log-likelihood; else (1, 0), the
        softmax itself. Scores, labels and ``predict_top_k``'s order do not
        depend on it.
    tree_fit_seconds_ : float
        Seconds spent fitting the noise tree (including its projection).

    See Also
    --------
    AuxiliaryTree : The auxiliary model on its own.
    sklearn.linear_model.LogisticRegression : Exact softmax for small C.

    Notes
    -----
    Ctrl-C before training starts raises KeyboardInterrupt and leaves the
    estimator as it was; during training it stops at the next piece boundary
    and returns a consistent model with a
    :class:`~skxc.TrainingInterruptedWarning` and ``interrupted_`` set; a
    second Ctrl-C raises KeyboardInterrupt once Python handles it (presses
    within one piece of training on the calling thread count as one), the
    weights holding what has trained so far, also with ``interrupted_`` set
    (:ref:`interrupting`).

    One positive example costs O(nnz(x) (1 + n_negatives) + k log C) time,
    against O(nnz(x) C) for the exact softmax gradient; prediction needs all
    C scores per row, computed in blocks of rows (:ref:`cost`).
    ``predict_proba`` estimates p(y|x) of the softmax classifier, not of the
    biased negative-sampling model (Theorem 1, :ref:`bias-removal`).
    Multi-label training (``y`` a label indicator matrix) is pick-all-labels:
    :ref:`multilabel-training`.

    References
    ----------
    R. Bamler and S. Mandt. Extreme Classification via Adversarial Softmax
    Approximation. ICLR 2020. https://arxiv.org/abs/2002.06298

    Examples
    --------
    >>> from skxc import AdversarialSoftmaxClassifier
    >>> from skxc.datasets import make_hierarchical_classification
    >>> X, y = make_hierarchical_classification(n_samples=3000, n_classes=64, random_state=0)
    >>> clf = AdversarialSoftmaxClassifier(random_state=0).fit(X[:2500], y[:2500])
    >>> clf.predict_proba(X[2500:]).shape
    (500, 64)
    >>> bool(clf.score(X[2500:], y[2500:]) > 0.5)
    True
    """

    _parameter_constraints: dict = {
        "noise": [StrOptions({"adversarial", "uniform", "frequency"}), None, FrozenEstimator],
        "n_negatives": [Interval(Integral, 1, MAX_NEGATIVES, closed="both"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, MAX_STEP, closed="right"), StrOptions({"auto"})],
        "learning_rate_schedule": [StrOptions({"linear", "constant"})],
        "alpha": [Interval(Real, 0, MAX_STEP, closed="both")],
        "l2": [Interval(Real, 0, MAX_STEP, closed="both")],
        "adagrad": [StrOptions({"auto", "factored", "full"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "n_components": [Interval(Integral, 0, MAX_COMPONENTS, closed="both"), StrOptions({"auto"})],
        "tree_projection": [StrOptions({"auto", "svd", "centroids"})],
        "tree_alpha": [Interval(Real, 0, None, closed="left")],
        "tree_temperature": [Interval(Real, 1 / MAX_TEMPERATURE, MAX_TEMPERATURE, closed="both"), StrOptions({"auto"})],
        "init": [StrOptions({"centroid", "zeros"})],
        "centroid_blend": [Interval(Real, 0, MAX_BLEND, closed="both"), StrOptions({"auto"})],
        "calibration": [StrOptions({"pilot", "full"})],
        "label_weighting": [StrOptions({"auto", "pairs", "rows"})],
        "random_state": ["random_state"],
        "n_jobs": [*NONZERO_N_JOBS, None],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "weights": [StrOptions({"auto", "dense", "sparse"})],
        "weight_threshold": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        noise="adversarial",
        n_negatives="auto",
        learning_rate="auto",
        learning_rate_schedule="linear",
        alpha=3e-3,
        l2=0.0,
        adagrad="auto",
        max_iter="auto",
        tol=None,
        n_iter_no_change=3,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        n_components="auto",
        tree_projection="auto",
        tree_alpha=10.0,
        tree_temperature="auto",
        init="centroid",
        centroid_blend="auto",
        calibration="pilot",
        label_weighting="auto",
        random_state=None,
        n_jobs=None,
        verbose=0,
        warm_start=False,
        weights="auto",
        weight_threshold="auto",
    ):
        self.noise = noise
        self.n_negatives = n_negatives
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.alpha = alpha
        self.l2 = l2
        self.adagrad = adagrad
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.n_components = n_components
        self.tree_projection = tree_projection
        self.tree_alpha = tree_alpha
        self.tree_temperature = tree_temperature
        self.init = init
        self.centroid_blend = centroid_blend
        self.calibration = calibration
        self.label_weighting = label_weighting
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.warm_start = warm_start
        self.weights = weights
        self.weight_threshold = weight_threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.poor_score = False
        return tags

    def _validate_params(self):
        """scikit-learn's parameter validation, and no bool for a numeric parameter (True would pass as 1)."""
        super()._validate_params()
        reject_bool_numbers(self, self._parameter_constraints)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the tree, then train by negative sampling for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is converted to CSR, or, if it stores
            at least half its entries (and ``weights`` is not "sparse"), to
            the dense array it is: the same model as for that array.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            Class labels (any sortable type, e.g. ints or strings), or a 0/1
            label indicator matrix for multi-label training (rows without
            labels are skipped).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights scaling each row's loss. The adversarial
            tree ``tree_`` counts them like repeated rows against its fixed
            regularisation ``tree_alpha``, so their overall scale matters,
            not only their ratios: weights summing to 1 (a distribution) make
            the tree nearly uniform, weights multiplied by 1000 make it
            sharper. The steps scale with them too, as in ``SGDClassifier``
            (Adagrad's accumulator starts at 1, so tiny weights take tiny
            steps: constant weights of 1e-6 trained to 0.31 training accuracy
            against 0.81 at 1). Use counts, e.g. weights of mean 1. Rows of weight 0 are
            left out, as if absent from X (their labels stay in
            ``classes_``): the same model as without them.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The fitted estimator.
        """
        # NumPy's arrays of the fit on small pages, and the fit's large buffers reused (skxc._memory)
        with small_pages(), reused_buffers():
            return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_noise(self, X, y, classes=None, sample_weight=None):
        """Fit only the noise distribution (the tree) and reset the linear model to its start.

        Use it before streaming with :meth:`partial_fit` to fit the tree on a
        representative sample instead of the first batch; later ``partial_fit``
        calls then train the linear model and leave the tree fixed. The
        centroid start's scale is chosen on this sample too (from 1,000 rows
        on, multi-label: rows with labels; with fewer, on a later
        ``partial_fit`` call), and the start then follows the rows of the
        stream (:ref:`streaming`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A sample of the training data.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            Its labels, or a 0/1 label indicator matrix (multi-label).
        classes : array-like of shape (n_classes,), default=None
            All classes of the stream (a superset of ``y``); default: those in ``y``.
            Multi-label: None or ``np.arange(n_labels)``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; rows of weight 0 are left out, as in :meth:`fit`.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator with ``tree_`` fitted and ``coef_`` at its initial value:
            ``n_iter_`` and ``t_`` are 0, the curves empty, and the attributes of
            a training call (``learning_rate_``, ``interrupted_``,
            ``best_iteration_``) are absent until the next one, also after an
            earlier ``fit`` or ``partial_fit`` stream.
        """
        with small_pages(), reused_buffers():
            return self._fit_noise(X, y, classes, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of negative sampling over the given batch.

        The first call fits the noise tree on this batch (it then stays fixed, so
        scores stay consistent with the bias correction) and must be given
        ``classes``; to fit the tree on another sample first, call
        :meth:`fit_noise`. Each call draws fresh negatives. The centroid
        start (``init="centroid"``) follows the stream: before a batch trains,
        each of its classes' start moves to the unit-length mean of all its
        rows so far, at the start's scale ``init_scale_``, and a class without
        rows before gets its start. A model started on fewer than 1,000 rows
        (multi-label: rows with labels) chooses its start's scale later, on
        100 held-out rows of classes seen before, pooled over calls
        (:ref:`streaming`). Sparse weights
        (``weights``) stay in their training table between calls; ``coef_``
        is built from it (O(stored weights)) when it is read, and pickling
        stores it. A call validates the parameters if they changed
        (``set_params``) since the last call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training rows.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            Their labels, all in ``classes``, or a 0/1 label indicator matrix
            (multi-label; every call must then pass one with the same columns,
            and the first one must hold at least one label: a ValueError leaves
            the estimator unfitted otherwise; later batches may have no labels).
        classes : array-like of shape (n_classes,), default=None
            All classes of the stream; required on the first call, ignored (but
            checked) later. Multi-label: optional (None or ``np.arange(n_labels)``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; rows of weight 0 are left out, as in :meth:`fit`.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The updated estimator.
        """
        if "classes_" in self.__dict__:  # fitted: scikit-learn's fit context did not validate them again
            params = tuple(self.__dict__.get(name) for name in self._parameter_constraints)  # ~1 us
            if params != self.__dict__.get("_validated_params"):  # set_params changed them since (or new)
                self._validate_params()
            self._validated_params = params
        with small_pages(), reused_buffers():
            return self._partial_fit(X, y, classes, sample_weight)
