"""skxc: scikit-learn compatible extreme classification on the CPU.

Softmax classifiers over thousands to millions of classes, trained by
adversarial negative sampling (Bamler & Mandt, ICLR 2020).
"""

from importlib.metadata import PackageNotFoundError, version

from . import metrics  # noqa: F401 - so that `import skxc; skxc.metrics` works
from ._dask import register_dask_tokenize
from ._estimator import AdversarialSoftmaxClassifier
from ._solver import TrainingInterruptedWarning
from ._tree import AuxiliaryTree
from ._validation import ModelMemoryError

try:
    __version__ = version("skxc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0.dev0"

register_dask_tokenize()  # when dask is installed (skxc/_dask.py)
del register_dask_tokenize

__all__ = [
    "AdversarialSoftmaxClassifier",
    "AuxiliaryTree",
    "ModelMemoryError",
    "TrainingInterruptedWarning",
    "__version__",
]
