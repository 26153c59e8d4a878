"""Reader for the Extreme Classification Repository's text format (re-exported by :mod:`skxc.datasets`)."""

from __future__ import annotations

import codecs
import os
import re
import warnings

import numpy as np
import scipy.sparse as sp

_LABELS = re.compile(r"[0-9]+(?:,[0-9]+)*")
_FEATURES = re.compile(r"[0-9]+:[^\s:]+(?:\s+[0-9]+:[^\s:]+)*")  # \s: any Unicode whitespace, as str.split()

# Characters (bytes or str) read from the file at a time. The text of one read, its lines and the arrays parsed
# from them are the reader's working memory beyond the result (about seven times this; a longer line is read
# whole); the tests lower it to put line ends at chunk boundaries.
_CHUNK_SIZE = 1 << 20

_INT32_MAX = int(np.iinfo(np.int32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_EXACT_FLOAT = 2**53  # float64 holds every integer up to here


def load_xmc_file(f):
    """Load a data set in the text format of the Extreme Classification Repository.

    The format (Bhatia et al., The Extreme Classification Repository) is a
    header line ``N D L`` (numbers of rows, features and labels), then one
    line per row::

        l1,l2,... f:v f:v ...

    a comma-separated list of label indices (possibly empty: the line then
    starts with a space or holds only features) followed by space-separated
    ``feature:value`` pairs. Label and feature indices are 0-based, as in the
    repository's files, and are read as exact integers. Any whitespace
    separates the fields, as for :meth:`str.split`: spaces, tabs, and Unicode
    spaces such as U+00A0 or U+3000. Lines end at ``\\n`` (a ``\\r`` before it
    is whitespace). :func:`sklearn.datasets.load_svmlight_file` rejects this
    format (the header, and rows without labels).

    The file is read about a million characters at a time: beyond the
    returned matrices, the memory used is about half their size (while they
    are assembled) plus about 10 MiB (more if a line is longer than a
    million characters), whatever the size of the file. Two rare kinds of
    file are read pair by pair in Python, many times slower, with the same
    result: a header ``D`` above ``2**53`` (feature indices that float64
    cannot hold exactly) and fields separated by the control characters
    ``\\x1c``-``\\x1f`` (which NumPy's parser does not take as whitespace).

    Parameters
    ----------
    f : str, path-like or file object
        File to read; a file object (read with ``f.read(size)``) may be
        opened in text or binary mode (binary is decoded as UTF-8). A byte order mark at the start is
        skipped. Compressed files must be opened by the
        caller (e.g. with :func:`gzip.open`).

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (N, D), float32
        Features, with sorted indices; a feature repeated within a row is
        summed (scipy's meaning of duplicate entries). Entries that are zero
        in float32 are not stored: a value written as ``0``, one too small
        for float32 (``1e-50``) and repeated features that sum to 0, so
        ``X.nnz`` counts the nonzero features. (This differs from
        :func:`sklearn.datasets.load_svmlight_file`, which stores a written
        ``0`` as an explicit zero.)
    Y : scipy.sparse.csr_matrix of shape (N, L), float32
        Label indicator matrix (entries 1); a label repeated within a row
        counts once. Rows may be empty.

    Raises
    ------
    ValueError
        With the line number (1-based, the header is line 1) when the header
        is not three non-negative integers or ``D`` or ``L`` is above
        ``2**63 - 1`` (int64, scipy's widest index), a line is malformed, an
        index is out of the header's range (reported as written), or a value
        is not a finite float32 number: the first such line of the file.
        Then when the number of data lines differs from ``N`` (a final
        newline ends the last line and does not start an empty row; blank
        lines beyond the ``N`` rows are ignored), and when the repeats of a
        feature in a row sum beyond float32.
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
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as handle:
            return _load(handle)
    if not hasattr(f, "read"):
        raise TypeError(f"f must be a path or a file object; got {f!r} of type {type(f).__name__}.")
    return _load(f)


def _load(handle):
    batches = _line_batches(_text_chunks(handle))
    lines = next(batches, [""])  # an empty file: an empty header line
    n_rows, n_features, n_labels = _parse_header(lines[0])
    del lines[0]
    x_index = np.int32 if max(n_rows, n_features) <= _INT32_MAX else np.int64  # scipy's choice for the shapes
    y_index = np.int32 if max(n_rows, n_labels) <= _INT32_MAX else np.int64

    parts = {"label_counts": [], "labels": [], "feature_counts": [], "features": [], "values": []}
    n_lines = 0  # data lines read so far
    extra_text = False  # a non-blank line after the N rows
    while lines is not None:
        rows = lines[: max(n_rows - n_lines, 0)]
        if rows:
            batch = _parse_batch(rows, n_lines + 2, n_features, n_labels, x_index, y_index)
            for name, array in zip(parts, batch, strict=True):
                parts[name].append(array)
            del batch
        if len(lines) > len(rows):
            extra_text = extra_text or any(line.strip() for line in lines[len(rows) :])
        n_lines += len(lines)
        del lines, rows
        lines = next(batches, None)
    if n_lines < n_rows or (n_lines > n_rows and extra_text):
        raise ValueError(f"The header (line 1) says N={n_rows} rows, but the file has {n_lines} data lines.")

    # Concatenate one array at a time, dropping its pieces, so the pieces and the result coexist at most once.
    label_indptr = _indptr(parts.pop("label_counts"), n_rows)
    feature_indptr = _indptr(parts.pop("feature_counts"), n_rows)
    values = _concatenate(parts.pop("values"), np.float32)
    features = _concatenate(parts.pop("features"), x_index)
    X = sp.csr_matrix((values, features, feature_indptr), shape=(n_rows, n_features))
    del values, features
    X.sum_duplicates()
    if X.data.size and not np.isfinite(X.data).all():  # repeats of a feature whose values sum beyond float32
        position = int(np.flatnonzero(~np.isfinite(X.data))[0])
        row = int(np.searchsorted(X.indptr, position, side="right") - 1)
        raise ValueError(
            f"Line {row + 2}: the values of feature {int(X.indices[position])}, repeated in the line, sum to "
            f"{float(X.data[position])!r} in float32."
        )
    X.eliminate_zeros()
    labels = _concatenate(parts.pop("labels"), y_index)
    Y = sp.csr_matrix((np.ones(labels.size, dtype=np.float32), labels, label_indptr), shape=(n_rows, n_labels))
    del labels
    Y.sum_duplicates()
    Y.data[:] = 1.0
    return X, Y


def _text_chunks(handle):
    """The text of ``handle`` in pieces of about ``_CHUNK_SIZE`` characters, without a leading byte order mark."""
    decoder = None
    n_bytes = 0  # bytes given to the decoder so far
    start = True
    while True:
        content = handle.read(_CHUNK_SIZE)
        if isinstance(content, bytes):
            if decoder is None:
                decoder = codecs.getincrementaldecoder("utf-8")()
            offset = n_bytes - len(decoder.getstate()[0])  # the decoder's pending bytes start its input
            n_bytes += len(content)
            try:
                text = decoder.decode(content, final=not content)
            except UnicodeDecodeError as exc:
                compressed = offset == 0 and content.startswith(b"\x1f\x8b")  # gzip's magic number
                hint = " It looks gzip-compressed: pass gzip.open(path, 'rt')." if compressed else ""
                raise ValueError(
                    f"f is not a UTF-8 text file: {exc.encoding!r} codec can't decode byte "
                    f"0x{exc.object[exc.start]:02x} in position {offset + exc.start}: {exc.reason}.{hint}"
                ) from exc
        elif isinstance(content, str):
            text = content
        else:
            raise TypeError(f"Reading f returned {type(content).__name__}, not text or bytes.")
        if start and text:
            text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark, as some editors write
            start = False
        if text:
            yield text
        if not content:
            return


def _line_batches(chunks):
    """Lists of the complete lines in ``chunks`` (split at ``\\n``; a final ``\\n`` starts no line)."""
    pending = []  # pieces of a line that has not ended yet
    for chunk in chunks:
        cut = chunk.rfind("\n")
        if cut < 0:
            pending.append(chunk)
            continue
        pending.append(chunk[:cut])
        text = "".join(pending)
        pending = [chunk[cut + 1 :]] if cut + 1 < len(chunk) else []
        del chunk
        lines = text.split("\n")
        del text
        yield lines
    if pending:
        yield ["".join(pending)]


def _parse_header(line: str) -> tuple[int, int, int]:
    fields = line.split()
    if len(fields) != 3 or not all(field.isascii() and field.isdigit() for field in fields):
        raise ValueError(
            f"Line 1: the header must be three non-negative integers 'N D L' (rows, features, labels); "
            f"got {line[:80]!r}."
        )
    for name, field in zip("NDL", fields, strict=True):
        if len(field.lstrip("0")) > 19 or int(field) > _INT64_MAX:  # (int() reads at most 4300 digits)
            raise ValueError(
                f"Line 1: the header's {name}={field[:80]} is beyond the sizes scipy's sparse matrices hold (int64: "
                f"at most 2**63 - 1 = {_INT64_MAX})."
            )
    n_rows, n_features, n_labels = (int(field) for field in fields)
    return n_rows, n_features, n_labels


def _split_line(line: str) -> tuple[str, str]:
    """The label list and the features of a data line, each '' if absent."""
    tokens = line.split(None, 1)
    if not tokens:
        return "", ""
    if ":" in tokens[0]:
        return "", line.strip()
    return tokens[0], tokens[1].strip() if len(tokens) > 1 else ""


def _parse_batch(lines: list[str], first_line: int, n_features: int, n_labels: int, x_index, y_index):
    """Per-line label and feature counts, labels, feature indices and values (float32) of ``lines``.

    ``first_line`` is the file's line number of ``lines[0]``; indices come as ``y_index`` and ``x_index``.
    Raises the ValueError of the first line with a defect (one line's defects in a fixed order).
    """
    errors = []  # (line number, order within a line, message)
    label_counts, feature_counts = [], []  # per line
    labels, label_sizes, label_lines = [], [], []  # per line with labels: its list, their number, its line number
    features, feature_sizes, feature_lines = [], [], []
    for i, line in enumerate(lines):
        label_text, feature_text = _split_line(line)
        if label_text and not _LABELS.fullmatch(label_text):
            message = f"the label list {label_text[:80]!r} is not comma-separated non-negative integers."
            errors.append((first_line + i, 0, message))
            break
        if feature_text and not _FEATURES.fullmatch(feature_text):
            message = (
                f"the features are not space-separated 'index:value' pairs with a non-negative integer index: "
                f"{feature_text[:80]!r}."
            )
            errors.append((first_line + i, 0, message))
            break
        n_line_labels = label_text.count(",") + 1 if label_text else 0
        n_line_features = feature_text.count(":")
        label_counts.append(n_line_labels)
        feature_counts.append(n_line_features)
        if label_text:
            labels.append(label_text)
            label_sizes.append(n_line_labels)
            label_lines.append(first_line + i)
        if feature_text:
            features.append(feature_text)
            feature_sizes.append(n_line_features)
            feature_lines.append(first_line + i)

    label_index = _integers(",".join(labels), ",")
    _check_range(errors, "label", label_index, labels, label_sizes, label_lines, n_labels)
    pairs = None
    if features and n_features <= _EXACT_FLOAT:  # then float64 reads every index in range exactly
        text = " ".join(features)
        if not text.isascii():
            text = " ".join(text.split())  # Unicode whitespace as a space, as NumPy reads only ASCII's
        pairs = _floats(text.replace(":", " "), 2 * sum(feature_sizes))
        del text
    if pairs is not None:
        feature_index, values = pairs[0::2], pairs[1::2]
    else:  # values that are not numbers (which one?), separators NumPy does not take (\x1c-\x1f), or D > 2**53
        feature_index, values = _pairs_one_by_one(errors, features, feature_lines)
    _check_range(errors, "feature", feature_index, features, feature_sizes, feature_lines, n_features)
    bad = np.flatnonzero(~(np.abs(values) <= _FLOAT32_MAX))  # nan, infinities and values beyond float32
    if bad.size:
        value = float(values[bad[0]])
        reason = "is not a finite number" if not np.isfinite(value) else "overflows float32"
        line = feature_lines[_part_of(feature_sizes, int(bad[0]))[0]]
        errors.append((line, 4, f"feature value {value!r} {reason}."))
    if errors:
        line, _, message = min(errors)
        raise ValueError(f"Line {line}: {message}")
    return (
        np.array(label_counts, dtype=np.int64),
        label_index.astype(y_index),
        np.array(feature_counts, dtype=np.int64),
        feature_index.astype(x_index),
        values.astype(np.float32),
    )


def _integers(text, sep: str) -> np.ndarray:
    """Non-negative integers of text validated as such (ids beyond int64 read as its maximum)."""
    if len(text) == 0:
        return np.zeros(0, np.int64)
    return np.fromstring(text, dtype=np.int64, sep=sep)


def _floats(text: str, count: int) -> np.ndarray | None:
    """``count`` whitespace-separated numbers, None if there are not exactly these."""
    values = _numbers(text)
    return values if values is not None and values.size == count else None


def _numbers(text: str) -> np.ndarray | None:
    """The whitespace-separated numbers of ``text``, None if any token is not one. Older NumPy (1.26, 2.2) reads a
    token's valid prefix ("1.5abc" as 1.5, "1,5" as 1) with a DeprecationWarning, NumPy 2.4 raises: here
    both are None, on every NumPy."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


def _pairs_one_by_one(errors: list, features: list[str], lines: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The indices (exact int64; above it its maximum) and values of the ``index:value`` pairs of ``features``
    (the lines' validated features) up to the first value that is not a number, which goes to ``errors``."""
    indices, values = [], []
    for part, line in zip(features, lines, strict=True):
        for token in part.split():
            index, value = token.split(":", 1)
            number = _numbers(value)
            if number is None or len(number) != 1:
                errors.append((line, 1, f"feature value {value[:40]!r} is not a number."))
                return np.array(indices, dtype=np.int64), np.array(values, dtype=np.float64)
            index = index.lstrip("0")
            indices.append(min(int(index or "0"), _INT64_MAX) if len(index) <= 19 else _INT64_MAX)
            values.append(number[0])
    return np.array(indices, dtype=np.int64), np.array(values, dtype=np.float64)


def _part_of(sizes: list[int], position: int) -> tuple[int, int]:
    """Which part (a line's labels or features, of ``sizes`` indices each) holds the ``position``-th index, and
    its rank there."""
    ends = np.cumsum(sizes)
    part = int(np.searchsorted(ends, position, side="right"))
    return part, position - int(ends[part] - sizes[part])


def _check_range(errors, name, found, parts, sizes, lines, limit):
    """Note the first index of ``found`` at or above ``limit`` in ``errors``, as written in the file."""
    bad = np.flatnonzero(found >= limit)  # indices beyond int64 come as its maximum, those beyond 2**53 rounded
    if bad.size:
        part, rank = _part_of(sizes, int(bad[0]))
        if name == "label":
            written = parts[part].split(",")[rank]
        else:
            written = parts[part].split()[rank].split(":", 1)[0]
        header_name, order = ("L", 2) if name == "label" else ("D", 3)
        message = f"{name} index {written[:80]} is out of range for the header's {header_name}={limit}"
        errors.append((lines[part], order, message + " (indices are 0-based)."))


def _indptr(counts: list[np.ndarray], n_rows: int) -> np.ndarray:
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    return indptr


def _concatenate(arrays: list[np.ndarray], dtype) -> np.ndarray:
    result = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
    arrays.clear()
    return result
