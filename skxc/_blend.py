"""The centroid blend: a nearest-centroid term and a score temperature, chosen on held-out rows.

Where classes have few training rows, a linear softmax trained by SGD
generalises worse than a nearest-centroid rule, while with many rows per class
it is far better. ``centroid_blend="auto"`` lets held-out rows decide how much
of each to use. After training, the bias-corrected scores become

    s_c(x) = (xi_c(x) + log p_n(c|x) + beta (x - centre).(mu_c - mean mu) / r) / T

with mu_c the unit-length mean of class c's L2-normalised rows (the same
centroids as the centroid start, ``skxc/_start.py``) and r the RMS row norm of
the training data, so that beta means the same for any input scale. The beta
term is linear in x, so it is added to ``coef_`` and ``intercept_``; T only
rescales the scores for probabilities (top-k and a single-label ``predict``
do not depend on it; a multi-label ``predict`` thresholds the probabilities). ``xi + log p_n`` is the paper's bias-corrected score (Theorem 1) and stays
the model's core; beta = 0 and T = 1 give it unchanged.

beta and T are chosen jointly by the held-out log-likelihood of the rows held
out from the tree (``skxc._start.calibration_split``): a pilot model is trained
for 2 epochs (``MIN_PILOT_EPOCHS``; fewer if the fit has fewer) on the other rows with the same tree (which has not
seen the held-out rows either), and centroids of those rows give the beta
term. For each beta on ``BETAS`` the best T is found by Newton steps on the
inverse temperature (the log-likelihood is concave in it); the pair with the
highest log-likelihood wins (ties: the smaller beta). Choosing beta by
held-out top-1 instead was noisy on a few hundred rows (bibtex: beta = 128
chosen, 0.2-1.2 points lost on the test rows); the log-likelihood with its own T picks
the large beta where the centroids are much better (generated few-rows data)
and beta near 0 where the trained model is (docs/benchmarks.rst, "Centroid
blend").

The log-likelihood and top-1 can disagree: where the centroids rank the classes far better than the model
but put the true class far down on the rows they get wrong, the log-likelihood prefers a smaller beta than
top-1 does (dense unit-length embeddings of a long tail, ``generated-embeddings`` of
``benchmarks.longtail``: beta 256 chosen, 31 % top-1, where beta 4,096 gives 36 %, the nearest centroid's
figure). So, for single-label data with at most ``MAX_ROWS_PER_CLASS`` rows per class, the beta of the
highest held-out top-1 replaces the log-likelihood's when its paired (per-row) gain in top-1 is more than
``ACCURACY_Z`` (3) standard errors, on ``ACCURACY_ROWS`` held-out rows (the log-likelihood's rows and, with
more than 2,000 classes, more of the held-out rows), T then being that beta's best. It passed on none of
the shared sets and their stand-ins when it came (stop 34, seeds 0-2: the same models as without it) and on
the embedded long tail at z 4-5; in stop 53 (``n_jobs=1``, seeds 0-1) it passed in some pilots of ``text1200``
(z 4.4-6.7) and ``text300`` (4.0), and z fell between 2 and 3 on five sets, and at 2.5-2.7 on seed 7 of the
embedded long tail, whose model then stays at beta 256 (31 % against 36 %; docs/benchmarks.rst, "Stop 53").
Above 2,000 classes the log-likelihood chooses from fewer rows than the test scores (50-499 against 500),
and there the test asks for 2 standard errors (``ACCURACY_Z_FEWER_LL_ROWS``): that seed's model comes to beta
4,096 and 36 %, and in stop 54's runs (``n_jobs=1``, 17 few-rows sets, seeds 0 and 7; the four sets above
2,000 classes also seeds 1-6) nothing else changed but one beta at ``gcide-reverse@min_rows=5`` (top-1
+0.01). At 2 standard errors everywhere, ``text1200`` (seed 0) and delicious (seed 7), whose log-likelihood
sees all 500 rows, lost 2.4 and 1.2 points (docs/benchmarks.rst, "Stop 54").
The hits of the log-likelihood's rows are scored again rather than kept from its loop: 8 sums and argmaxes
over at most 500 rows, small beside the loop's exponentials. The pilots themselves are compared by their
best log-likelihood over the betas (``PILOTS_BY_BEST_LL``), so that a pilot whose beta the top-1 test moved
is not passed over for the log-likelihood it gave up there.

The same pilots choose the noise where the tree may not pay: with
``tree_temperature="auto"`` and at most ``UNIFORM_MAX_CLASSES`` classes, a
pilot trains with uniform noise too, and the model trains with uniform noise
if that pilot's held-out log-likelihood beats the best tree pilot's by a
one-sided paired test (``UNIFORM_Z``): the paper's noise stays unless the
held-out rows clearly say otherwise. Theorem 1 holds for any noise of full
support, so the bias correction stays exact (log p_n is then a constant).

Where single-label classes have more than ``MAX_ROWS_PER_CLASS`` rows on average, one pilot with the
estimator's settings trains on a random subsample of that many rows per class (``MANY_ROWS_PILOT_ROWS`` at
most) and chooses only beta and T (:func:`many_rows_blend`). A model of all the rows is stronger than that
pilot and needs the centroids less, so its beta is kept only where it beats beta = 0 on the held-out rows
by ``MANY_ROWS_Z`` standard errors; the tree's temperature, the step size and the noise, which the few-rows
pilots also choose, depend on how many rows the model trains on and are left as they are.

Multi-label (pick-all-labels) models blend the same way: mu_l is the mean
direction of the rows that carry label l, and the held-out log-likelihood is the
mean over held-out (row, label) pairs of the label's log-probability under its
row's softmax, the quantity the training loss estimates. Only the pilot with
the estimator's own settings runs there: the flatter-tree and slower-step
pilots did not raise precision@k on the multi-label sets and cost a pilot each
(docs/benchmarks.rst, "Multi-label centroid blend"). With ``label_weighting="auto"`` a second
pilot shares each row's weight among its labels, and the two are compared by held-out precision@k
(:func:`weighting_choice`; docs/benchmarks.rst, "Stop 39: row-shared label weights"); with
``learning_rate="auto"`` a further pilot takes ``MULTILABEL_FASTER`` times the step and wins by the same
test (docs/benchmarks.rst, "Stop 56: multi-label tf-idf text with thousands of labels").
"""

from __future__ import annotations

import copy
import weakref

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from ._config import FLOAT, INDEX, INDPTR
from ._fit import AUTO_NEGATIVES_ROWS_PER_CLASS, adagrad_kind, resolve_max_iter, stored_weights_bound
from ._kernels.hashed import add_feature_major_scores, union_counts, union_sum
from ._multilabel import label_cardinality, pairs_of_rows
from ._parallel import child_seed, fan_out, fan_out_pipelined, in_background, n_threads
from ._predict import TOP_MARGIN, top_and_rest
from ._solver import auto_learning_rate
from ._start import MAX_SCALE_ROWS, _blocks, add_entries, dense_start_bytes, rms_row_norm, tempered, unit_centroids
from ._state import AdagradState, writeable
from ._tree import AuxiliaryTree
from ._validation import MEMORY_HEADROOM, available_memory_bytes, gib, mostly_dense, warn_user
from ._weights import by_feature, estimated_sparse_bytes

