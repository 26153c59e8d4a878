"""skxc.datasets.load_xmc_file: round trips through the Extreme Classification Repository format, and errors."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
import scipy.sparse as sp

from skxc.datasets import load_xmc_file


def write_xmc(X, Y, *, n_features=None, n_labels=None) -> str:
    """The text of X (sparse features) and Y (indicator) in the repository's format."""
    X, Y = sp.csr_matrix(X), sp.csr_matrix(Y)
    lines = [f"{X.shape[0]} {n_features or X.shape[1]} {n_labels or Y.shape[1]}"]
    for i in range(X.shape[0]):
        labels = ",".join(str(j) for j in Y[i].indices)
        features = " ".join(f"{j}:{float(v)!r}" for j, v in zip(X[i].indices, X[i].data, strict=True))
        lines.append(f"{labels} {features}".rstrip() if labels else f" {features}".rstrip())
    return "\n".join(lines) + "\n"


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = sp.random(30, 50, density=0.1, format="lil", random_state=1, dtype=np.float32)
    Y = sp.lil_matrix((rng.random((30, 20)) < 0.15).astype(np.float32))
    Y[[0, 7, 29]] = 0  # empty label lists, including the last row
    X[3] = 0  # a row with labels but no features
    X, Y = sp.csr_matrix(X), sp.csr_matrix(Y)
    X.eliminate_zeros()
    Y.eliminate_zeros()
    X.data = (rng.normal(size=X.nnz) * 10.0 ** rng.integers(-5, 5, size=X.nnz)).astype(np.float32)
    return X, Y


def assert_same(loaded, X, Y, shape_X=None, shape_Y=None):
    X_loaded, Y_loaded = loaded
    assert sp.issparse(X_loaded) and X_loaded.format == "csr" and X_loaded.dtype == np.float32
    assert sp.issparse(Y_loaded) and Y_loaded.format == "csr" and Y_loaded.dtype == np.float32
    assert X_loaded.shape == (shape_X or X.shape) and Y_loaded.shape == (shape_Y or Y.shape)
    np.testing.assert_array_equal(X_loaded.toarray()[:, : X.shape[1]], X.toarray())
    np.testing.assert_array_equal(Y_loaded.toarray()[:, : Y.shape[1]], Y.toarray())
    assert X_loaded.has_sorted_indices and Y_loaded.has_sorted_indices


def test_round_trip_path_and_file_objects(tmp_path, problem):
    X, Y = problem
    text = write_xmc(X, Y)
    path = tmp_path / "train.txt"
    path.write_text(text)
    assert_same(load_xmc_file(path), X, Y)
    assert_same(load_xmc_file(str(path)), X, Y)
    with open(path) as handle:
        assert_same(load_xmc_file(handle), X, Y)
    with open(path, "rb") as handle:
        assert_same(load_xmc_file(handle), X, Y)
    assert_same(load_xmc_file(io.StringIO(text)), X, Y)
    gz = tmp_path / "train.txt.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write(text)
    with gzip.open(gz, "rb") as handle:
        assert_same(load_xmc_file(handle), X, Y)


def test_header_sizes_larger_than_the_indices_used(problem):
    X, Y = problem
    loaded = load_xmc_file(io.StringIO(write_xmc(X, Y, n_features=80, n_labels=1000)))
    assert_same(loaded, X, Y, shape_X=(30, 80), shape_Y=(30, 1000))


def test_hand_written_file():
    text = "5 4 3\n0,2 0:1.5 3:-2e-3\n 1:0.5\n\n2\r\n1:4 1:1 0:7\n\n\n"
    X, Y = load_xmc_file(io.StringIO(text))
    # Row 1: no labels (leading space); row 2: empty line = no labels, no features; row 3: labels only and CRLF;
    # row 4: features only without a leading space, feature 1 repeated (summed), unsorted; trailing blank lines.
    np.testing.assert_array_equal(
        X.toarray(),
        np.array([[1.5, 0, 0, -2e-3], [0, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [7, 5, 0, 0]], dtype=np.float32),
    )
    np.testing.assert_array_equal(Y.toarray(), [[1, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]])


def test_an_empty_last_row_is_kept():
    X, Y = load_xmc_file(io.StringIO("2 2 2\n0 0:1\n\n"))  # the final newline ends the (empty) last line
    assert X.shape == (2, 2) and Y.shape == (2, 2)
    np.testing.assert_array_equal(Y.toarray(), [[1, 0], [0, 0]])


def test_repeated_labels_count_once():
    X, Y = load_xmc_file(io.StringIO("1 2 3\n2,0,2 1:1\n"))
    np.testing.assert_array_equal(Y.toarray(), [[1, 0, 1]])
    assert Y.nnz == 2


def test_empty_data_set():
    X, Y = load_xmc_file(io.StringIO("0 5 4\n"))
    assert X.shape == (0, 5) and Y.shape == (0, 4)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", r"Line 1: the header must be three non-negative integers 'N D L'.*got ''"),
        ("2 3\n0 0:1\n1 1:1\n", "Line 1: the header must be three"),
        ("2 3 x\n", "Line 1: the header must be three"),
        ("2 -3 4\n", "Line 1: the header must be three"),
        ("3 3 3\n0 0:1\n1 1:1\n", r"header \(line 1\) says N=3 rows, but the file has 2 data lines"),
        ("1 3 3\n0 0:1\n1 1:1\n", r"says N=1 rows, but the file has 2 data lines"),
        ("2 3 3\n0 0:1\n1 1:1\n\n1 1:1\n", "says N=2 rows, but the file has 4"),
        ("2 3 3\n0 0:1\n", "says N=2 rows, but the file has 1"),
        (
            "2 3 3\n0 0:1\n1,3 1:1\n",
            r"Line 3: label index 3 is out of range for the header's L=3 \(indices are 0-based\)",
        ),
        ("2 3 3\n0 0:1\n1 3:1\n", "Line 3: feature index 3 is out of range for the header's D=3"),
        ("2 3 3\n0 0:1\n1, 1:1\n", "Line 3: the label list '1,' is not comma-separated non-negative integers"),
        ("2 3 3\n-1 0:1\n1 1:1\n", "Line 2: the label list '-1'"),
        ("2 3 3\n0 0:1 2\n1 1:1\n", "Line 2: the features are not space-separated 'index:value' pairs"),
        ("2 3 3\n0 0:1\n1 1:1:2\n", "Line 3: the features are not"),
        ("2 3 3\n0 0:1\n1 -1:2\n", "Line 3: the features are not"),
        ("2 3 3\n0 0:1\n1 1:abc\n", "Line 3: feature value 'abc' is not a number"),
        ("2 3 3\n0 0:1\n1 1:1_0\n", "Line 3: feature value '1_0' is not a number"),
        ("2 3 3\n0 0:nan\n1 1:1\n", "Line 2: feature value nan is not a finite number"),
        ("2 3 3\n0 0:1\n1 1:-inf\n", "Line 3: feature value -inf is not a finite number"),
        ("2 3 3\n0 0:1\n1 1:1e39\n", "Line 3: feature value 1e[+]?39 overflows float32"),
    ],
)
def test_malformed_files(text, message):
    with pytest.raises(ValueError, match=message):
        load_xmc_file(io.StringIO(text))


def test_bad_argument_and_encoding(tmp_path):
    with pytest.raises(TypeError, match="f must be a path or a file object; got 3 of type int"):
        load_xmc_file(3)
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"1 2 2\n0 0:1\xe9\n")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        load_xmc_file(path)
    with pytest.raises(FileNotFoundError):
        load_xmc_file(tmp_path / "missing.txt")
