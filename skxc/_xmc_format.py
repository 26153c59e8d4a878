"""Reader for the Extreme Classification Repository's text format (re-exported by :mod:`skxc.datasets`)."""

from __future__ import annotations

import os
import re

import numpy as np
import scipy.sparse as sp

_LABELS = re.compile(r"[0-9]+(?:,[0-9]+)*")
_FEATURES = re.compile(r"[0-9]+:[^\s:]+(?:\s+[0-9]+:[^\s:]+)*")


def load_xmc_file(f):
    """Load a data set in the text format of the Extreme Classification Repository.

    The format (Bhatia et al., The Extreme Classification Repository) is a
    header line ``N D L`` (numbers of rows, features and labels), then one
    line per row::

        l1,l2,... f:v f:v ...

    a comma-separated list of label indices (possibly empty: the line then
    starts with a space or holds only features) followed by space-separated
    ``feature:value`` pairs. Label and feature indices are 0-based, as in the
    repository's files. :func:`sklearn.datasets.load_svmlight_file` rejects
    this format (the header, and rows without labels).

    Parameters
    ----------
    f : str, path-like or file object
        File to read; a file object may be opened in text or binary mode
        (binary is decoded as UTF-8). A byte order mark at the start is
        skipped. Compressed files must be opened by the
        caller (e.g. with :func:`gzip.open`).

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (N, D), float32
        Features, with sorted indices; a feature repeated within a row is
        summed (scipy's meaning of duplicate entries).
    Y : scipy.sparse.csr_matrix of shape (N, L), float32
        Label indicator matrix (entries 1); a label repeated within a row
        counts once. Rows may be empty.

    Raises
    ------
    ValueError
        With the line number (1-based, the header is line 1) when the header
        is not three non-negative integers, the number of data lines differs
        from ``N``, a line is malformed, an index is out of the header's
        range, or a value is not a finite float32 number. A final newline
        ends the last line (it does not start an empty row); blank lines
        beyond the ``N`` rows are ignored.
    TypeError
        If ``f`` is neither a path nor a file object.

    Examples
    --------
    >>> import io
    >>> from skxc.datasets import load_xmc_file
    >>> X, Y = load_xmc_file(io.StringIO("2 4 3\\n0,2 0:1.5 3:2\\n 1:0.5\\n"))
    >>> X.toarray()
    array([[1.5, 0. , 0. , 2. ],
           [0. , 0.5, 0. , 0. ]], dtype=float32)
    >>> Y.toarray()
    array([[1., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    text = _read_text(f)
    lines = (text[:-1] if text.endswith("\n") else text).split("\n")  # a final newline ends the last line
    n_rows, n_features, n_labels = _parse_header(lines[0])
    body = lines[1:]
    if len(body) > n_rows and not any(line.strip() for line in body[n_rows:]):
        body = body[:n_rows]
    if len(body) != n_rows:
        raise ValueError(f"The header (line 1) says N={n_rows} rows, but the file has {len(body)} data lines.")

    label_parts, feature_parts = [], []
    label_counts = np.zeros(n_rows, dtype=np.int64)
    feature_counts = np.zeros(n_rows, dtype=np.int64)
    for i, line in enumerate(body):
        tokens = line.split(None, 1)
        if not tokens:
            continue
        if ":" in tokens[0]:
            labels, features = "", line.strip()
        else:
            labels, features = tokens[0], tokens[1].strip() if len(tokens) > 1 else ""
        if labels:
            if not _LABELS.fullmatch(labels):
                raise ValueError(
                    f"Line {i + 2}: the label list {labels[:80]!r} is not comma-separated non-negative integers."
                )
            label_parts.append(labels)
            label_counts[i] = labels.count(",") + 1
        if features:
            if not _FEATURES.fullmatch(features):
                raise ValueError(
                    f"Line {i + 2}: the features are not space-separated 'index:value' pairs with a non-negative "
                    f"integer index: {features[:80]!r}."
                )
            feature_parts.append(features)
            feature_counts[i] = features.count(":")

    label_indptr = np.concatenate([[0], np.cumsum(label_counts)])
    feature_indptr = np.concatenate([[0], np.cumsum(feature_counts)])
    labels = np.fromstring(",".join(label_parts), dtype=np.int64, sep=",") if label_parts else np.zeros(0, np.int64)
    try:
        pairs = np.fromstring(" ".join(feature_parts).replace(":", " "), dtype=np.float64, sep=" ")
    except ValueError:
        pairs = None
    if pairs is None or pairs.size != 2 * feature_indptr[-1]:
        _raise_bad_value(body, feature_counts)
    feature_index, values = pairs[0::2], pairs[1::2]

    def check(name, found, indptr, limit, header_name):
        if found.size == 0:
            return
        bad = np.flatnonzero(found >= limit)
        if bad.size:
            row = int(np.searchsorted(indptr, bad[0], side="right") - 1)
            raise ValueError(
                f"Line {row + 2}: {name} index {int(found[bad[0]])} is out of range for the header's "
                f"{header_name}={limit} (indices are 0-based)."
            )

    check("label", labels, label_indptr, n_labels, "L")
    check("feature", feature_index, feature_indptr, n_features, "D")
    finite = np.isfinite(values)
    if not finite.all():
        position = int(np.flatnonzero(~finite)[0])
        row = int(np.searchsorted(feature_indptr, position, side="right") - 1)
        raise ValueError(f"Line {row + 2}: feature value {float(values[position])!r} is not a finite number.")
    if np.any(np.abs(values) > np.finfo(np.float32).max):
        position = int(np.flatnonzero(np.abs(values) > np.finfo(np.float32).max)[0])
        row = int(np.searchsorted(feature_indptr, position, side="right") - 1)
        raise ValueError(f"Line {row + 2}: feature value {float(values[position])!r} overflows float32.")

    X = sp.csr_matrix(
        (values.astype(np.float32), feature_index.astype(np.int64), feature_indptr), shape=(n_rows, n_features)
    )
    X.sum_duplicates()
    Y = sp.csr_matrix(
        (np.ones(labels.size, dtype=np.float32), labels, label_indptr), shape=(n_rows, n_labels), dtype=np.float32
    )
    Y.sum_duplicates()
    Y.data[:] = 1.0
    return X, Y


def _read_text(f) -> str:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as handle:
            content = handle.read()
    elif hasattr(f, "read"):
        content = f.read()
    else:
        raise TypeError(f"f must be a path or a file object; got {f!r} of type {type(f).__name__}.")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"f is not a UTF-8 text file: {exc}.") from exc
    if not isinstance(content, str):
        raise TypeError(f"Reading f returned {type(content).__name__}, not text or bytes.")
    return content.removeprefix("\ufeff")  # a UTF-8 byte order mark, as some editors write


def _parse_header(line: str) -> tuple[int, int, int]:
    fields = line.split()
    if len(fields) != 3 or not all(field.isascii() and field.isdigit() for field in fields):
        raise ValueError(
            f"Line 1: the header must be three non-negative integers 'N D L' (rows, features, labels); "
            f"got {line[:80]!r}."
        )
    return int(fields[0]), int(fields[1]), int(fields[2])


def _raise_bad_value(body: list[str], feature_counts: np.ndarray) -> None:
    """Find the first feature value that does not parse as a number and raise a ValueError naming its line."""
    for i in np.flatnonzero(feature_counts):
        for token in body[i].split():
            if ":" in token:
                value = token.split(":", 1)[1]
                try:
                    ok = np.fromstring(value, dtype=np.float64, sep=" ").size == 1
                except ValueError:
                    ok = False
                if not ok:
                    raise ValueError(f"Line {i + 2}: feature value {value[:40]!r} is not a number.")
    raise ValueError("The feature values could not be parsed.")  # pragma: no cover - every failure is located above