#: Candidate beta: 0 and 4**0 .. 4**8 (in units of 1 / RMS row norm). Until stop 58 the grid ended at 4**6 =
#: 4,096, which the dense embedded long tail (``generated-embeddings``) chose as its bound, below the nearest
#: centroid's top-1; at 16,384-65,536 the term decides the ranking and the trained scores break near ties
#: (docs/benchmarks.rst, "Stop 58").
BETAS = np.concatenate([[0.0], 4.0 ** np.arange(0, 9)])
#: The blend's centroid rules (``centroid_metric_``): the cosine one, the unit-length mean direction of a class's
#: L2-normalised rows (:func:`blend_term`), and the Euclidean nearest class mean (:func:`euclidean_parts`).
COSINE, EUCLIDEAN = "cosine", "euclidean"
#: On dense rows (``mostly_dense``), single-label, ``centroid_blend="auto"`` blends the Euclidean rule in place of
#: the cosine one where its scores alone are more likely on the held-out rows than the cosine ones by more than
#: this many standard errors of the paired per-row difference (:func:`euclidean_wins`); None: cosine always.
#: Euclidean nearest centroids beat the cosine ones on dense features whose row norms or class spreads carry
#: information; on tf-idf text cosine is far ahead (docs/benchmarks.rst, "Stop 64").
EUCLIDEAN_Z = 2.0
#: The test of ``EUCLIDEAN_Z`` scores up to this many held-out scores (rows x classes, those of the top-1 test of
#: ``ACCURACY_Z``), at least the log-likelihood's rows: on 50 rows of the LSA stand-in (22,981 classes) z was 0.9,
#: on 500 rows 2.6.
EUCLIDEAN_SCORES = 12_500_000
#: The rules' scores alone are compared at their best 1 / T from 1 / 64 up to this (their scores are in units of
#: the blend's beta, whose best 1 / T there was about 7).
EUCLIDEAN_SHARPEST = 1024.0
#: The first ``BASE_BETAS`` of ``BETAS`` (0 .. 4,096) are always tried; each larger one only while the last one
#: tried is the best (by the held-out log-likelihood, or by top-1 in :func:`clearly_more_accurate`): a grid that
#: grows while its bound wins, which costs nothing where it does not (2 more betas everywhere cost 5-12 % of the
#: fit on the few-rows sets above 1,000 classes: docs/benchmarks.rst, "Stop 58").
BASE_BETAS = 8
#: The pilots train ``MIN_PILOT_EPOCHS`` epochs (all of them if the fit has fewer), or this fraction of the
#: fit's epochs (rounded) where that is more: 0, 2 epochs at every budget. Until stop 38 it was 0.2 (6 of 30
#: epochs), the same pilots up to 12 epochs; at 20 and 30 the longer pilots' held-out log-likelihood chose a
#: smaller beta than the longer fit's top-1 wanted (generated: 40.6-40.8 % against 41.8 %, below uniform
#: noise's 41.5 %; docs/benchmarks.rst, "Pilots of two epochs at every budget").
PILOT_FRACTION = 0.0
MIN_PILOT_EPOCHS = 2
#: "auto" runs its pilots on all the fit rows when the training rows per class (rows / classes) are at most this
#: many. With more (single-label), one pilot with the estimator's settings trains on a subsample of that many rows
#: per class (:func:`many_rows_blend`): on ptb-nextword the trained model is far ahead of the centroids, on dense
#: clustered features (generated-many) the centroids still add 5-6 points of top-1 (docs/benchmarks.rst,
#: "The blend where classes have many rows"). Multi-label data with more rows per label choose no blend.
MAX_ROWS_PER_CLASS = AUTO_NEGATIVES_ROWS_PER_CLASS  # 50, the boundary where n_negatives="auto" draws 3
#: Whether single-label data with more rows per class choose a blend too (:func:`many_rows_blend`): one pilot
#: with the estimator's settings on a subsample of the fit rows (:func:`pilot_rows`).
MANY_ROWS_PILOTS = True
#: That pilot trains on at most this many rows (and at most ``MAX_ROWS_PER_CLASS`` per class on average).
MANY_ROWS_PILOT_ROWS = 100_000
#: ... and its beta is kept only if its held-out log-likelihood beats beta = 0 (each with its own T) by this
#: many standard errors of the mean paired difference: the pilot has seen a fraction of the rows, and a model
#: of all of them needs the centroids less.
MANY_ROWS_Z = 5.0
#: Where the many-rows pilot trains and the blend is not kept, its own scores' held-out temperature is kept if
#: it clearly beats T = 1 (:func:`unblended_temperature`); False: T = 1 (stop 41 and before).
UNBLENDED_TEMPERATURE = True
#: Up to this many training rows the many-rows pilot trains whether or not the centroids help the tree alone
#: (:func:`many_rows_blend`): the gate saves the pilot's time on large sets (ptb-nextword), where it is seconds,
#: and on small ones it is a fraction of a second, and the pilot's temperature is worth having (stop 42).
ALWAYS_PILOT_ROWS = 50_000
#: Held-out scores (rows x classes) kept at once where the log-likelihood is computed in blocks of rows.
MAX_SCORES = 1_000_000
#: Held-out rows whose log-likelihood chooses the blend: at most this many scores (rows x classes), at least
#: ``MIN_ROWS`` rows, at most ``MAX_ROWS``: 50 rows from 20,000 classes on. 500 rows there (12.5 million scores,
#: the top-1 test's) chose other betas on 4 of 12 fits of dense embeddings of the long tail, better and worse
#: alike, at up to 1.4x the fit time (docs/benchmarks.rst, stop 36).
LL_MAX_SCORES = 1_000_000
MIN_ROWS = 50
MAX_ROWS = 500
#: The choice of beta by the held-out log-likelihood gives way to a beta whose held-out top-1 is higher by more
#: than this many standard errors of the mean paired (per-row) difference (single-label, at most
#: ``MAX_ROWS_PER_CLASS`` rows per class; None: never). Where the centroids rank the classes far better than
#: the model, the log-likelihood can prefer a smaller beta than top-1 does (docs/benchmarks.rst, "The blend's
#: beta by top-1").
ACCURACY_Z = 3.0
#: ... or this many where the log-likelihood chose from fewer held-out rows than the test scores (more than
#: ``LL_MAX_SCORES / ACCURACY_ROWS`` = 2,000 classes: 50-499 rows against 500, ``blend_rows``): there the
#: log-likelihood's own choice is the noisier one. None: ``ACCURACY_Z`` everywhere (stop 53 and before).
ACCURACY_Z_FEWER_LL_ROWS = 2.0
#: ... judged on this many held-out rows (more than ``blend_rows`` where there are more than
#: ``LL_MAX_SCORES / ACCURACY_ROWS`` classes: the log-likelihood stays on the first ``blend_rows`` of them).
ACCURACY_ROWS = 500
#: ... but at most this many scores (rows x classes; never fewer rows than ``blend_rows``): the held-out
#: rows' centroid scores are a float64 (rows, classes) array, 100 MB here. 500 rows up to 25,000 classes
#: (every shared set); at 200,000 classes 500 rows held 800 MB of them, and the fit's peak memory was 3,607 MiB
#: against 2,026 with this budget (``benchmarks.extreme_scale``, docs/benchmarks.rst, stop 35); at a million
#: classes it would have been 4 GB.
ACCURACY_MAX_SCORES = 12_500_000
#: Whether the few-rows pilots are compared by their best held-out log-likelihood over all betas (each at its
#: own T), the quality of their models, rather than by that at the beta each chose: where the top-1 test
#: (``ACCURACY_Z``) moved one pilot's beta and not another's, the moved one lost the comparison for the
#: log-likelihood it gave up for top-1, and the model came out at the smaller beta the test had rejected
#: (dense embeddings of a long tail, two threads, seeds 0-8: beta 256 and 31.04 % top-1 on seed 2, beta 1,024
#: and 34.95 % on seed 5, against 36.17 % at beta 4,096 with this rule; docs/benchmarks.rst, "Stop 53: pilots
#: compared by their best log-likelihood"). False: at the beta chosen (stop 52 and before).
PILOTS_BY_BEST_LL = True
#: Whether single-label models with at least 3 classes recalibrate the probability of each row's top class
#: (:func:`top_label_map`, fitted on the best pilot's held-out rows at its beta and T, where the few-rows pilots
#: run): the softmax at the log-likelihood's T can rank well and still put the top class's probability 10-30
#: points above or below its accuracy (docs/benchmarks.rst, "Top-label calibration"). False: the softmax as is.
TOP_LABEL = True
#: The top-label map that changes nothing, ``(slope, offset)``: the probabilities are the softmax itself.
IDENTITY_MAP = (1.0, 0.0)
#: The top-label map's ridge: this / 2 times the squared distance of (slope, offset) to the identity (1, 0) is
#: added to the held-out rows' summed log-loss.
TOP_LABEL_RIDGE = 1.0
#: Bounds of the map's slope: it stays increasing (a more probable top class stays more probable) and finite.
TOP_LABEL_SLOPES = (1.0 / 16.0, 16.0)
#: The map is kept only if it raises the held-out log-likelihood of the true classes, cross-fitted (each half
#: of the rows scored with the map fitted on the other half), by more than this many standard errors of the
#: mean per-row gain (one-sided 5 %). Without it, on small generated sets (1,200-3,000 rows: 120-300 held-out
#: rows) the map made 6 of 15 already calibrated models worse (ECE up to +4.7 points); with it none, and it
#: keeps the map on 10 of the 12 shared sets and stand-ins where it applies (docs/benchmarks.rst,
#: "Top-label calibration").
TOP_LABEL_Z = 1.645
#: The map and its test score more held-out rows than the choice of beta where that stays within
#: ``TOP_LABEL_MAX_SCORES`` scores (rows x classes): up to this many (the choice of beta keeps its rows, the
#: first ones). A test on 500 rows has little power: on delicious (1,291 held-out rows) it did not pass on 500.
TOP_LABEL_ROWS = 2_000
#: ... at most this many scores (20 MB of float64 per array: the held-out rows' centroid scores, and each
#: pilot's log-probabilities of them): more rows only below 5,000 classes (1,250 at 2,000 classes).
TOP_LABEL_MAX_SCORES = 2_500_000
#: Held-out rows are densified for the centroid scores up to this many entries (rows x features), in blocks
#: of about ``DENSE_BLOCK`` entries (16 MiB of float64).
MAX_DENSE_ROWS = 20_000_000
DENSE_BLOCK = 2**21
#: Sparse held-out rows are scored feature by feature (each row's features times the centroids' entries of
#: those features) when that takes at most this fraction of the products of the dense path.
FEATURE_MAJOR_SHARE = 0.25
#: "auto" also tries the tree at this factor of its temperature (never below ``MIN_TREE_TEMPERATURE``).
FLATTER = 0.5
MIN_TREE_TEMPERATURE = 1.0 / 32.0
#: With ``tree_temperature="auto"``, a fit of more epochs than this trains with the chosen tree at this / epochs times
#: its temperature (:func:`budget_tree`; None: as chosen): 20 epochs at half of it, 30 at a third. The adversarial
#: model over-fits its noise with epochs (bibtex 20-30 epochs: 0.25-0.5 points below uniform noise, where the
#: 2-epoch pilots see nothing of it); a flatter tree draws less peaked negatives and corrects by a smoother log p_n.
#: Seeds 0-2, one thread, top-1 at 20 / 30 epochs, before -> now: bibtex 39.20 / 39.22 -> 39.64 / 39.73 (uniform
#: 39.46 / 39.71), corel5k 28.60 / 28.40 -> 27.87 / 27.73 (uniform 26.47), the other small sets within 0.1;
#: multi-label P@1 at 20 epochs up on bibtex, corel5k and delicious (docs/benchmarks.rst, "Stop 39: a tree
#: temperature that follows the epoch budget"). The default budgets (at most 10 epochs) are unchanged.
BUDGET_EPOCHS = 10
#: With ``learning_rate="auto"``, "auto" also tries the learning rate times this factor (1: not tried).
SLOWER = 0.5
#: With ``tree_temperature="auto"``, "auto" also tries uniform noise for single-label models of at most this
#: many classes; if its pilot wins, the model starts again with uniform noise (``skxc._fit.restart``).
#: It won at min_rows=12 and =15 of gcide-reverse (156-330 classes, 12-15 or more rows per class), where
#: uniform noise trained better models than the tree; above 2,000 classes the tree's negatives pay, and a
#: third pilot would cost time for nothing (docs/benchmarks.rst, "Uniform noise as a pilot").
UNIFORM_MAX_CLASSES = 2000
#: Uniform noise replaces the tree only when its pilot's held-out log-likelihood is higher by this many standard
#: errors of the mean paired (per-row) difference from the best tree pilot's: 1.645, a one-sided test at 5 %.
UNIFORM_Z = 1.645
#: Where the uniform noise pilot replaced the tree and the faster pilot (``FASTER``) runs, whether a pilot with
#: uniform noise at the faster step and negatives trains too and replaces it by :func:`faster_wins`, as the faster
#: pilot of a model with ``noise="uniform"`` would: the choice then ends where that model's would. On
#: gcide-reverse@min_rows=12 (330 classes), where the uniform pilot wins, uniform noise at the faster step scored
#: 23.99 % top-1 against 22.88 % at the estimator's step (docs/benchmarks.rst, "Stop 70"). False: the uniform
#: pilot's own step (stop 69 and before).
UNIFORM_FASTER = True
#: Whether uniform noise is compared with the tree's choice after the faster pilot's rule (:func:`faster_wins`)
#: has chosen the tree's step: the uniform pilot must then beat the tree at its best step, and the pilot with
#: uniform noise at the faster step (``UNIFORM_FASTER``) trains only where it does. On the text sets, where the
#: tree at the faster step is far ahead (z +5 to +8 against the uniform pilot) while the uniform pilot can beat
#: the tree's pilots at the estimator's step (all of them near the centroids alone, beta 1,024-65,536), the
#: extra pilot trained for nothing (text1200b: 0.7 s of a 6 s fit; docs/benchmarks.rst, "Stop 71"). False:
#: the uniform pilot against the tree's pilots at the estimator's step, the faster pilot last (stop 70).
UNIFORM_AFTER_FASTER = True
#: Whether the pilot with uniform noise at the faster step (``UNIFORM_FASTER``) trains on one thread where the other
#: pilots trained one thread each (side by side, or the uniform pilot in the background), so that with ``n_jobs`` > 1
#: it chooses as with ``n_jobs=1`` (user guide, "Threads"). False (stop 70): on every thread, whose racing updates
#: moved its held-out log-likelihood from run to run (gcide-reverse@min_rows=12, seed 0: it won at ``n_jobs=1``,
#: 23.70 % top-1, and lost at ``n_jobs=2``, 22.88 %; docs/benchmarks.rst, "Stop 71").
UNIFORM_FASTER_ONE_THREAD = True
#: ``label_weighting="auto"`` (multi-label): the pilot trained with "rows" replaces the one with "pairs" when its
#: held-out mean of precision@1, 3 and 5 is higher by more than this many standard errors of the mean paired
#: (per-row) difference (:func:`rows_win`), on up to :func:`map_rows` held-out rows: the one-standard-error rule
#: (the reduction consistent for precision@k stays unless the other is ahead by more than its noise). z on the
#: shared sets, seeds 0-2: delicious 0.99 / 1.63 / 1.15, corel5k 0.05 / 2.18 / 0.15, bibtex -1.47 / 0.14 / 0.01;
#: at 1.645, the one-sided 5 % test, "rows" (+1.0-1.6 points of P@1 on delicious's test rows) would never win on
#: delicious (docs/benchmarks.rst, "Row-shared label weights").
ROWS_Z = 1.0
#: Whether a pilot with the estimator's own settings trains when both alternatives (the flatter tree and
#: the slower step) do. It won by held-out log-likelihood on none of bibtex, corel5k, delicious,
#: gcide-reverse@min_rows=8 and gcide-reverse, and on generated, where it won, it lost 0.5 points of
#: test top-1 to the slower step (docs/benchmarks.rst, "Two pilots"): without it the choice is the same
#: or better on every set, for a pilot less.
OWN_PILOT_WITH_BOTH = False
#: A further pilot for ``learning_rate="auto"`` and ``n_negatives="auto"`` on single-label data (of at most
#: ``FASTER_MAX_CLASSES`` classes, None: any) with few rows per class: ``FASTER[0]`` times the learning rate and
#: ``FASTER[1]`` negatives per example. The model trains so when that pilot's per-row held-out log-likelihood
#: (each pilot at its own beta and T) beats the chosen pilot's by more than ``FASTER_Z`` standard errors of the
#: mean paired difference (:func:`faster_wins`; 0 since stop 70, one standard error before): where a class's rows must be
#: told from the words it shares with the others, a further converged discriminative model wins (generated topic
#: text: +4.6 points of test top-1 at 300 classes, +4.9 at 1,200, z +5.6 to +7.1; gcide-reverse@min_rows=7 and 8:
#: +0.4 and +0.5, z +1.2 to +2.0; means of 3 seeds); on bibtex, corel5k, delicious, the generated hierarchy and a
#: next-word stand-in the same settings lose 3-17 points (seed 0) and the pilot's z is -3.8 or lower; on
#: gcide-reverse@min_rows=10 to 15 it is -2.8 to +0.4 (not taken; forced, the step won 0.4-0.7 points on seed 0).
#: The per-row log-likelihoods are those of the first :func:`ll_rows` held-out rows (at most ``MAX_ROWS``)
#: (docs/benchmarks.rst, "Stop 46: sixteen times the step"; stops 43-45: twice the step, judged by held-out
#: top-1 on up to 2,000 rows at 2 standard errors). ``FASTER_MAX_CLASSES``: 2,000 (None: any). Lifted
#: in a stop-52 run, above 2,000 it won on gcide-reverse (22,981 classes, +0.27 points of top-1, past the
#: nearest centroid), on dense embeddings of the long tail (15,910, +0.16), on its LSA (+0.03) and at
#: gcide-reverse@min_rows=5 (3,048, +0.23), at 1.2-1.8x the fit, still 0.54-0.74x PLT's except at
#: ``min_rows=5`` (1.56x); where it did not win, 1.19x the fit at 20,000 generated classes and 1.04x at
#: 200,000 (the same model). Where its negatives would not fit in memory, the memory guard drops it alone
#: (:func:`fits_dropping_faster`); but in the 20-set run that followed, the dense LSA stand-in fell 1.53 -> 0.99
#: (two threads): there every pilot chose its beta on 50 held-out rows (docs/benchmarks.rst, "Stop 52", "Stop 56:
#: measured, not kept"). Lifted again in stop 57 with ``FASTER_LL_ROWS``: gcide-reverse 5.94 -> 6.18 % (past
#: the centroid's 5.96) at 2.1x the fit (0.94x PLT's), but on the dense sets the embeddings kept the same model
#: at 1.6x the fit and the LSA stand-in fell 1.52 -> 0.97 % (beta 4 against 16, a near tie of the log-likelihood
#: on 500 rows of about 1.5 % top-1). On dense rows the faster pilot has won on none of the sets measured
#: (at most 2,000 classes neither: the generated hierarchy, z -3.8 or lower), so the limit stays for dense rows
#: (``skxc._validation.mostly_dense``), and ``FASTER_MAX_CLASSES_SPARSE`` (None: any) holds for sparse ones
#: (docs/benchmarks.rst, "Stop 57").
FASTER = (16.0, 8)
FASTER_MAX_CLASSES = 2000
FASTER_MAX_CLASSES_SPARSE = None
#: Where the faster pilot trains and the log-likelihood of the other choices takes fewer held-out rows
#: (:func:`blend_rows`: above ``LL_MAX_SCORES / MAX_ROWS`` = 2,000 classes, so sparse rows only at the
#: defaults), the faster pilot's beta and T are chosen on up to this many (:func:`faster_ll_rows`, at most
#: :func:`accuracy_rows`), and it is compared with the chosen pilot chosen again on them; the chosen pilot's
#: model keeps its own choice where the faster one loses.
FASTER_LL_ROWS = 500
#: The faster pilot of multi-label fits (``learning_rate="auto"``, any number of labels): this factor of the step,
#: with the estimator's own negatives (and its label weighting, "pairs" where that is "auto"). The model trains so
#: when that pilot's held-out mean of precision@1, 3 and 5 beats the chosen pilot's by more than
#: ``MULTILABEL_FASTER_Z`` standard errors of the mean paired (per-row) difference (:func:`weighting_choice`, the
#: test of "rows"). On multi-label topic text (tf-idf, 4,000 and 30,000 labels, ``benchmarks._topic_text``) it won
#: and gave +6.9 and +0.6 points of test P@1 (33.1 -> 40.0, 33.2 -> 33.8; one thread, seed 0); on bibtex, corel5k
#: and delicious the same step lost 8-19 points, and the test (z -9 to -14, seeds 0-2) keeps the estimator's step
#: there (docs/benchmarks.rst, "Stop 56: multi-label tf-idf text with thousands of labels"). Its negatives stay the
#: estimator's: with ``FASTER[1]`` (8) the 4,000-label set reached 43.4 but the model took 2.5 times as long (a
#: multi-label epoch is one example per label of a row). 1: no such pilot.
MULTILABEL_FASTER = 16.0
#: The estimators whose current fit leaves the faster pilot out because its negatives would not fit in memory
#: (:func:`fits_dropping_faster`, ``skxc._fit.initialize``'s ``optional_negatives``): :func:`set_faster_dropped`
#: adds them and takes them out again as their next fit starts; weak references, so a fit-time state that
#: is neither a fitted attribute nor kept alive here.
_FASTER_DROPPED = weakref.WeakSet()
#: The single-label faster pilot wins when its z (above) is more than this: 0, the better mean held-out
#: log-likelihood, as the other pilots are compared (with the top-1 veto below). Until stop 69 it was 1 (one
#: standard error): at ``n_jobs=2``, seeds 0-2, 8 sets, the z of 24 fits fell between 0 and 1 in two, both of seed
#: 0 (gcide-reverse@min_rows=5 +0.95, =10 +0.40), and there the faster settings gave +0.45 and +0.28 points of test
#: top-1 (13.23 against 12.78 %, past uniform noise's 13.14-13.21; 18.99 against 18.71 %, past the nearest
#: centroid's 18.71), at 1.4x and 1.2x the fit; the 22 others chose as before (z -18 to -0.2 or +1.0 to +7.7)
#: (docs/benchmarks.rst, "Stop 70").
FASTER_Z = 0.0
#: The multi-label faster pilot (``MULTILABEL_FASTER``) wins when its precision@k gain is more than this many
#: standard errors (:func:`weighting_choice`): one, as ``ROWS_Z`` (its z was -9 to -14 on bibtex, corel5k and
#: delicious, far above 1 on the topic text; not re-measured at 0).
MULTILABEL_FASTER_Z = 1.0
#: ... and only if its held-out top-1 (at its beta, on the first :func:`accuracy_rows` held-out rows) is not
#: below the chosen pilot's by more than this many standard errors of the mean paired difference of the rows'
#: hits: above 2,000 classes the log-likelihood is that of 50-500 rows (``blend_rows``), and on dense
#: embeddings of the long tail (15,910 classes, seed 2) the faster pilot won there by z +3.1 at beta 64 while
#: its top-1 on 500 rows was 2.4 points below (z -2.3); the model then lost 2.4 points of test top-1
#: (docs/benchmarks.rst, "Stop 52").
FASTER_TOP1_Z = 1.0
#: Pilots of models with at most this many weights (classes x features) train side by side (``side_by_side_pilots``).
SIDE_BY_SIDE_WEIGHTS = 2**22
#: Pilots of a model with more weights than this train with sparse weights on sparse X (:func:`pilot_weights`),
#: unless their epochs touch weights at least 1 / ``DENSE_PILOT_TOUCHES`` times the model's weights.
SPARSE_PILOT_WEIGHTS = 2**22
#: The most model weights per weight touch of a pilot (its epochs' non-zeros times one plus its negatives)
#: for which dense pilot weights pay: a touch of a hashed weight took about twice a dense one's time, and a
#: dense model costs an allocation and a centroid start of all its weights. At 4.1 weights per touch
#: (1,200 classes x 20,000 tf-idf features) dense pilots took half the time of sparse ones; at 6.3 and 15
#: as long (with 100 MiB more memory at 6.3), at 34 longer (docs/benchmarks.rst, "Stop 44: cheaper
#: pilots"). 0: never.
DENSE_PILOT_TOUCHES = 5.0
#: Whether the pilots of a model with sparse weights are dense by the same rule (:func:`touched_enough`) rather
#: than always sparse: where their epochs touch that many of the weights, the model trains in a dense buffer
#: too (``skxc._weights.buffer_wanted``), and a hashed pilot took 1.5 times a dense one's time (multi-label
#: topic text, 4,000 labels x 20,000 words: three pilots 9.4 -> 6.4 s at ``n_jobs=1``; docs/benchmarks.rst,
#: "Stop 56"). False: sparse (stop 55 and before).
DENSE_PILOTS_OF_SPARSE = True
#: Range of the score temperature T: up to ``MAX_TEMPERATURE`` for beta up to 4,096 (the last of the first
#: ``BASE_BETAS``), and in proportion to beta beyond (:func:`max_temperature`), whose term's scores grow with it.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.25, 64.0
#: The Newton steps on 1/T stop when the next would change it by less than this fraction (1 %).
NEWTON_TOL = 1e-2
#: dtype of the exponentials of the choice (and their row sums). With float32 and ``NEWTON_TOL`` (the
#: step that would stop under 1 % is no longer evaluated) a choice took 0.55-0.6x the time of float64 and
#: the last step, with the same beta in all 61 choices of the shared sets' pilots and T within 1 %
#: (docs/benchmarks.rst, "A cheaper choice of beta and T").
SCORE_DTYPE = np.float32


def pilot_epochs(n_epochs: int) -> int:
    """Epochs of the pilot model for a fit of ``n_epochs`` epochs."""
    return min(n_epochs, max(MIN_PILOT_EPOCHS, round(PILOT_FRACTION * n_epochs)))


def blend_rows(n_classes: int) -> int:
    """How many held-out rows the choice scores, for ``n_classes`` classes."""
    return int(np.clip(LL_MAX_SCORES // max(n_classes, 1), MIN_ROWS, MAX_ROWS))


def centroid_scores(X, mu, centre, unit: float) -> np.ndarray:
    """float64 (n, C): ``(x - centre).mu_c / unit`` for every row of X and class c (dense result).

    Sparse X (with sparse ``mu``) is scored feature by feature when that takes at most
    ``FEATURE_MAJOR_SHARE`` of the dense path's products: each row's features times the centroids'
    entries of those features (``mu`` feature-major in float32, as prediction scores sparse weights), far
    less than every class's centroid times every row where the rows have few of many features
    (docs/benchmarks.rst, "Held-out centroid scores feature by feature"). Otherwise sparse X of at most
    ``MAX_DENSE_ROWS`` entries and dense X are read in blocks of about ``DENSE_BLOCK`` entries
    (densified, or centred, one block at a time).
    """
    if sp.issparse(X) and sp.issparse(mu) and centre is None:
        X, mu = sp.csr_matrix(X), sp.csr_matrix(mu)
        per_feature = np.bincount(mu.indices, minlength=mu.shape[1])  # the centroids' entries of each feature
        work = int(per_feature[X.indices].sum())  # products of the feature-major path
        if work <= FEATURE_MAJOR_SHARE * X.shape[0] * (mu.nnz + X.shape[1]):
            mu_indptr, mu_classes, mu_data = by_feature(mu)  # float32, as prediction's index (one kernel signature)
            S = np.zeros((X.shape[0], mu.shape[0]), dtype=np.float64)
            add_feature_major_scores(
                np.ascontiguousarray(X.indptr, dtype=INDPTR), np.ascontiguousarray(X.indices, dtype=INDEX),
                np.ascontiguousarray(X.data, dtype=FLOAT), 0, X.shape[0], mu_indptr, mu_classes, mu_data, S,
            )  # fmt: skip
            S /= unit
            return S
    S = np.empty((X.shape[0], mu.shape[0]), dtype=np.float64)  # row-major: the choice sums along rows
    densify = sp.issparse(X) and centre is None and X.shape[0] * X.shape[1] <= MAX_DENSE_ROWS
    blocks = centre is not None or densify or not sp.issparse(X)  # else sparse X as it is, in one product
    step = max(1, DENSE_BLOCK // max(X.shape[1], 1) if blocks else X.shape[0])
    for start in range(0, X.shape[0], step):
        block = X[start : start + step]
        if centre is not None:
            block = np.asarray(block, dtype=np.float64) - centre
        elif densify:
            block = block.toarray()  # sparse mu times dense rows: much faster than a sparse x sparse product
        part = (mu @ block.T).T if sp.issparse(mu) else block @ mu.T
        S[start : start + step] = part.toarray() if sp.issparse(part) else part
    S /= unit
    return S


def _log_likelihood(A: np.ndarray, truth, a: float, prepared: list | None = None, threads: int = 1):
    """Mean log-likelihood of ``truth`` under softmax(a A) per row, and its first two derivatives in a.

    ``truth``: int (n,) class codes, or a CSR indicator (n, C) of every row's labels (multi-label,
    at least one per row): then the mean is over (row, label) pairs, each the label's log-probability
    under its row's softmax (pick-all-labels). In blocks of rows, so that the temporaries stay about ``MAX_SCORES / 4`` entries.
    The exponentials and their row sums are float32 (``SCORE_DTYPE``), the scores of ``truth`` and the
    means float64: about 1e-7 relative to the float64 result.
    ``prepared``: :func:`_prepared` of A, made once for several a (Newton steps); else the same is
    computed here, one block at a time, on ``threads`` threads (whole blocks each; their sums are added in
    the blocks' order, the same bits as on one).

    Exponents below :func:`_exp_floor` are raised to it: their exponentials would be subnormal numbers,
    which the processor handles far slower than normal ones (a large beta can put many of a row's scores
    there), and each adds less than 1e-37 to a row sum of at least 1.
    """
    n = truth.nnz if sp.issparse(truth) else A.shape[0]
    if prepared is None and threads > 1:
        per = -(-A.shape[0] // (threads * _block_rows(A))) * _block_rows(A)  # rows per thread, whole blocks
        parts = fan_out(
            lambda lo: _block_sums(A[lo : lo + per], truth[lo : lo + per], a), range(0, A.shape[0], per), threads
        )
        sums = [block for part in parts for block in part]
    else:
        sums = _block_sums(A, truth, a, prepared)
    ll = g = h = 0.0
    for block_ll, block_g, block_h in sums:
        ll += block_ll
        g += block_g
        h += block_h
    return ll / n, g / n, h / n


def _block_rows(A: np.ndarray) -> int:
    """Rows per block of :func:`_row_blocks` (about ``MAX_SCORES / 4`` entries)."""
    return max(1, MAX_SCORES // 4 // max(A.shape[1], 1))


def _block_sums(A: np.ndarray, truth, a: float, prepared: list | None = None) -> list:
    """:func:`_log_likelihood`'s sums (log-likelihood, first and second derivative) of each block of rows."""
    sums = []
    with np.errstate(over="ignore", invalid="ignore"):  # scores near float32's limits: non-finite derivatives
        for shifted, own_shifted, E, count in _row_blocks(A, truth) if prepared is None else prepared:
            np.multiply(shifted, E.dtype.type(a), out=E)
            np.maximum(E, _exp_floor(E.dtype), out=E)  # no subnormal exponentials (below)
            np.exp(E, out=E)  # exp(a (A - max)): the largest is 1
            total = E.sum(axis=1).astype(np.float64)
            E *= shifted
            first = E.sum(axis=1) / total  # the mean of A - max under the softmax
            E *= shifted
            second = E.sum(axis=1) / total - first * first
            if count is None:
                terms = (a * own_shifted - np.log(total), own_shifted - first, second)
            else:  # count[i] labels of row i: own_shifted sums their A - max
                terms = (a * own_shifted - count * np.log(total), own_shifted - count * first, count * second)
            sums.append((float(np.sum(terms[0])), float(np.sum(terms[1])), -float(np.sum(terms[2]))))
    return sums


def _exp_floor(dtype) -> np.floating:
    """The smallest exponent of :func:`_log_likelihood`: 1 above the log of ``dtype``'s smallest normal
    number, so that the exponential and its products with the shifted scores (at least 1 in size there, as
    a = 1/T <= 1/``MIN_TEMPERATURE``) stay normal."""
    dtype = np.dtype(dtype)
    return dtype.type(np.log(np.finfo(dtype).tiny) + 1.0)


def _row_blocks(A: np.ndarray, truth, previous: list | None = None):
    """Per block of rows of A (about ``MAX_SCORES / 4`` entries): ``(shifted, own_shifted, E, count)``,
    ``shifted`` the block minus its row maxima (``SCORE_DTYPE``), ``own_shifted`` that of ``truth``'s
    scores (float64; multi-label ``truth`` (CSR): the sum over each row's ``count`` labels; single-label:
    count is None) and E an array for the exponentials (one block in memory at a time).
    ``previous``: see :func:`_prepared`."""
    step = _block_rows(A)
    for i, start in enumerate(range(0, A.shape[0], step)):
        block = A[start : start + step]
        top = block.max(axis=1, keepdims=True)
        count = None
        if sp.issparse(truth):
            labels = truth[start : start + step]
            count = np.diff(labels.indptr).astype(np.float64)
            row_of = np.repeat(np.arange(block.shape[0]), np.diff(labels.indptr))
            own = np.bincount(row_of, weights=block[row_of, labels.indices], minlength=block.shape[0])
            own_shifted = own - count * top[:, 0]
        else:
            own_shifted = block[np.arange(block.shape[0]), truth[start : start + step]] - top[:, 0]
        if previous is None:  # C order: the rows are summed in one order, whatever A's layout
            shifted, E = np.empty(block.shape, dtype=SCORE_DTYPE), np.empty(block.shape, dtype=SCORE_DTYPE)
        else:
            shifted, _, E, _ = previous[i]
        np.subtract(block, top, out=shifted, casting="same_kind")  # in float64, rounded once
        yield shifted, own_shifted, E, count


def _prepared(A: np.ndarray, truth: np.ndarray, previous: list | None = None) -> list:
    """:func:`_row_blocks` of A kept for several a, each block with an array of its own for E.

    E is C-ordered as ``shifted`` is, so each row sum adds the same numbers in the same order as
    without the preparation. ``previous``: the list made for an earlier A of the same shape, whose
    arrays are overwritten (no new large arrays).
    """
    if previous is not None:
        return list(_row_blocks(A, truth, previous))
    prepared, scratch = [], {}  # one array for E per block shape
    for shifted, own_shifted, E, count in _row_blocks(A, truth):
        prepared.append((shifted, own_shifted, scratch.setdefault(shifted.shape, E), count))
    return prepared


def max_temperature(beta: float) -> float:
    """The largest T tried at ``beta``: ``MAX_TEMPERATURE``, times beta / 4,096 beyond 4,096 (the last of the first
    ``BASE_BETAS``; at 65,536 the embedded long tail's best T was above 64: held-out log-likelihood of the test
    rows -11.3 at T 64 against -3.8 at beta 4,096, docs/benchmarks.rst, "Stop 58")."""
    return MAX_TEMPERATURE * max(1.0, float(beta) / float(BETAS[min(BASE_BETAS, BETAS.size) - 1]))


def _newton_inverse_temperature(
    A: np.ndarray,
    truth: np.ndarray,
    a: float,
    previous: list | None = None,
    threads: int = 1,
    largest: float | None = None,
    smallest: float | None = None,
):
    """:func:`best_inverse_temperature`, and the :func:`_prepared` arrays it used (None if none), which
    the next A of the same shape reuses as ``previous``; ``threads``: :func:`_log_likelihood`'s; ``largest``
    and ``smallest``: the largest and smallest T (None: ``MAX_TEMPERATURE``, ``MIN_TEMPERATURE``)."""
    lo = 1.0 / (MAX_TEMPERATURE if largest is None else largest)
    hi = 1.0 / (MIN_TEMPERATURE if smallest is None else smallest)
    a = float(np.clip(a, lo, hi))
    prepared = _prepared(A, truth, previous) if A.size <= MAX_SCORES else None
    ll, g, h = _log_likelihood(A, truth, a, prepared, threads)
    for _ in range(30):
        # in u = log a: dL/du = a g, d2L/du2 = a g + a^2 h
        gu, hu = a * g, a * g + a * a * h
        if not (np.isfinite(gu) and np.isfinite(hu)):  # scores so large that float32 overflowed: keep a
            break
        step = -gu / hu if hu < 0 else np.sign(gu) * 1.0
        step = float(np.clip(step, -2.0, 2.0))
        if abs(step) < NEWTON_TOL or float(np.clip(a * np.exp(step), lo, hi)) == a:
            break  # a is within 1 % of the optimum (or at a bound): the step is not evaluated
        while True:
            a_new = float(np.clip(a * np.exp(step), lo, hi))
            ll_new, g_new, h_new = _log_likelihood(A, truth, a_new, prepared, threads)
            if ll_new >= ll or abs(step) < 1e-4:
                break
            step /= 2.0
        if ll_new < ll:
            break
        a, ll, g, h = a_new, ll_new, g_new, h_new
    return a, ll, prepared


def best_inverse_temperature(
    A: np.ndarray, truth: np.ndarray, a: float = 1.0, largest: float | None = None, smallest: float | None = None
) -> tuple[float, float]:
    """``(a, log-likelihood)`` with a = 1/T maximising the mean log-likelihood of softmax(a A).

    Newton steps in log a from ``a`` (a stays in [1/``largest``, 1/``smallest``]; None: ``MAX_TEMPERATURE``,
    ``MIN_TEMPERATURE``),
    halved while they do not improve; stops when the next step would change a by less than
    ``NEWTON_TOL`` (1 %) without evaluating it. When A has at most
    ``MAX_SCORES`` entries, what does not depend on a is computed once for all steps (:func:`_prepared`).
    """
    a, ll, _ = _newton_inverse_temperature(A, truth, a, largest=largest, smallest=smallest)
    return a, ll


def choice_and_best(
    log_proba: np.ndarray,
    S: np.ndarray,
    truth: np.ndarray,
    by_accuracy: bool = True,
    n_ll: int | None = None,
    threads: int = 1,
):
    """``(beta, T, log-likelihood, best log-likelihood)``: the beta and T with the best held-out log-likelihood
    (module docstring), unless ``by_accuracy`` and another beta's held-out top-1 is clearly higher
    (:func:`clearly_more_accurate`); the log-likelihood at that beta and T; the best over the betas tried (each
    at its own T), which is the same unless the top-1 test moved the beta. The betas tried are the first
    ``BASE_BETAS`` of ``BETAS``, then each next one while the last tried has the best log-likelihood so far
    (and any the top-1 test chose beyond them).

    ``log_proba`` float64 (n, C): the pilot's log-probabilities of the held-out
    rows; ``S`` float64 (n, C): their centroid scores; ``truth`` int (n,) their
    class codes, or their CSR label indicator (multi-label, :func:`_log_likelihood`). Single-label:
    the log-likelihood is that of the first :func:`ll_rows` rows, top-1 that of the first
    :func:`accuracy_rows` (the rest are the top-label map's, :func:`scored_rows`). ``n_ll``: the log-likelihood's
    rows instead (single-label; :func:`faster_ll_rows`). ``threads``: the log-likelihood's (:func:`_log_likelihood`;
    the same result on any number).
    """
    single = not sp.issparse(truth)
    n = (ll_rows(log_proba.shape) if n_ll is None else min(n_ll, log_proba.shape[0])) if single else log_proba.shape[0]
    P, Q, t = log_proba[:n], S[:n], truth[:n]
    best = (-np.inf, 0.0, 1.0)
    a, prepared = 1.0, None
    choices = []
    A = np.empty_like(P)  # one array for every beta's scores (the same bits as log_proba + beta * S)

    def try_next():  # the next beta of BETAS; its Newton starts from the previous one's a
        nonlocal a, prepared
        beta = float(BETAS[len(choices)])
        _blended_scores(P, Q, beta, A, threads)
        a, ll, prepared = _newton_inverse_temperature(A, t, a, prepared, threads, max_temperature(beta))
        choices.append((ll, beta, 1.0 / a))

    while len(choices) < BETAS.size and (len(choices) < BASE_BETAS or best[1] == choices[-1][1]):
        try_next()  # beyond the first BASE_BETAS, only while the last beta tried is the best
        if choices[-1][0] > best[0] + 1e-9:
            best = choices[-1]
    if single and by_accuracy and ACCURACY_Z is not None:
        m = accuracy_rows(log_proba.shape[1])  # the rows after those are the top-label map's (map_rows)
        z = accuracy_z(n, min(m, log_proba.shape[0]))
        i = clearly_more_accurate(log_proba[:m], S[:m], truth[:m], BETAS.tolist().index(best[1]), z)
        while i is not None and i >= len(choices):  # the top-1 test went past the log-likelihood's betas
            try_next()
        best = best if i is None else choices[i]
    return best[1], best[2], best[0], max(ll for ll, _, _ in choices)


def _blended_scores(P: np.ndarray, Q: np.ndarray, beta: float, out: np.ndarray, threads: int = 1) -> None:
    """``out = P + beta Q`` (the same bits as ``np.multiply(Q, beta)`` plus P), in row parts on ``threads`` threads."""

    def part(rows):
        np.multiply(Q[rows], beta, out=out[rows])
        out[rows] += P[rows]

    per = -(-P.shape[0] // max(threads, 1))
    fan_out(part, [slice(lo, lo + per) for lo in range(0, P.shape[0], per)], threads)


def ll_rows(shape) -> int:
    """How many of the first held-out rows of (n, C) scores the log-likelihood takes (``blend_rows``)."""
    return min(shape[0], blend_rows(shape[1]))


def accuracy_z(n_ll: int, n_top1: int) -> float:
    """The top-1 test's threshold (:func:`clearly_more_accurate`) where the log-likelihood chose from ``n_ll``
    held-out rows and the test scores ``n_top1``: ``ACCURACY_Z_FEWER_LL_ROWS`` if ``n_ll`` < ``n_top1`` (and it is
    not None), else ``ACCURACY_Z``."""
    if ACCURACY_Z_FEWER_LL_ROWS is not None and n_ll < n_top1:
        return ACCURACY_Z_FEWER_LL_ROWS
    return ACCURACY_Z


def clearly_more_accurate(
    log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray, chosen: int, z: float | None = None
) -> int | None:
    """The index in ``BETAS`` of the beta with the highest held-out top-1 (the smallest of ties) if it beats the
    beta of index ``chosen`` by more than ``z`` (None: ``ACCURACY_Z``) standard errors of the mean paired
    difference of the rows' hits (:func:`top1_hits`). The betas scored are the first ``BASE_BETAS`` (and
    ``chosen``), then each next one while the last scored has the most hits (ties included)."""
    z = ACCURACY_Z if z is None else z
    hits = [top1_hits(log_proba, S, truth, beta) for beta in BETAS[: max(BASE_BETAS, chosen + 1)]]
    counts = [h.sum() for h in hits]
    while len(hits) < BETAS.size and counts[-1] >= max(counts):  # the grid grows while its bound is (one of) the best
        hits.append(top1_hits(log_proba, S, truth, BETAS[len(hits)]))
        counts.append(hits[-1].sum())
    hits = np.stack(hits)
    best = int(np.argmax(hits.mean(axis=1)))
    d = hits[best] - hits[chosen]
    if best == chosen or d.shape[0] < 2:
        return None
    se = d.std(ddof=1) / np.sqrt(d.shape[0])
    return best if d.mean() > z * se and se > 0 else None


def top1_hits(log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray, beta: float) -> np.ndarray:
    """float64 (n,): 1 for each held-out row whose class ``truth`` scores highest under ``log_proba + beta S``
    (the blend's top class at any T), else 0; scored in blocks of rows."""
    hits = np.zeros(log_proba.shape[0])
    step = max(1, MAX_SCORES // max(log_proba.shape[1], 1))
    for lo in range(0, log_proba.shape[0], step):
        P, Q, t = log_proba[lo : lo + step], S[lo : lo + step], truth[lo : lo + step]
        A = np.multiply(Q, beta)
        A += P
        hits[lo : lo + step] = A.argmax(axis=1) == t
    return hits


def blend_term(X, codes, sample_weight, n_classes: int, beta: float, example_row=None, kind: str = COSINE) -> dict:
    """The beta term (centroids of all rows) as the float32 parts :func:`apply_blend_term` adds or takes out.

    The term is ``beta / r (mu_c - mean mu)`` with the centre moved into the
    intercept, as the centroid start writes it (``skxc._start.write_centred``):
    ``"term"`` ``beta / r mu`` (CSR for sparse X, dense otherwise), ``"common"`` ``-beta / r mean mu``
    (every class's weights), ``"bias"`` the intercepts' change for dense X (None for sparse X).
    Multi-label: ``codes`` and ``sample_weight`` per (row, label) example, ``example_row`` their rows.
    ``kind`` ``EUCLIDEAN`` (single-label dense X): the term is ``beta / r^2 (x.T_c + b_c)`` of
    :func:`euclidean_parts` instead, ``"common"`` zero.
    A blended model keeps these parts (``_blend_parts``) so that further training takes the term out
    and adds it back (the estimator's training); they hold about as many numbers as the centroids.
    """
    if kind == EUCLIDEAN:  # single-label dense X: beta / r^2 (x.T_c + b_c), all in the weights and intercepts
        T, b = euclidean_parts(X, codes, n_classes, np.asarray(sample_weight, dtype=np.float64))
        scale = beta / rms_row_norm(X) ** 2
        return {"term": (scale * T).astype(FLOAT), "common": np.zeros(X.shape[1], dtype=FLOAT),
                "bias": (scale * b).astype(FLOAT)}  # fmt: skip
    mu, centre = unit_centroids(X, codes, n_classes, sample_weight, example_row=example_row)
    scale = beta / rms_row_norm(X)
    mean = np.asarray(mu.mean(axis=0)).ravel()
    if sp.issparse(mu):
        term = sp.csr_matrix(sp.csr_matrix(mu * scale), dtype=FLOAT)
        if not term.has_sorted_indices:
            term.sort_indices()
    else:
        term = (scale * mu).astype(FLOAT)
    bias = None if centre is None else (-(scale * (mu @ centre - mean @ centre))).astype(FLOAT)
    return {"term": term, "common": (-scale * mean).astype(FLOAT), "bias": bias}


def apply_blend_term(coef, intercept: np.ndarray, parts: dict, sign: float, coef_sums=None, shared=None):
    """Add (``sign`` 1) or take out (-1) the beta term ``parts`` (:func:`blend_term`); ``(coef, coef_sums, shared)``.

    Dense coef and ``intercept``: in place. Sparse (CSR) coef: a new CSR matrix ``coef + sign term`` with
    ``coef_sums`` (per stored weight, or None) realigned by :func:`blended_sparse`, and ``sign common`` added
    to ``shared`` (the float32 term every class's score gets, ``skxc/_weights.py``; None: zero). The
    intercepts (in place) get ``sign bias`` in either layout: a model fitted on dense X has one, also once
    ``sparsify()`` has made its weights sparse.
    """
    sign = FLOAT(sign)
    term, common = parts["term"], parts["common"]
    if sp.issparse(coef):
        coef, coef_sums = blended_sparse(coef, coef_sums, term if sign > 0 else -term)
        common = sign * common
        shared = common if shared is None else (shared + common).astype(FLOAT)
    else:
        coef += (sign * common)[None, :]
        if sp.issparse(term):
            rows = np.repeat(np.arange(term.shape[0]), np.diff(term.indptr))
            add_entries(coef, rows, term.indices, sign * term.data)
        else:
            coef += sign * term
    if parts["bias"] is not None:
        intercept += sign * parts["bias"]
    return coef, coef_sums, shared


def few_rows(n_rows: int, n_classes: int) -> bool:
    """Whether the data have at most ``MAX_ROWS_PER_CLASS`` rows per class on average (all the pilots, on
    all the fit rows; else :func:`many_rows_blend` for single-label data)."""
    return n_rows <= MAX_ROWS_PER_CLASS * n_classes


def blend_wanted(n_rows: int, n_classes: int, multilabel: bool = False) -> bool:
    """Whether ``centroid_blend="auto"`` chooses a blend: at most ``MAX_ROWS_PER_CLASS`` rows per class, or
    any single-label data with ``MANY_ROWS_PILOTS`` (the pilots then train on a subsample, :func:`pilot_rows`)."""
    return few_rows(n_rows, n_classes) or (MANY_ROWS_PILOTS and not multilabel)


def pilot_rows(fit_rows: np.ndarray, n_classes: int, pilot_rng) -> np.ndarray:
    """The rows the pilots train on: ``fit_rows``, or where those are more than ``MAX_ROWS_PER_CLASS`` per
    class on average, a random subset of that many, at most ``MANY_ROWS_PILOT_ROWS`` (sorted), drawn from
    ``pilot_rng``."""
    if few_rows(fit_rows.shape[0], n_classes):
        return fit_rows
    size = min(int(MAX_ROWS_PER_CLASS * n_classes), MANY_ROWS_PILOT_ROWS)
    return np.sort(pilot_rng.choice(fit_rows, size=size, replace=False))


def gain_z(log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray, rows: np.ndarray) -> float:
    """The paired z of the per-row held-out log-likelihoods ``rows`` (at a chosen beta and T) over those of
    beta = 0 at its own best T: the mean difference over its standard error (the first ``len(rows)`` rows)."""
    n = rows.shape[0]
    log_proba, S, truth = log_proba[:n], S[:n], truth[:n]
    a, _, _ = _newton_inverse_temperature(log_proba, truth, 1.0)
    return paired_z(rows - row_log_likelihoods(log_proba, S, truth, 0.0, 1.0 / a))


def paired_z(d: np.ndarray) -> float:
    """The mean of the per-row differences ``d`` over its standard error (0 where that is 0 or undefined)."""
    se = d.std(ddof=1) / np.sqrt(d.shape[0]) if d.shape[0] > 1 else 0.0
    return float(d.mean() / se) if se > 0 else 0.0


def many_rows_blend(estimator, X, fit_data, truth, S, seed, n_epochs: int) -> tuple[float, float]:
    """``(beta, T)`` for single-label data with more than ``MAX_ROWS_PER_CLASS`` rows per class: one pilot with
    the estimator's settings trained on the subsample ``fit_data`` (:func:`pilot_rows`) chooses them, kept only
    if they beat beta = 0 by ``MANY_ROWS_Z`` (else beta 0 and the pilot's :func:`unblended_temperature`).
    Above ``ALWAYS_PILOT_ROWS`` training rows the pilot trains only if the centroids first beat beta = 0 that
    clearly on top of the tree alone (a weaker model than any trained one, which they help more): on word
    features (ptb-nextword) they do not, and the pilot's time is saved. KeyboardInterrupt if Ctrl-C stopped
    the pilot; a pilot that the memory guard stops is skipped with a UserWarning."""
    gated = X.shape[0] > ALWAYS_PILOT_ROWS
    if gated and _clear_blend(estimator.tree_.predict_log_proba(fit_data[3]), S, truth) is None:
        return 0.0, 1.0
    try:
        pilot = new_pilot(estimator, (estimator.tree_, 1.0, None), X, fit_data, seed, n_epochs, one_thread=False)
        log_proba = pilot_log_proba(pilot, *fit_data)
    except MemoryError as error:
        _warn_no_blend(error)
        return 0.0, 1.0
    if log_proba is None:
        raise KeyboardInterrupt
    if not UNBLENDED_TEMPERATURE:
        return _clear_blend(log_proba, S, truth) or (0.0, 1.0)
    return _clear_blend(log_proba, S, truth) or (0.0, unblended_temperature(log_proba, truth))


def unblended_temperature(log_proba: np.ndarray, truth: np.ndarray) -> float:
    """T of the pilot's own scores (beta 0) with the best log-likelihood on the first :func:`ll_rows` held-out
    rows, kept if it beats T = 1 there by ``MANY_ROWS_Z`` standard errors of the mean paired (per-row)
    difference, else 1: where the blend is not kept, easy data (top-1 near 1) trains scores too small, whose
    probabilities are under-confident at T = 1 (stop 42: held-out log-loss 0.18 at T = 1 against 0.04 at its
    best T, with 150 rows per class)."""
    n = ll_rows(log_proba.shape)
    P, t = log_proba[:n], truth[:n]
    a, _, _ = _newton_inverse_temperature(P, t, 1.0)
    zero = np.zeros_like(P)
    d = row_log_likelihoods(P, zero, t, 0.0, 1.0 / a) - row_log_likelihoods(P, zero, t, 0.0, 1.0)
    return float(1.0 / a) if paired_z(d) > MANY_ROWS_Z else 1.0


def _clear_blend(log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray) -> tuple[float, float] | None:
    """``(beta, T)`` chosen on top of ``log_proba`` if beta > 0 beats beta = 0 by ``MANY_ROWS_Z``, else None."""
    beta, temperature, _, rows, _, _, _ = pilot_choice(log_proba, S, truth, by_accuracy=False)
    if beta == 0.0 or gain_z(log_proba, S, truth, rows) <= MANY_ROWS_Z:
        return None
    return beta, temperature


def blend_bytes(estimator, X, sparse_model: bool | None = None, multilabel: bool = False) -> int:
    """Bytes the choice of ``centroid_blend="auto"`` holds at its peak beside the model (an estimate on the safe
    side): the held-out rows' float64 centroid scores (:func:`map_rows` rows x classes), and the larger of the
    centroids they are computed from (dense X: two float64 classes x features arrays for a moment and, for
    single-label rows, the Euclidean rule's scores beside the cosine ones; sparse X: at most its entries) and what
    the pilots that train at once (side by side, up to the threads and, where it trains, the uniform pilot in the
    background, at most 4; else one) hold:
    their weights, dense or sparse as :func:`pilot_weights` chooses (sparse: bounded for the negatives of the
    faster pilot where it trains), each one's own centroid start of dense X (as the memory guard counts it)
    and log-probabilities of the held-out rows (as large as the scores), and the choice's temporaries
    (``MAX_SCORES`` float64); and where the faster pilot's comparison takes more rows (:func:`faster_ll_rows`),
    every pilot's log-probabilities, kept until then."""
    n_classes, n_features = len(estimator.classes_), X.shape[1]
    threads = n_threads(estimator.n_jobs)
    at_once = 1
    if threads > 1 and side_by_side_pilots(estimator, X, sparse_model, multilabel=multilabel):
        at_once = min(threads, 4)
        if not multilabel and uniform_in_background(estimator, X, sparse_model):  # and the uniform pilot
            at_once = min(threads + 1, 4)
        at_once = min(at_once, n_pilots(estimator, X, multilabel))
    scores = map_rows(n_classes) * n_classes * 8
    centroids = 12 * X.nnz if sp.issparse(X) else 2 * n_classes * n_features * 8
    if not multilabel and EUCLIDEAN_Z is not None and mostly_dense(X):  # the Euclidean rule's scores beside
        centroids += scores
    full = adagrad_kind(estimator.adagrad, estimator.noise) == "full"
    if pilot_weights(estimator, X, sparse_model) == "sparse":
        per_pilot = estimated_sparse_bytes(pilot_stored_bound(estimator, X, multilabel), full)
    else:
        per_pilot = dense_pilot_bytes(estimator, X)
    if not sp.issparse(X) and estimator.init == "centroid":  # the pilot's start (held-out rows of the fit rows)
        per_pilot += dense_start_bytes(n_classes, n_features, MAX_SCALE_ROWS)
    kept = 0  # the pilots' log-probabilities, kept for the faster pilot's comparison (faster_ll_rows)
    if not multilabel and few_rows(X.shape[0], n_classes) and faster_pilot_wanted(estimator, X):
        if faster_ll_rows(n_classes) > blend_rows(n_classes):
            kept = n_pilots(estimator, X) * scores
    return int(scores + max(centroids, at_once * (per_pilot + scores) + MAX_SCORES * 8 + kept))


def pilot_stored_bound(estimator, X, multilabel: bool = False) -> int:
    """The memory guard's bound on a sparse pilot's stored weights (``skxc._fit.stored_weights_bound`` over all
    of X's rows, at most classes x features), for the most negatives per example a pilot draws: the faster
    pilot's ``FASTER[1]`` where it trains (single-label data with few rows per class), else the estimator's.
    Single-label pilots train on few rows per class (all the fit rows, or a subsample of :func:`pilot_rows`):
    their negatives add weights on frequent features only (``skxc._weights.negative_insert_mask``) for
    :func:`pilot_epochs` epochs, and the bound counts those alone."""
    n_classes = len(estimator.classes_)
    faster = not multilabel and few_rows(X.shape[0], n_classes) and faster_pilot_wanted(estimator, X)
    n_negatives = max(estimator.n_negatives_, FASTER[1] if faster else 0)
    masked = ()
    if not multilabel and sp.issparse(X):
        masked = (n_classes, pilot_epochs(resolve_max_iter(estimator.max_iter, X.shape[0])))
    return min(stored_weights_bound(X, X.shape[0], n_negatives, *masked), n_classes * X.shape[1])


def n_pilots(estimator, X, multilabel: bool = False) -> int:
    """How many pilots :func:`chosen_for` trains at most (the uniform one included), from the settings alone
    (the tree need not be fitted yet): the memory guard's count of pilots at once is at most this."""
    if multilabel:
        return 1 + int(estimator.label_weighting == "auto") + int(multilabel_faster_wanted(estimator))
    if not few_rows(X.shape[0], len(estimator.classes_)):
        return 1  # many_rows_blend
    alternatives = int(estimator.noise == "adversarial" and estimator.tree_temperature == "auto")
    alternatives += int(estimator.learning_rate == "auto" and SLOWER != 1.0)
    own = 0 if alternatives == 2 and not OWN_PILOT_WITH_BOTH else 1
    return own + alternatives + int(faster_pilot_wanted(estimator, X)) + int(uniform_pilot_wanted(estimator))


def blend_fits(estimator, X, sparse_model: bool | None = None, model_bytes: int = 0, multilabel: bool = False) -> bool:
    """Whether :func:`blend_bytes` (plus ``model_bytes`` not yet allocated) fits in ``MEMORY_HEADROOM`` of the
    available memory (True if unknown)."""
    avail = available_memory_bytes()
    need = model_bytes + blend_bytes(estimator, X, sparse_model, multilabel)
    return avail is None or need <= MEMORY_HEADROOM * avail


def fits_dropping_faster(
    estimator, X, sparse_model: bool | None = None, model_bytes: int = 0, multilabel: bool = False
) -> bool:
    """:func:`blend_fits`; where the blend does not fit with the faster pilot, that pilot is dropped
    (:func:`set_faster_dropped`, :func:`faster_pilot_wanted`) and the blend fits if it does without it: the
    other pilots train rather than none."""
    if blend_fits(estimator, X, sparse_model, model_bytes, multilabel):
        return True
    if multilabel or not faster_pilot_wanted(estimator, X):
        return False
    set_faster_dropped(estimator, True)
    return blend_fits(estimator, X, sparse_model, model_bytes, multilabel)


def set_faster_dropped(estimator, dropped: bool) -> None:
    """Leave the faster pilot out of ``estimator``'s current fit (``dropped``), or let its next fit have it
    (:func:`faster_pilot_wanted`)."""
    if dropped:
        _FASTER_DROPPED.add(estimator)
    else:
        _FASTER_DROPPED.discard(estimator)


def _warn_no_blend(error: MemoryError) -> None:
    """The UserWarning for a pilot that the memory guard stopped."""
    warn_user(
        f"centroid_blend='auto' skipped the centroid blend: its pilot models would not fit in memory "
        f"({error}). Set centroid_blend=0 to skip it without this warning.",
        UserWarning,
    )


def scored_rows(codes, fit_rows, held_rows, n_classes: int, rng, by_accuracy: bool = False):
    """The held-out rows the choice scores: those whose class has a row in ``fit_rows`` (neither the
    pilot nor the centroids know the others' classes), at most ``blend_rows(n_classes)``, sorted;
    None when fewer than ``MIN_ROWS`` remain. ``by_accuracy`` (the choice may go by top-1,
    ``ACCURACY_Z``; the few-rows pilots): :func:`accuracy_rows` if more, those of the log-likelihood first
    (the same rows as without it), then the others, then up to :func:`map_rows` for the top-label map, each
    part sorted."""
    known = np.zeros(n_classes, dtype=bool)
    known[codes[fit_rows]] = True
    held = held_rows[known[codes[held_rows]]]
    if held.size < MIN_ROWS:
        return None
    order = rng.permutation(held)
    n = blend_rows(n_classes)
    more = accuracy_rows(n_classes) if by_accuracy else n
    most = map_rows(n_classes) if by_accuracy else n
    return np.concatenate([np.sort(order[:n]), np.sort(order[n:more]), np.sort(order[more:most])])


def accuracy_rows(n_classes: int) -> int:
    """How many of the first held-out rows the choice of beta by top-1 scores (:func:`clearly_more_accurate`):
    ``ACCURACY_ROWS`` within ``ACCURACY_MAX_SCORES`` scores, never fewer than :func:`blend_rows`."""
    n = blend_rows(n_classes)
    if ACCURACY_Z is None:
        return n
    return max(n, min(ACCURACY_ROWS, ACCURACY_MAX_SCORES // max(n_classes, 1)))


def map_rows(n_classes: int) -> int:
    """How many held-out rows the top-label map scores (all the scored rows): ``TOP_LABEL_ROWS`` within
    ``TOP_LABEL_MAX_SCORES`` scores, never fewer than :func:`accuracy_rows`."""
    more = accuracy_rows(n_classes)
    if not TOP_LABEL:
        return more
    return max(more, min(TOP_LABEL_ROWS, TOP_LABEL_MAX_SCORES // max(n_classes, 1)))


def row_log_likelihoods(log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray, beta: float, temperature: float):
    """Each held-out row's log-probability of its class ``truth`` (int codes) under softmax((log_proba + beta S) / T)."""
    A = log_proba + beta * S
    A /= temperature
    top = A.max(axis=1)
    own = A[np.arange(A.shape[0]), truth]
    A -= top[:, None]  # in place: the same bits as exp(A - top), without two more arrays of A's size
    np.exp(A, out=A)
    return own - (np.log(A.sum(axis=1)) + top)


def pilot_choice(
    log_proba: np.ndarray, S: np.ndarray, truth, by_accuracy: bool = True, n_ll: int | None = None, threads: int = 1
):
    """``(beta, T, log-likelihood, per-row log-likelihoods, top-label map, per-row hits, best log-likelihood)``
    of :func:`choice_and_best`; the per-row log-likelihoods are those of :func:`row_log_likelihoods` at the
    chosen beta and T of the first :func:`ll_rows` rows (single-label ``truth``), else None; the map is
    :func:`top_label_map`'s for single-label ``truth`` and ``by_accuracy`` (the few-rows pilots), else None (the
    identity); the hits are :func:`top1_hits` at the chosen beta of the first :func:`accuracy_rows` rows
    (single-label ``truth`` and ``by_accuracy``), else None. ``n_ll``: the log-likelihood's rows instead of
    :func:`ll_rows` (:func:`choice_and_best`; :func:`faster_ll_rows`), and ``threads`` its threads."""
    beta, temperature, ll, best_ll = choice_and_best(log_proba, S, truth, by_accuracy, n_ll, threads)
    if sp.issparse(truth):
        return beta, temperature, ll, None, None, None, best_ll
    n = ll_rows(log_proba.shape) if n_ll is None else min(n_ll, log_proba.shape[0])
    rows = row_log_likelihoods(log_proba[:n], S[:n], truth[:n], beta, temperature)
    top_map = hits = None
    if by_accuracy:
        top_map = top_label_map(log_proba, S, truth, beta, temperature)
        m = accuracy_rows(log_proba.shape[1])
        hits = top1_hits(log_proba[:m], S[:m], truth[:m], beta)
    return beta, temperature, ll, rows, top_map, hits, best_ll


def top_log_odds(log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray, beta: float, temperature: float):
    """``(odds, tie, hit)``: each held-out row's log-odds of its top class under softmax((log_proba + beta S) /
    T) (inf where every other class's probability underflows), the log-odds at which the top class would tie
    with the second (the floor of the map, ``skxc._predict.top_log_odds_mapped``), and whether the top class
    is the row's ``truth``; scored in blocks of rows."""
    n, n_classes = log_proba.shape
    odds, tie, hit = np.empty(n), np.empty(n), np.empty(n, dtype=bool)
    step = max(1, MAX_SCORES // max(n_classes, 1))
    for lo in range(0, n, step):
        A = log_proba[lo : lo + step] + beta * S[lo : lo + step]
        A /= temperature
        A -= A.max(axis=1, keepdims=True)
        np.exp(A, out=A)
        top, rest, second = top_and_rest(A)  # as prediction finds them
        with np.errstate(divide="ignore", invalid="ignore"):
            odds[lo : lo + step] = -np.log(rest)
            tie[lo : lo + step] = np.log(second) - np.log(rest)
        hit[lo : lo + step] = top == truth[lo : lo + step]
    return odds, tie, hit


def top_label_gains(odds: np.ndarray, tie: np.ndarray, hit: np.ndarray, top_map: tuple[float, float]) -> np.ndarray:
    """Each row's change in the log-probability of its true class when ``top_map`` maps the top class's
    log-odds ``odds`` as prediction does (never below ``tie`` + ``TOP_MARGIN``): log sigmoid of the new over
    the old log-odds where the top class is the true one (``hit``), else of minus them (the other classes
    share 1 - p_top in their proportions)."""
    slope, offset = top_map
    z = np.maximum(slope * odds + offset, tie + TOP_MARGIN)
    return np.where(hit, log_expit(z) - log_expit(odds), log_expit(-z) - log_expit(-odds))


def cross_fitted_z(odds: np.ndarray, tie: np.ndarray, hit: np.ndarray) -> float:
    """The z of the held-out log-likelihood's gain from the top-label map, cross-fitted: the rows in two halves
    (alternating), each scored (:func:`top_label_gains`) with the map fitted on the other; the mean per-row
    gain over its standard error (0 if that is 0)."""
    half = np.arange(odds.shape[0]) % 2 == 0
    gains = np.empty(odds.shape[0])
    for scored, fitted in ((half, ~half), (~half, half)):
        top_map = fit_top_label(odds[fitted], hit[fitted])
        gains[scored] = top_label_gains(odds[scored], tie[scored], hit[scored], top_map)
    se = gains.std(ddof=1) / np.sqrt(gains.shape[0])
    return float(gains.mean() / se) if se > 0 else 0.0


def fit_top_label(odds: np.ndarray, hit: np.ndarray, ridge: float = TOP_LABEL_RIDGE) -> tuple[float, float]:
    """``(slope, offset)``: Platt scaling of the top class, the logistic regression of ``hit`` on the log-odds
    ``odds`` (rows with finite odds), with ``ridge`` / 2 times the squared distance to the identity (1, 0)
    added to the summed log-loss (convex; scipy's L-BFGS-B from the identity). The slope is then clipped to
    ``TOP_LABEL_SLOPES``."""
    keep = np.isfinite(odds)
    z, y = odds[keep], hit[keep].astype(np.float64)
    identity = np.array(IDENTITY_MAP)

    def objective(w):  # and its gradient
        u = w[0] * z + w[1]
        residual = expit(u) - y
        loss = np.sum(np.logaddexp(0.0, u) - y * u) + 0.5 * ridge * np.sum((w - identity) ** 2)
        return loss, np.array([np.dot(residual, z), np.sum(residual)]) + ridge * (w - identity)

    w = minimize(objective, identity, jac=True, method="L-BFGS-B", options={"gtol": 1e-9}).x
    return float(np.clip(w[0], *TOP_LABEL_SLOPES)), float(w[1])


def top_label_map(
    log_proba: np.ndarray, S: np.ndarray, truth: np.ndarray, beta: float, temperature: float, tested: bool = True
):  # fmt: skip
    """``(slope, offset)`` of the top-label calibration (:func:`fit_top_label` on :func:`top_log_odds` of all
    the scored held-out rows with finite log-odds) if its cross-fitted gain passes ``TOP_LABEL_Z``
    (:func:`cross_fitted_z`; ``tested`` False: a map passed it already, on another pilot's rows), else None
    (the identity); None too without ``TOP_LABEL`` or with 2 classes (whose probabilities keep the order of
    ``decision_function``'s log-odds)."""
    if not TOP_LABEL or log_proba.shape[1] < 3:
        return None
    odds, tie, hit = top_log_odds(log_proba, S, truth, beta, temperature)
    finite = np.isfinite(odds)  # rows whose other classes all underflow: the map leaves them as they are
    odds, tie, hit = odds[finite], tie[finite], hit[finite]
    if odds.shape[0] < 4 or (tested and cross_fitted_z(odds, tie, hit) <= TOP_LABEL_Z):
        return None
    return fit_top_label(odds, hit)


def uniform_wins(uniform: np.ndarray, tree: np.ndarray) -> bool:
    """Whether the uniform-noise pilot's per-row held-out log-likelihoods ``uniform`` beat the best tree pilot's
    ``tree`` (the same rows) by a one-sided paired z-test at ``UNIFORM_Z``: the paper's noise stays unless
    uniform noise is clearly better on held-out rows."""
    d = uniform - tree
    return bool(d.mean() > UNIFORM_Z * d.std(ddof=1) / np.sqrt(d.shape[0]))


def faster_pilot_wanted(estimator, X) -> bool:
    """Whether a single-label model's pilots on rows X include the faster one (``FASTER``): only where both the
    learning rate and the number of negatives are "auto" (the pilots choose for them), at most
    ``FASTER_MAX_CLASSES`` classes for dense X (``skxc._validation.mostly_dense``) or
    ``FASTER_MAX_CLASSES_SPARSE`` for sparse X, and unless the memory guard dropped it for this fit
    (:func:`set_faster_dropped`: the model with its negatives, or the pilots with it, would not fit;
    :func:`fits_dropping_faster`)."""
    limit = FASTER_MAX_CLASSES if mostly_dense(X) else FASTER_MAX_CLASSES_SPARSE
    return (
        estimator.learning_rate == "auto"
        and estimator.n_negatives == "auto"
        and (limit is None or len(estimator.classes_) <= limit)
        and estimator not in _FASTER_DROPPED
    )


def multilabel_faster_wanted(estimator) -> bool:
    """Whether a multi-label model's pilots include the faster one (``MULTILABEL_FASTER``): only where the
    learning rate is "auto" (the pilots choose it)."""
    return estimator.learning_rate == "auto" and MULTILABEL_FASTER != 1.0


def faster_wins(faster: np.ndarray, chosen: np.ndarray, faster_hits=None, chosen_hits=None) -> bool:
    """Whether the faster pilot's per-row held-out log-likelihoods ``faster`` (:func:`pilot_choice`, each pilot
    at its own beta and T) beat the chosen pilot's ``chosen`` (the same rows) by more than ``FASTER_Z`` standard
    errors of the mean paired difference (0: a higher mean), and, where given, its per-row held-out hits
    ``faster_hits`` (top-1 at its beta, :func:`top1_hits`) are not below the chosen pilot's ``chosen_hits`` (the
    same rows) by more than ``FASTER_TOP1_Z`` standard errors."""
    if paired_z(faster - chosen) <= FASTER_Z:
        return False
    return faster_hits is None or chosen_hits is None or paired_z(faster_hits - chosen_hits) >= -FASTER_TOP1_Z


def faster_ll_rows(n_classes: int) -> int:
    """How many of the first held-out rows the faster pilot's choice of beta and T and its comparison with the
    chosen pilot (:func:`faster_wins`) take: ``FASTER_LL_ROWS`` within :func:`accuracy_rows`, never fewer than
    :func:`blend_rows`."""
    return max(blend_rows(n_classes), min(FASTER_LL_ROWS, accuracy_rows(n_classes)))


def chosen_blend(pilot, X_fit, y_fit, w_fit, X_held, truth, S) -> tuple | None:
    """``(beta, T, log-likelihood, per-row log-likelihoods, top-label map)`` (:func:`pilot_choice`) chosen on
    the held-out rows ``X_held`` with ``pilot`` trained on ``X_fit``.

    ``pilot`` is an unfitted classifier set up to use a fitted tree as is; it is fitted
    here on ``X_fit`` (labels ``y_fit``, weights ``w_fit``). ``truth`` holds the held-out
    rows' class codes and ``S`` their centroid scores (:func:`centroid_scores`, centroids
    of the fit rows). None if the pilot's training was interrupted (``pilot.interrupted_``).
    """
    log_proba = pilot_log_proba(pilot, X_fit, y_fit, w_fit, X_held)
    return None if log_proba is None else pilot_choice(log_proba, S, truth)


def pilot_log_proba(pilot, X_fit, y_fit, w_fit, X_held) -> np.ndarray | None:
    """The first half of :func:`chosen_blend`: ``pilot`` fitted, its log-probabilities of ``X_held``
    (None if its training was interrupted)."""
    pilot.fit(X_fit, y_fit, sample_weight=w_fit)
    if getattr(pilot, "interrupted_", False):
        return None
    # the pilot's classes are the tree's (all of them), in the same order as the estimator's
    return in_two_parts(pilot.predict_log_proba, X_held, accuracy_rows(len(pilot.classes_)))


def in_two_parts(fn, X_held, n: int) -> np.ndarray:
    """``fn(X_held)`` with its first ``n`` rows (the choice of beta's, :func:`scored_rows`) computed apart from
    the rest (the top-label map's): dense rows are scored by BLAS in blocks whose rounding can depend on the
    block's rows, and the choice of beta and T then sees the bits it would see without the map's rows."""
    if X_held.shape[0] <= n:
        return fn(X_held)
    return np.concatenate([fn(X_held[:n]), fn(X_held[n:])])


def blended_sparse(coef: sp.csr_matrix, coef_sums, mu_scaled: sp.csr_matrix):
    """``(coef + mu_scaled, sums)`` for sparse weights: ``sums`` (the full Adagrad state's per-weight sums,
    aligned with ``coef.data``, or None) realigned with the result's entries (new entries start at 0).

    One merge of the two sorted patterns (``skxc._kernels.hashed.union_sum``); float32, as the sum of
    the two matrices' entries in float32 would be.
    """
    coef, mu = sp.csr_matrix(coef), sp.csr_matrix(mu_scaled, dtype=FLOAT)
    if not mu.has_sorted_indices:
        mu = mu.sorted_indices()  # a copy: the caller's matrix may share its index arrays
    full = coef_sums is not None
    a_acc = np.asarray(coef_sums, dtype=FLOAT) if full else np.zeros(0, dtype=FLOAT)
    if not coef.has_sorted_indices:  # sorted with its sums (to_csr gives sorted rows: not on fit's path)
        order = np.lexsort((coef.indices, np.repeat(np.arange(coef.shape[0]), np.diff(coef.indptr))))
        coef = sp.csr_matrix((coef.data[order], coef.indices[order], coef.indptr), shape=coef.shape)
        a_acc = a_acc[order] if full else a_acc
    indptr = np.empty(coef.shape[0] + 1, dtype=np.int64)
    union_counts(coef.indptr, coef.indices, mu.indptr, mu.indices, indptr)
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(coef.shape[1], nnz) < 2**31 else np.int64
    indices, data = np.empty(nnz, dtype=index_dtype), np.empty(nnz, dtype=FLOAT)
    sums = np.empty(nnz if full else 0, dtype=FLOAT)
    union_sum(coef.indptr, coef.indices, coef.data.astype(FLOAT, copy=False), a_acc, mu.indptr, mu.indices, mu.data,
              indptr, indices, data, sums)  # fmt: skip
    out = sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=coef.shape, copy=False)
    out.has_sorted_indices = True
    return out, (sums if full else None)


def pilot_weights(estimator, X, sparse_model: bool | None = None) -> str:
    """The pilot's weight layout: sparse if the model's are or, for sparse X that is not mostly dense
    (``skxc._validation.mostly_dense``), if the model has more than ``SPARSE_PILOT_WEIGHTS`` weights and the
    pilots' epochs touch too few of them for dense ones to pay (:func:`touched_enough`); else dense. A
    short pilot on sparse rows touches few of a large model's weights: a dense coef_ would cost more to
    allocate and start (the centroid start writes every weight) than the pilot's epochs, and double the
    memory; where its epochs touch many, hashed weights cost more. The layout depends on the shapes only
    (not on the memory available), so a fit's pilots, and with ``n_jobs=1`` its model, are the same on
    every machine. Sparse and dense pilots train the same model but for the negatives' insert mask of
    sparse weights on few rows per class (``skxc._weights.negative_insert_mask``: a negative adds no
    weight on a rare feature) and the order in which scores are summed: the settings they choose agree,
    the temperature to about 1e-3 (docs/benchmarks.rst, "Stop 44: cheaper pilots"). ``sparse_model``:
    whether the model's weights are sparse (None: its ``coef_``)."""
    if sp.issparse(estimator.coef_) if sparse_model is None else sparse_model:
        dense = DENSE_PILOTS_OF_SPARSE and not mostly_dense(X) and touched_enough(estimator, X)
        return "dense" if dense else "sparse"
    if mostly_dense(X) or len(estimator.classes_) * X.shape[1] <= SPARSE_PILOT_WEIGHTS:
        return "dense"
    return "dense" if touched_enough(estimator, X) else "sparse"


def pilot_touches(estimator, X) -> int:
    """The weight touches of a pilot's epochs on all of X's rows (the few-rows pilots train on 90 % of them):
    ``MIN_PILOT_EPOCHS`` times X's non-zeros times one plus ``n_negatives_`` (multi-label: times
    ``label_cardinality_``, one example per label of a row)."""
    nnz = X.nnz if sp.issparse(X) else X.size
    examples = float(getattr(estimator, "label_cardinality_", 1.0))  # a multi-label model's alone
    return int(MIN_PILOT_EPOCHS * int(nnz) * examples * (1 + int(estimator.n_negatives_)))


def touched_enough(estimator, X) -> bool:
    """Whether dense pilot weights pay for the model of ``estimator`` on sparse X (:func:`pilot_weights`): the
    pilots train on most rows (few rows per class, :func:`few_rows`; the many-rows pilot trains on a
    subsample) and the model has at most ``DENSE_PILOT_TOUCHES`` weights per touch of a pilot
    (:func:`pilot_touches`). Their memory is the blend's (:func:`blend_bytes`, :func:`blend_fits`): there,
    up to ``DENSE_PILOT_TOUCHES`` weights per touch, dense pilots take less than the guard counts for
    sparse ones."""
    n_classes = len(estimator.classes_)
    if not few_rows(X.shape[0], n_classes):
        return False
    return n_classes * X.shape[1] <= DENSE_PILOT_TOUCHES * pilot_touches(estimator, X)


def dense_pilots_fit(estimator, X, n_pilots: int = 2) -> bool:
    """Whether ``n_pilots`` dense pilots fit in ``MEMORY_HEADROOM`` of the available memory at once (True if
    unknown): :func:`side_by_side_pilots` for the dense pilots of :func:`touched_enough`."""
    avail = available_memory_bytes()
    return avail is None or n_pilots * dense_pilot_bytes(estimator, X) <= MEMORY_HEADROOM * avail


def dense_pilot_bytes(estimator, X) -> int:
    """One dense pilot's weights, intercepts and Adagrad state (the memory guard's count of :func:`blend_bytes`)."""
    n_classes, n_features = len(estimator.classes_), X.shape[1]
    full = adagrad_kind(estimator.adagrad, estimator.noise) == "full"
    return n_classes * (n_features + 1) * 4 * (2 if full else 1) + (n_classes + n_features + 1) * 8


def uniform_noise(classes, n_features: int):
    """The uniform noise distribution over ``classes`` as a tree with no features (``n_components_`` 0)."""
    return AuxiliaryTree.unconditional(classes, np.ones(len(classes)), n_features)


def flatter_tree(tree):
    """A copy of the fitted AuxiliaryTree ``tree`` at half its temperature (its arrays tempered by 1/2),
    or None if that would leave [1/32, 1] or the tree does not depend on x."""
    if tree.n_components_ == 0 or tree.temperature_ * FLATTER < MIN_TREE_TEMPERATURE:
        return None
    return tempered_tree(tree, FLATTER)


def tempered_tree(tree, factor: float):
    """A copy of the fitted AuxiliaryTree ``tree`` at ``factor`` times its temperature (its arrays tempered)."""
    flat = copy.copy(tree)
    flat.node_weight_, flat.node_bias_ = tempered(tree.node_weight_, tree.node_bias_, factor)
    flat.temperature_ = tree.temperature_ * factor
    return flat


def budget_tree(tree, n_epochs: int):
    """The tree the model trains with at a budget of ``n_epochs``: beyond ``BUDGET_EPOCHS`` epochs (None: never) a copy
    at ``BUDGET_EPOCHS / n_epochs`` times its temperature (not below ``MIN_TREE_TEMPERATURE``), else ``tree``."""
    if BUDGET_EPOCHS is None or n_epochs <= BUDGET_EPOCHS or tree.n_components_ == 0:
        return tree
    factor = max(BUDGET_EPOCHS / n_epochs, MIN_TREE_TEMPERATURE / tree.temperature_)
    return tree if factor >= 1.0 else tempered_tree(tree, factor)


def _held_labels(Y: sp.csr_matrix, fit_rows, held_rows, n_classes: int, rng):
    """Multi-label :func:`scored_rows`: ``(held, truth)``, the held-out rows with at least one label that a
    row of ``fit_rows`` has, and their CSR indicator of those labels; None when fewer than ``MIN_ROWS`` remain."""
    known = np.zeros(n_classes, dtype=bool)
    known[Y[fit_rows].indices] = True
    truth = sp.csr_matrix(Y[held_rows].multiply(known[None, :]), dtype=np.int8)
    truth.eliminate_zeros()
    held = held_rows[np.diff(truth.indptr) > 0]
    if held.size < MIN_ROWS:
        return None
    held = np.sort(rng.permutation(held)[: blend_rows(n_classes)])
    return held, truth[np.searchsorted(held_rows, held)]


def multilabel_pilot_data(estimator, X, rows, fit_rows, held_rows, rng):
    """Multi-label :func:`held_out_scores` and the pilots' training rows: ``(fit_data, truth, S)`` with
    ``fit_data = (X_fit, Y_fit, w_fit, X_held)`` (the fit rows' label indicator and row weights), ``truth``
    the scored held-out rows' labels (:func:`_held_labels`) and ``S`` their centroid scores against the
    label centroids of the fit rows; None when too few held-out rows can be scored."""
    n_classes = len(estimator.classes_)
    codes, weight = rows.codes, rows.sample_weight.astype(np.float64)
    Y = label_indicator(rows, n_classes)
    n_rows = Y.shape[0]
    chosen = _held_labels(Y, fit_rows, held_rows, n_classes, rng)
    if chosen is None:
        return None
    held, truth = chosen
    row_weight = np.ones(n_rows)
    row_weight[rows.example_row] = weight  # every example carries its row's weight; rows without labels: 1
    fit_pairs = pairs_of_rows(rows.example_row, n_rows, held_rows)[0]  # the examples of the fit rows
    mu, centre = unit_centroids(X, codes, n_classes, weight, rows=fit_pairs, example_row=rows.example_row)
    X_held = X[held]
    S = centroid_scores(X_held, mu, centre, rms_row_norm(X))
    return (X[fit_rows], Y[fit_rows], row_weight[fit_rows], X_held), truth, S


def ranked_rows(rows, held_rows: np.ndarray, seed: int, n_classes: int):
    """``(held, Y_held)``: the held-out rows with labels whose precision@k compares the multi-label pilots
    (:func:`weighting_choice`), at most :func:`map_rows` of them (a random subset drawn with ``seed``, the
    pilots' own, so the pilots' and the model's draws stay as they are), sorted, and their CSR label
    indicator (every label, also those no fit row has)."""
    held = held_rows[np.diff(rows.label_indptr)[held_rows] > 0]
    n = map_rows(n_classes)
    if held.shape[0] > n:
        held = np.sort(np.random.default_rng(seed).permutation(held)[:n])
    return held, label_indicator(rows, n_classes)[held]


def label_indicator(rows, n_classes: int) -> sp.csr_matrix:
    """The int8 CSR label indicator (rows x labels) of multi-label training ``rows`` (their ``label_indptr`` and
    ``label_indices``)."""
    n_rows = rows.label_indptr.shape[0] - 1
    ones = np.ones(rows.label_indices.shape[0], dtype=np.int8)
    return sp.csr_matrix((ones, rows.label_indices, rows.label_indptr), shape=(n_rows, n_classes))


def precision_gains(top_rows: np.ndarray, top_pairs: np.ndarray, Y_held: sp.csr_matrix) -> np.ndarray:
    """Per held-out row, the mean of precision@1, 3 and 5 (k at most the number of labels) of the top labels
    ``top_rows`` minus that of ``top_pairs`` (int arrays (n, k), most probable first)."""

    def mean_precision(top):
        hits = np.asarray(Y_held[np.arange(top.shape[0])[:, None], top].todense(), dtype=np.float64)
        ks = [k for k in (1, 3, 5) if k <= top.shape[1]]
        return np.mean([hits[:, :k].mean(axis=1) for k in ks], axis=0)

    return mean_precision(top_rows) - mean_precision(top_pairs)


def rows_win(gains: np.ndarray) -> bool:
    """Whether the "rows" pilot's per-row gains in mean precision@k (:func:`precision_gains`) are positive by
    more than ``ROWS_Z`` standard errors of their mean: the pick-all-labels reduction stays unless the
    held-out rows say otherwise by more than their noise."""
    return passes(gains, ROWS_Z)


def passes(gains: np.ndarray, z: float) -> bool:
    """Whether the per-row ``gains`` of one multi-label pilot over another (:func:`precision_gains`) are positive
    by more than ``z`` standard errors of their mean (False with fewer than 2 rows)."""
    if gains.shape[0] < 2:
        return False
    return bool(gains.mean() > z * gains.std(ddof=1) / np.sqrt(gains.shape[0]))


def weighting_choice(estimator, X, fit_data, truth, S, ranked, seed: int, n_epochs: int) -> tuple:
    """:func:`chosen_for` for multi-label data with ``label_weighting="auto"`` or the faster pilot
    (:func:`multilabel_faster_wanted`): a pilot with the estimator's weighting ("pairs" where it is "auto",
    the one pilot of a multi-label fit otherwise, the same model), with "auto" one with "rows", and with
    the faster pilot one with ``MULTILABEL_FASTER`` times the step (and the first one's weighting) train on
    the fit rows (side by side, one thread each, with ``n_jobs`` > 1 and :func:`side_by_side_pilots`, the
    faster one first), each chooses its blend (:func:`chosen_blend`). The "rows" pilot's wins over the first
    where :func:`rows_win` says so on the ``ranked`` rows (:func:`ranked_rows`), and then the faster pilot's
    over that one by the same test at ``MULTILABEL_FASTER_Z``. ``(beta, T, tree, lr_factor, None, weighting, None)``. A
    pilot that the memory guard stops is passed over; the first one stopped so leaves no blend (a
    UserWarning), as :func:`chosen_for` does."""
    tree = estimator.tree_
    held, Y_held = ranked
    k = min(5, len(estimator.classes_))
    own = estimator.label_weighting_  # "auto": "pairs", or "rows" where the rows carry many labels
    candidates = [(own, 1.0)]
    if estimator.label_weighting == "auto" and own == "pairs":
        candidates.append(("rows", 1.0))
    if multilabel_faster_wanted(estimator):
        candidates.append((own, MULTILABEL_FASTER))
    X_ranked = X[held]  # the rows every pilot ranks the labels of
    threads = n_threads(estimator.n_jobs)
    side_by_side = threads > 1 and side_by_side_pilots(estimator, X, multilabel=True)
    config = get_config()

    def run(candidate):
        weighting, lr_factor = candidate
        with config_context(**config):
            try:
                pilot = new_pilot(
                    estimator, (tree, lr_factor, None), X, fit_data, seed, n_epochs, side_by_side, weighting=weighting
                )
                chosen = chosen_blend(pilot, *fit_data, truth, S)
                top = None if chosen is None or held.shape[0] == 0 else pilot.predict_top_k(X_ranked, k=k)
                return chosen, top
            except MemoryError as error:  # the pilot's memory guard
                return error, None

    # the faster pilot first, so that the others fill the other thread while it trains (the same cost on
    # two threads as the two others, one after the other); the results in the candidates' order
    order = sorted(range(len(candidates)), key=lambda i: candidates[i][1] == 1.0)
    ran = fan_out(run, [candidates[i] for i in order], 2 if side_by_side else 1)
    results = [None] * len(candidates)
    for i, result in zip(order, ran, strict=True):
        results[i] = result
    for chosen, _ in results:
        if chosen is None:
            raise KeyboardInterrupt
    (first, top_best), *others = results
    if isinstance(first, MemoryError):  # train the model alone
        _warn_no_blend(first)
        return 0.0, 1.0, tree, 1.0, None, own, None
    best, (weighting, lr_factor) = first, candidates[0]
    for candidate, (chosen, top) in zip(candidates[1:], others, strict=True):
        if isinstance(chosen, MemoryError) or top is None or top_best is None:
            continue
        z = ROWS_Z if candidate[1] == 1.0 else MULTILABEL_FASTER_Z
        if passes(precision_gains(top, top_best, Y_held), z):
            best, (weighting, lr_factor), top_best = chosen, candidate, top
    beta, temperature = best[:2]
    return beta, temperature, tree, lr_factor, None, weighting, None


def side_by_side_pilots(
    estimator, X, sparse_model: bool | None = None, n_pilots: int = 2, multilabel: bool = False
) -> bool:
    """Whether the pilots train side by side, one thread each (with ``n_jobs`` > 1): for a model of at most
    ``SIDE_BY_SIDE_WEIGHTS`` weights, or with sparse pilot weights when two pilots' tables fit under the
    memory guard together (:func:`sparse_pilots_fit`). Hogwild threads on few weights mostly wait for
    each other's cache lines (the same classes and features), so a small pilot trains about as fast on one
    thread as on two; two sparse pilots on one thread each finished sooner than one after the other on two
    threads above 1,000 classes as well (docs/benchmarks.rst, "Side-by-side sparse pilots"), and their
    tables hold only the weights two epochs on the fit rows touch. Dense pilots of larger models on sparse X,
    dense because their epochs touch enough weights (:func:`touched_enough`), train side by side too where
    ``n_pilots`` of them fit in memory at once (:func:`dense_pilots_fit`); those of dense X train one after
    the other on all threads (and one at a time in memory). ``n_pilots``: the models at once; ``multilabel``: the
    pilots train on (row, label) pairs."""
    n_classes, n_features = len(estimator.classes_), X.shape[1]
    if n_classes * n_features <= SIDE_BY_SIDE_WEIGHTS:
        return True
    if pilot_weights(estimator, X, sparse_model) == "sparse":
        return sparse_pilots_fit(estimator, X, n_pilots, multilabel)
    # dense pilots of sparse X because they pay (touched_enough): side by side where they fit at once
    if not mostly_dense(X) and n_classes * n_features > SPARSE_PILOT_WEIGHTS:
        return dense_pilots_fit(estimator, X, n_pilots)
    return False


def sparse_pilots_fit(estimator, X, n_pilots: int = 2, multilabel: bool = False) -> bool:
    """Whether ``n_pilots`` (two) sparse pilots' tables fit in ``MEMORY_HEADROOM`` of the available memory at once; True if
    unknown. Each table is bounded by :func:`pilot_stored_bound` over all of X's rows (as :func:`blend_bytes`
    counts it): the pilots train on the fit rows (about 80 % of them), so this overestimates, on the safe side."""
    avail = available_memory_bytes()
    if avail is None:
        return True
    n_stored = pilot_stored_bound(estimator, X, multilabel)
    full = adagrad_kind(estimator.adagrad, estimator.noise) == "full"
    return n_pilots * estimated_sparse_bytes(n_stored, full) <= MEMORY_HEADROOM * avail


def euclidean_parts(X, codes, n_classes: int, w, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """``(T, b)``, float64 (n_classes, n_features) and (n_classes,): the Euclidean nearest-class-mean rule as
    linear scores ``x.T_c + b_c``: ``x.m_c - |m_c|^2 / 2`` (minus half the squared distance to the weighted mean
    ``m_c`` of class c's rows, less ``|x|^2 / 2``, the same for every class), with a class without rows (or
    weight) scored as the mean over the classes with rows, and both centred over the classes (a shift of every
    class's score by the same amount, which no softmax sees). Dense X (or CSR of mostly dense rows); ``w``
    float64 per row; only the rows ``rows`` (default all) count."""
    idx = np.arange(codes.shape[0]) if rows is None else np.asarray(rows)
    sums = np.zeros((n_classes, X.shape[1]))
    for part in _blocks(idx.size, X.shape[1]):  # float64 rows a block at a time (a mixed-type product is slow)
        rows_b = idx[part]
        block = X[rows_b]
        block = np.asarray(block.toarray() if sp.issparse(block) else block, dtype=np.float64)
        present, local = np.unique(codes[rows_b], return_inverse=True)  # a product of the block's classes only
        M = sp.csr_matrix((w[rows_b], (local, np.arange(rows_b.size))), shape=(present.size, rows_b.size))
        sums[present] += M @ block
    counts = np.bincount(codes[idx], weights=w[idx], minlength=n_classes)
    has = counts > 0
    m = sums  # in place: the means (a class without weight has zero sums)
    m /= np.where(has, counts, 1.0)[:, None]
    b = -0.5 * np.einsum("ij,ij->i", m, m)
    if has.any() and not has.all():
        rowless = np.flatnonzero(~has)
        m[rowless] = has.astype(np.float64) @ m / np.count_nonzero(has)  # the mean of the classes with rows
        b[rowless] = b[has].mean()
    m -= m.mean(axis=0)
    b -= b.mean()
    return m, b


def euclidean_scores(X, T: np.ndarray, b: np.ndarray, unit: float) -> np.ndarray:
    """float64 (n, C): the Euclidean rule's scores ``(x.T_c + b_c) / unit^2`` (:func:`euclidean_parts`), in the
    units of the cosine scores (:func:`centroid_scores`, whose centroids have length 1 where these have about
    ``unit``)."""
    S = X @ T.T if not sp.issparse(X) else np.asarray(sp.csr_matrix(X) @ T.T)
    S = np.asarray(S, dtype=np.float64)
    S += b[None, :]
    S /= unit * unit
    return S


def euclidean_z(E: np.ndarray, S: np.ndarray, truth: np.ndarray) -> float:
    """The paired z of the Euclidean rule's held-out scores ``E`` over the cosine ones ``S`` (rows x classes, the
    rows' classes ``truth``): each rule alone as a softmax at its own best temperature
    (:func:`best_inverse_temperature`), the mean per-row gain in log-likelihood over its standard error."""
    if S.shape[0] < 2:
        return 0.0
    rows = []
    for A in (S, E):
        # T from 1 / 1,024 to 64 in the scores' units: a rule alone wants a sharper softmax than the blend's T
        a, _ = best_inverse_temperature(A, truth, 16.0, largest=64.0, smallest=1.0 / EUCLIDEAN_SHARPEST)
        rows.append(row_log_likelihoods(0.0, A, truth, a, 1.0))
    return paired_z(rows[1] - rows[0])


def euclidean_wins(E: np.ndarray, S: np.ndarray, truth: np.ndarray) -> bool:
    """Whether the Euclidean rule's held-out scores ``E`` beat the cosine ones ``S`` by more than ``EUCLIDEAN_Z``
    (:func:`euclidean_z`) on the first :func:`ll_rows` rows, or more, up to ``EUCLIDEAN_SCORES`` scores, where
    there are."""
    n = min(S.shape[0], max(ll_rows(S.shape), EUCLIDEAN_SCORES // max(S.shape[1], 1)))
    return euclidean_z(E[:n], S[:n], truth[:n]) > EUCLIDEAN_Z


def held_out_scores(X, codes, weight, split, n_classes: int, pilot_rng):
    """What :func:`chosen_for` needs of the held-out rows before its pilots: ``(seed, held, X_held, S, trained,
    kind)``.

    ``held`` are the scored rows (:func:`scored_rows`, drawn from ``pilot_rng``, the generator the
    pilots' ``seed`` is then drawn from; None: too few, and the rest None too), ``S`` their centroid
    scores against the centroids of the rows the pilots train on (``trained``, the other rows of the
    calibration ``split`` or a subsample of them). ``weight``: float64
    row weights as the training rows hold them (float32). Needs no tree, so :func:`blend_preparation`
    can compute it while the tree is fitted. ``trained``: the rows of ``split`` the pilots train on
    (:func:`pilot_rows`). ``kind``: the centroids' rule of ``S`` and of the blend, ``COSINE``, or on dense rows
    ``EUCLIDEAN`` where its scores alone are clearly more likely on the held-out rows (:func:`euclidean_wins`).
    """
    fit_rows, held_rows = split
    held = scored_rows(codes, fit_rows, held_rows, n_classes, pilot_rng, few_rows(codes.shape[0], n_classes))
    if held is None:
        return None, None, None, None, None, COSINE
    seed = child_seed(pilot_rng)  # the same for every pilot: they differ only in the tree or step size
    trained = pilot_rows(fit_rows, n_classes, pilot_rng)  # draws only where it subsamples (after the seed)
    mu, centre = unit_centroids(X, codes, n_classes, weight, rows=trained)
    X_held = X[held]
    unit = rms_row_norm(X)
    S = in_two_parts(lambda rows: centroid_scores(rows, mu, centre, unit), X_held, accuracy_rows(n_classes))
    mu = None  # one class x feature array at a time (the Euclidean rule's next)
    kind = COSINE
    if EUCLIDEAN_Z is not None and mostly_dense(X):
        T, b = euclidean_parts(X, codes, n_classes, weight, rows=trained)
        # screened on the log-likelihood's rows: the Euclidean rule's scores of the others, and the test on up to
        # EUCLIDEAN_SCORES, only where it is ahead there (the dense embeddings: z -21 on 500 rows)
        n = ll_rows(S.shape)
        if euclidean_z(euclidean_scores(X_held[:n], T, b, unit), S[:n], codes[held[:n]]) > 0:
            E = in_two_parts(lambda rows: euclidean_scores(rows, T, b, unit), X_held, accuracy_rows(n_classes))
            if euclidean_wins(E, S, codes[held]):
                S, kind = E, EUCLIDEAN
    return seed, held, X_held, S, trained, kind


def blend_preparation(estimator, rng, prepared: list, n_epochs: int):
    """A callback for ``skxc._fit.initialize``'s calibration split (None when the blend will train no
    pilots): it starts :func:`held_out_scores` on a background thread and appends the future to
    ``prepared``, for :func:`chosen_for`, so that it runs while the tree is fitted. The pilots'
    generator is spawned from ``rng`` as :func:`chosen_for` would spawn it (spawning draws nothing).
    With ``n_jobs`` > 1 and side-by-side pilots, the uniform-noise pilot (which needs no tree) then
    trains on a thread of its own, and the future of its choice is appended too. Nothing starts where the
    model (``model_bytes``, the memory guard's count) and the blend's work (:func:`blend_bytes`) would not fit
    in memory together (:func:`blend_fits`)."""
    if estimator.centroid_blend != "auto" or estimator.noise is None:
        return None

    def on_split(X, codes, sample_weight, fit_rows, held_rows, sparse_model, model_bytes=0, faster_dropped=False):
        # single-label (the callback's only use); not beside the model's start if both would not fit in memory
        # (chosen_for then computes the scores after it, or skips the blend)
        if faster_dropped:
            set_faster_dropped(estimator, True)
        if blend_wanted(X.shape[0], len(estimator.classes_)) and fits_dropping_faster(
            estimator, X, sparse_model, model_bytes
        ):
            weight = sample_weight.astype(FLOAT).astype(np.float64)  # as the training rows hold it
            n_classes, pilot_rng = len(estimator.classes_), rng.spawn(1)[0]
            scores = in_background(held_out_scores, X, codes, weight, (fit_rows, held_rows), n_classes, pilot_rng)
            prepared.append(scores)
            if uniform_in_background(estimator, X, sparse_model):  # beside the two tree pilots
                args = estimator, X, weight, codes, scores, n_epochs, sparse_model, get_config()
                prepared.append(in_background(_uniform_choice, *args, lane=1))

    return on_split


def _uniform_choice(estimator, X, weight, codes, scores, n_epochs: int, sparse_model: bool, config: dict):
    """The uniform-noise pilot's :func:`chosen_blend` (None if too few held-out rows; a MemoryError if its
    memory guard stopped it), on one thread, once ``scores`` (the future of :func:`held_out_scores`) is done;
    scikit-learn's settings ``config`` (thread-local) of the calling thread go along."""
    seed, held, X_held, S, trained, _ = scores.result()
    if held is None:
        return None
    fit_data = (X[trained], estimator.classes_[codes[trained]], weight[trained])
    candidate = (uniform_noise(estimator.classes_, X.shape[1]), 1.0, None)
    pilot = new_pilot(estimator, candidate, X, (*fit_data, X_held), seed, n_epochs, True, sparse_model)
    with config_context(**config):
        try:
            return chosen_blend(pilot, *fit_data, X_held, codes[held], S)
        except MemoryError as error:  # the pilot's memory guard
            return error


def uniform_in_background(estimator, X, sparse_model) -> bool:
    """Whether a single-label fit's uniform-noise pilot trains in the background (:func:`blend_preparation`),
    beside the two tree pilots, three side by side: it is wanted (:func:`uniform_pilot_wanted`), ``n_jobs`` > 1,
    the pilots run on few rows per class (else one pilot, :func:`many_rows_blend`) and three fit in memory at
    once (:func:`side_by_side_pilots`). The memory guard counts it only then (:func:`blend_bytes`)."""
    return (
        uniform_pilot_wanted(estimator)
        and n_threads(estimator.n_jobs) > 1
        and few_rows(X.shape[0], len(estimator.classes_))
        and side_by_side_pilots(estimator, X, sparse_model, n_pilots=3)
    )


def uniform_pilot_wanted(estimator) -> bool:
    """Whether a single-label model's pilots include uniform noise (``UNIFORM_MAX_CLASSES``)."""
    return (
        estimator.noise == "adversarial"
        and estimator.tree_temperature == "auto"
        and len(estimator.classes_) <= UNIFORM_MAX_CLASSES
    )


def new_pilot(
    estimator, candidate, X, fit_data, seed, n_epochs: int, one_thread: bool, sparse_model=None, weighting=None
):
    """An unfitted pilot of ``estimator``'s settings for ``candidate`` = ``(tree, lr_factor, n_negatives)``:
    ``tree`` frozen as its noise, ``lr_factor`` times its own "auto" learning rate of the fit rows
    ``fit_data`` (unless 1; :func:`pilot_auto_rate`), ``n_negatives`` negatives per example (None: the
    estimator's), ``weighting`` its ``label_weighting`` (multi-label; None: the estimator's).
    It runs all its epochs (``tol=None``): no convergence check, so no ConvergenceWarning about the pilot's
    ``max_iter`` reaches the user."""
    tree, lr_factor, n_negatives = candidate
    pilot = clone(estimator).set_params(
        noise=FrozenEstimator(tree), max_iter=pilot_epochs(n_epochs), centroid_blend=0.0, tol=None,
        early_stopping=False, warm_start=False, verbose=0, random_state=seed,
        weights=pilot_weights(estimator, X, sparse_model), weight_threshold=0.0,
        n_negatives=estimator.n_negatives_ if n_negatives is None else n_negatives,
    )  # fmt: skip
    if one_thread:
        pilot.set_params(n_jobs=1)
    if weighting is not None:
        pilot.set_params(label_weighting=weighting)
    if lr_factor != 1.0:  # the pilot's own "auto" rate (of its rows), times the factor
        pilot.set_params(learning_rate=lr_factor * pilot_auto_rate(fit_data[0], fit_data[1], fit_data[2], weighting))
    return pilot


def pilot_auto_rate(X_fit, y_fit, w_fit, weighting=None) -> float:
    """The "auto" learning rate of a pilot trained on ``X_fit`` (labels ``y_fit``, row weights ``w_fit``), as its
    own fit computes it (``skxc._fit``): single-label (``weighting`` None), that of the rows; multi-label
    (``y_fit`` a CSR label indicator, ``weighting`` "pairs" or "rows"), that of the (row, label) examples, each
    row counted with the summed weight of its examples, over the square root of the label cardinality."""
    if weighting is None:
        return auto_learning_rate(X_fit, w_fit)
    Y = sp.csr_matrix(y_fit)
    counts = np.diff(Y.indptr).astype(np.float64)
    w = np.asarray(w_fit, dtype=np.float64)
    cardinality = label_cardinality(Y, w)
    examples = w * counts if weighting == "pairs" else w * cardinality * (counts > 0)
    return auto_learning_rate(X_fit, examples) / np.sqrt(cardinality)


def chosen_for(estimator, X, rows, split, rng, n_epochs: int, prepared=None):
    """``(beta, T, tree, lr_factor, top_map, weighting, n_negatives)`` of ``estimator.centroid_blend`` for its new
    model; "auto" trains pilots. ``weighting``: "rows" or "pairs" where the multi-label pilots chose
    ``label_weighting`` (:func:`weighting_choice`), else None; ``n_negatives``: the negatives per example the
    faster pilot chose (``FASTER``), else None (the estimator's).

    ``estimator`` is an initialised (tree fitted) classifier, ``rows`` its training
    rows, ``split`` its calibration split (rows of X, or None) and ``n_epochs`` its budget. With
    ``noise="adversarial"`` and ``tree_temperature="auto"`` a pilot tries the tree at half its
    temperature (:func:`flatter_tree`), and with ``learning_rate="auto"`` one tries half the learning
    rate (``SLOWER``); a pilot with the estimator's own settings trains unless both of those do
    (``OWN_PILOT_WITH_BOTH``). The pilot with the best held-out log-likelihood (over all betas,
    ``PILOTS_BY_BEST_LL``) decides, at the beta and T it chose: ``tree`` is its tree (the estimator's own,
    or that flatter copy), ``lr_factor`` its factor of the learning rate (1 or ``SLOWER``). With
    ``tree_temperature="auto"`` and at most ``UNIFORM_MAX_CLASSES`` classes a pilot with uniform noise
    trains too (in the background from the calibration split on, when ``prepared`` holds its future);
    it replaces the tree's choice only if it passes :func:`uniform_wins`, and ``tree`` is then the uniform
    noise (no features). With ``learning_rate="auto"`` and ``n_negatives="auto"``
    (:func:`faster_pilot_wanted`) a pilot with ``FASTER``'s step factor and negatives trains too (with
    the estimator's tree); it replaces the chosen tree pilot only if it passes :func:`faster_wins`, before the
    uniform pilot is compared (``UNIFORM_AFTER_FASTER``; after it, False). Where the uniform pilot wins, one
    with uniform noise at the faster step may train and replace it (``UNIFORM_FASTER``). Multi-label: one pilot,
    with the estimator's settings, trains on the fit rows' labels, and the log-likelihood is that of
    every held-out (row, label) pair (pick-all-labels); with ``label_weighting="auto"`` a second one trains
    with "rows", and with ``learning_rate="auto"`` one with ``MULTILABEL_FASTER`` times the step
    (:func:`weighting_choice`). The pilots draw from a
    generator spawned from ``rng``, so the model's own training draws the same numbers with or
    without them. KeyboardInterrupt if Ctrl-C stopped a pilot. A pilot that the memory guard stops
    (its own model on top of the estimator's) is skipped with a UserWarning. ``prepared``: the futures
    started by :func:`blend_preparation` (:func:`held_out_scores`, and maybe the uniform pilot's choice),
    or empty or None (computed here).
    """
    tree = estimator.tree_
    kind = COSINE  # the centroids' rule: the held-out rows may choose the Euclidean one (held_out_scores)
    if estimator.centroid_blend != "auto":
        return float(estimator.centroid_blend), 1.0, tree, 1.0, None, None, None, kind
    multilabel = rows.example_row.shape[0] > 0
    if estimator.noise is None or split is None or not blend_wanted(X.shape[0], len(estimator.classes_), multilabel):
        return 0.0, 1.0, tree, 1.0, None, None, None, kind
    prepared = prepared or []
    if not prepared and not fits_dropping_faster(estimator, X, multilabel=multilabel):  # the model is allocated
        need = blend_bytes(estimator, X, multilabel=multilabel)
        _warn_no_blend(MemoryError(f"about {gib(need)} GiB for pilots and scores"))
        return 0.0, 1.0, tree, 1.0, None, None, None, kind
    uniform_future = prepared[1] if len(prepared) > 1 else None  # the uniform pilot, trained in the background
    if multilabel:  # computed here (no background preparation), from the rows' label sets
        pilot_rng = rng.spawn(1)[0]
        scored = multilabel_pilot_data(estimator, X, rows, *split, pilot_rng)
        seed = child_seed(pilot_rng)  # the same for every candidate: they differ only in the tree or step size
    else:
        codes, weight = rows.codes, rows.sample_weight.astype(np.float64)
        if prepared:
            seed, held, X_held, S, trained, kind = prepared[0].result()
        else:
            n_classes = len(estimator.classes_)
            seed, held, X_held, S, trained, kind = held_out_scores(X, codes, weight, split, n_classes, rng.spawn(1)[0])
        scored = None  # the rows every pilot trains on and scores, taken once
        if held is not None:
            scored = (X[trained], estimator.classes_[codes[trained]], weight[trained], X_held), codes[held], S
    if scored is None:
        return 0.0, 1.0, tree, 1.0, None, None, None, kind
    fit_data, truth, S = scored
    if multilabel and (estimator.label_weighting == "auto" or multilabel_faster_wanted(estimator)):
        # a pilot with label_weighting="rows", and one with the faster step
        ranked = ranked_rows(rows, split[1], seed, len(estimator.classes_))
        return (*weighting_choice(estimator, X, fit_data, truth, S, ranked, seed, n_epochs), kind)
    if not multilabel and not few_rows(X.shape[0], len(estimator.classes_)):  # a subsample's pilot
        return (*many_rows_blend(estimator, X, fit_data, truth, S, seed, n_epochs), tree, 1.0, None, None, None, kind)
    # (tree, factor of the learning rate, negatives); multi-label: none, they did not pay (module docstring)
    alternatives = []
    if not multilabel and estimator.noise == "adversarial" and estimator.tree_temperature == "auto":
        flat = flatter_tree(tree)
        if flat is not None:
            alternatives.append((flat, 1.0, None))
    if not multilabel and estimator.learning_rate == "auto" and SLOWER != 1.0:
        alternatives.append((tree, SLOWER, None))
    # the estimator's own settings, unless both alternatives train (OWN_PILOT_WITH_BOTH)
    own = [] if len(alternatives) == 2 and not OWN_PILOT_WITH_BOTH else [(tree, 1.0, None)]
    candidates = own + alternatives
    faster = None  # a pilot with FASTER's step and negatives, compared last (faster_wins)
    if not multilabel and faster_pilot_wanted(estimator, X):
        faster = (tree, *FASTER)
        candidates.append(faster)
    uniform_tree = None  # a pilot with uniform noise, compared after the tree's (uniform_wins); maybe in the background
    if not multilabel and uniform_pilot_wanted(estimator):
        uniform_tree = uniform_noise(estimator.classes_, X.shape[1])
        if uniform_future is None:
            candidates.append((uniform_tree, 1.0, None))
    threads = n_threads(estimator.n_jobs)
    side_by_side = threads > 1 and len(candidates) > 1 and side_by_side_pilots(estimator, X)
    # the faster pilot against the chosen one on more held-out rows than the log-likelihood's (faster_ll_rows):
    # its beta and T are chosen on them, and the chosen pilot's again for the comparison (from its log-probabilities,
    # kept until then, as every pilot's)
    n_faster = faster_ll_rows(len(estimator.classes_)) if faster is not None else 0
    wide = min(n_faster, S.shape[0]) > ll_rows(S.shape)
    kept = {}  # id(candidate): its log-probabilities (wide)

    def choice(candidate, log_proba):
        if not wide:
            return pilot_choice(log_proba, S, truth)
        if candidate is faster:
            return pilot_choice(log_proba, S, truth, n_ll=n_faster)
        kept[id(candidate)] = log_proba
        return pilot_choice(log_proba, S, truth)

    def run(candidate, one_thread=False):
        try:
            pilot = new_pilot(estimator, candidate, X, fit_data, seed, n_epochs, one_thread=one_thread)
            if not wide:
                return chosen_blend(pilot, *fit_data, truth, S)
            log_proba = pilot_log_proba(pilot, *fit_data)
            return None if log_proba is None else choice(candidate, log_proba)
        except MemoryError as error:  # the pilot's memory guard
            return error

    if side_by_side:  # one thread each, scikit-learn's settings (thread-local) going along; each pilot's
        # choice of beta and T is a task of its own, so that the threads share it with the last pilot's fit
        config = get_config()

        def fit_pilot(candidate):
            with config_context(**config):
                try:
                    pilot = new_pilot(estimator, candidate, X, fit_data, seed, n_epochs, one_thread=True)
                    return pilot_log_proba(pilot, *fit_data)
                except MemoryError as error:
                    return error

        def choose(candidate, log_proba):
            if log_proba is None or isinstance(log_proba, MemoryError):
                return log_proba
            return choice(candidate, log_proba)

        # the longest pilot (the faster one: 4 times the negatives) first, so that the others fill the other
        # threads while it trains; the results in the candidates' order (each pilot's seed is the same)
        order = sorted(range(len(candidates)), key=lambda i: candidates[i] is not faster)
        ran = fan_out_pipelined(fit_pilot, choose, [candidates[i] for i in order], threads)
        results = [None] * len(candidates)
        for i, result in zip(order, ran, strict=True):
            results[i] = result
    else:
        results = (run(candidate) for candidate in candidates)  # one after the other, each on all threads
    if uniform_future is not None:
        candidates.append((uniform_tree, 1.0, None))
        results = (*results, uniform_future.result())
    best = uniform = fast = None
    k = 6 if PILOTS_BY_BEST_LL else 2  # the best log-likelihood over all betas, or that at the beta chosen
    for candidate, chosen in zip(candidates, results, strict=True):
        if isinstance(chosen, MemoryError):  # train the model alone, or with the best pilot so far
            _warn_no_blend(chosen)
            if best is not None:
                break
            return 0.0, 1.0, tree, 1.0, None, None, None, kind
        if chosen is None:
            raise KeyboardInterrupt
        if candidate is faster:
            fast = (*chosen, candidate)
        elif candidate[0] is uniform_tree:
            uniform = (*chosen, candidate)
        elif best is None or chosen[k] > best[k] + 1e-9:
            best = (*chosen, candidate)
    if UNIFORM_AFTER_FASTER:  # the tree's choice (its step too), then uniform noise against it
        best = _faster_choice(best, fast, wide, kept, S, truth, n_faster, threads)
    n_common = None if uniform is None else min(uniform[3].shape[0], best[3].shape[0])  # the same first rows
    if uniform is not None and uniform_wins(uniform[3][:n_common], best[3][:n_common]):
        best = uniform
        if faster is not None and UNIFORM_FASTER and not wide:  # the faster step with uniform noise (below)
            candidate = (uniform_tree, *FASTER)
            # on one thread where the other pilots trained side by side, so that it chooses as with n_jobs=1
            one_thread = UNIFORM_FASTER_ONE_THREAD and (side_by_side or uniform_future is not None)
            uniform_fast = run(candidate, one_thread=one_thread)
            if uniform_fast is None:
                raise KeyboardInterrupt
            if isinstance(uniform_fast, MemoryError):
                _warn_no_blend(uniform_fast)
            elif faster_wins(uniform_fast[3], best[3], uniform_fast[5], best[5]):
                best = (*uniform_fast, candidate)
    if not UNIFORM_AFTER_FASTER:
        best = _faster_choice(best, fast, wide, kept, S, truth, n_faster, threads)
    kept.clear()
    beta, temperature, _, _, top_map, _, _, (tree, lr_factor, n_negatives) = best
    if estimator.calibration == "full" and n_epochs > pilot_epochs(n_epochs):
        candidate = (tree, lr_factor, n_negatives)
        calibrated = budget_calibration(
            estimator, candidate, X, fit_data, truth, S, seed, n_epochs, beta, temperature, top_map is not None
        )
        if calibrated is not None:
            temperature, top_map = calibrated
    return beta, temperature, tree, lr_factor, top_map, None, n_negatives, kind


def _faster_choice(best: tuple, fast, wide: bool, kept: dict, S, truth, n_faster: int, threads: int) -> tuple:
    """:func:`chosen_for`'s choice ``best`` or the faster pilot's ``fast`` (None: it did not train), by
    :func:`faster_wins`; ``wide``: the faster pilot chose on ``n_faster`` rows, and the chosen pilot's
    log-probabilities ``kept`` (by id of its candidate) choose again on them, on ``threads`` threads (a chosen pilot
    whose log-probabilities are not kept, the uniform pilot trained in the background, stays)."""
    if fast is None:
        return best
    if wide:
        chosen_log_proba = kept.get(id(best[-1]))
        if chosen_log_proba is None:
            return best
        again = pilot_choice(chosen_log_proba, S, truth, n_ll=n_faster, threads=threads)  # the same rows
        return fast if faster_wins(fast[3], again[3], fast[5], again[5]) else best
    return fast if faster_wins(fast[3], best[3], fast[5], best[5]) else best


def budget_calibration(
    estimator, candidate, X, fit_data, truth, S, seed, n_epochs: int, beta: float, temperature, mapped: bool
):  # fmt: skip
    """``(T, top-label map)`` at ``beta`` on the held-out rows of a pilot of ``candidate`` (:func:`new_pilot`)
    trained as the model is, for all ``n_epochs`` and with its ``weights`` and ``weight_threshold``
    (``calibration="full"``): T by the log-likelihood of the first :func:`ll_rows`
    rows (Newton steps from ``temperature``); the map by :func:`top_label_map`, whose test is the 2-epoch
    pilot's where that one's map passed it (``mapped``), so that the new rows do not test it again. None where the
    memory guard stops that pilot (the 2-epoch pilot's stay, with a UserWarning); KeyboardInterrupt if Ctrl-C
    stopped it."""
    try:
        pilot = new_pilot(estimator, candidate, X, fit_data, seed, n_epochs, one_thread=False)
        # trained as the model is, in its weight layout and with its pruning (the dense buffer of sparse weights
        # where the model uses one: text1200b's budget pilot took 3.9 s there against 7.4 s in hashed weights)
        pilot.set_params(max_iter=n_epochs, weights=estimator.weights, weight_threshold=estimator.weight_threshold)
        log_proba = pilot_log_proba(pilot, *fit_data)
    except MemoryError as error:
        warn_user(f"The probabilities keep the 2-epoch pilot's calibration: {error}", UserWarning)
        return None
    if log_proba is None:
        raise KeyboardInterrupt
    n = ll_rows(log_proba.shape)
    a, _ = best_inverse_temperature(log_proba[:n] + beta * S[:n], truth[:n], 1.0 / temperature, max_temperature(beta))
    return 1.0 / a, top_label_map(log_proba, S, truth, beta, 1.0 / a, tested=not mapped)


def blended(coef, intercept: np.ndarray, state: AdagradState, shared, parts: dict, sign: float = 1.0):
    """The model with the beta term ``parts`` (:func:`blend_term`) folded in (``sign`` 1) or taken out (-1):
    ``(coef, state, shared)``.

    ``intercept`` is updated in place; ``coef`` too when dense; sparse ``coef`` gives a new CSR matrix,
    a full Adagrad ``state`` realigned with it and the updated ``shared`` term (:func:`apply_blend_term`).
    """
    full_sums = state.coef_sums if sp.issparse(coef) and state.kind == "full" else None
    coef, sums, shared = apply_blend_term(
        coef if sp.issparse(coef) else writeable(coef), intercept, parts, sign, full_sums, shared
    )
    if sums is not None:
        state = AdagradState(state.kind, sums, state.factor_sums, state.intercept_sums)
    return coef, state, shared
