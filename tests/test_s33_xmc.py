"""Stop 33: load_xmc_file reads in chunks (memory, line numbers across chunk boundaries), takes any whitespace
between fields, reads indices as exact integers and reports them as written, and stores no zeros."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

import skxc._xmc_format as xmc_format
from skxc.datasets import load_xmc_file

CHUNK_SIZES = [1, 2, 3, 7, 64, 1 << 20]


def load(text, *, binary=False):
    return load_xmc_file(io.BytesIO(text.encode("utf-8")) if binary else io.StringIO(text))


def assert_same(loaded, expected):
    for got, want in zip(loaded, expected, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype == np.float32
        assert got.has_sorted_indices
        assert_array_equal(got.indptr, want.indptr)
        assert_array_equal(got.indices, want.indices)
        assert_array_equal(got.data, want.data)


HAND_WRITTEN = (
    "\ufeff6 5 4\r\n0,2 0:1.5\u00a03:-2e-3\r\n 1:0.5\u3000\u30004:7\n\n3\u2003\t0:4 0:1\n1:2 2:1e2\n1,1\n\n  \n"
)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_chunk_size_does_not_change_the_matrices(monkeypatch, chunk_size, binary):
    monkeypatch.setattr(xmc_format, "_CHUNK_SIZE", chunk_size)
    X, Y = load(HAND_WRITTEN, binary=binary)
    np.testing.assert_array_equal(
        X.toarray(),
        np.array(
            [[1.5, 0, 0, -2e-3, 0], [0, 0.5, 0, 0, 7], [0, 0, 0, 0, 0], [5, 0, 0, 0, 0], [0, 2, 100, 0, 0], [0] * 5],
            dtype=np.float32,
        ),
    )
    np.testing.assert_array_equal(Y.toarray(), [[1, 0, 1, 0], [0] * 4, [0] * 4, [0, 0, 0, 1], [0] * 4, [0, 1, 0, 0]])


def defective_file(line: int, defect: str, n_rows: int = 30) -> str:
    """A file of n_rows rows whose line ``line`` (header = line 1) has ``defect`` in place of its features."""
    rows = [f"{i % 3},{(i + 1) % 3} {i % 5}:{i}.25 4:1e-3" for i in range(n_rows)]
    rows[line - 2] = f"1 {defect}"
    return f"{n_rows} 5 3\n" + "\n".join(rows) + "\n"


DEFECTS = [
    ("0:1 2", "the features are not space-separated 'index:value' pairs"),
    ("0:abc", "feature value 'abc' is not a number"),
    ("5:1", "feature index 5 is out of range for the header's D=5"),
    ("0:nan", "feature value nan is not a finite number"),
    ("0:1e39", "feature value 1e[+]?39 overflows float32"),
]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_line_numbers_across_chunk_boundaries(monkeypatch, chunk_size, binary):
    monkeypatch.setattr(xmc_format, "_CHUNK_SIZE", chunk_size)
    for line in (2, 13, 31):
        for defect, message in DEFECTS:
            with pytest.raises(ValueError, match=rf"^Line {line}: {message}"):
                load(defective_file(line, defect), binary=binary)
        text = defective_file(line, "0:1").replace("\n1 0:1\n", "\n7,3 0:1\n")
        with pytest.raises(ValueError, match=rf"^Line {line}: label index 7 is out of range for the header's L=3"):
            load(text, binary=binary)
    with pytest.raises(ValueError, match="says N=31 rows, but the file has 30 data lines"):
        load("31" + defective_file(2, "0:1")[2:], binary=binary)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_the_first_defective_line_is_reported(monkeypatch, chunk_size):
    monkeypatch.setattr(xmc_format, "_CHUNK_SIZE", chunk_size)
    rows = [f"{i % 3} {i % 5}:1" for i in range(30)]
    rows[20] = "1 0:1 2"  # line 22: malformed
    rows[15] = "1 0:abc"  # line 17: not a number
    rows[9] = "1 4:nan"  # line 11: not finite
    rows[6] = "1 9:1"  # line 8: feature out of range
    text = "30 5 3\n" + "\n".join(rows) + "\n"
    with pytest.raises(ValueError, match="^Line 8: feature index 9 is out of range"):
        load(text)
    rows[3] = "3 0:1"  # line 5: label out of range
    with pytest.raises(ValueError, match="^Line 5: label index 3 is out of range"):
        load("30 5 3\n" + "\n".join(rows) + "\n")


def test_utf8_error_position_counts_from_the_start_of_the_file(monkeypatch):
    monkeypatch.setattr(xmc_format, "_CHUNK_SIZE", 16)
    data = b"3 4 2\n0 0:1 1:2 2:3 3:4\n1 0:1\xe9\n\n"
    assert data.index(b"\xe9") == 29  # in the second chunk
    with pytest.raises(ValueError, match=r"not a UTF-8 text file: 'utf-8' codec can't decode byte 0xe9 in position 29"):
        load_xmc_file(io.BytesIO(data))
    with pytest.raises(ValueError, match="can't decode byte 0xe2 in position 12: unexpected end of data"):
        load_xmc_file(io.BytesIO(b"1 4 2\n0 0:1 " + "\u2003".encode()[:2]))


SPACES = ["\u00a0", "\u2003", "\u3000", "\u0085", "\u2028", "\x1c", "\x1f", "\x0b", "\x0c", "\t"]


@pytest.mark.parametrize("space", SPACES, ids=[f"U+{ord(s):04X}" for s in SPACES])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_any_whitespace_separates_the_fields(space, binary):
    expected = load("3 3 2\n0 0:1\n1 1:1 2:-3\n0 0:1 1:2\n")
    text = f"3 3 2\n0{space}0:1\n{space}1{space}1:1{space}{space}2:-3{space}\n0 0:1{space}1:2\n"
    assert_same(load(text, binary=binary), expected)
    # The header, too, as str.split() reads it.
    assert_same(load(text.replace("3 3 2", f"3{space}3 2"), binary=binary), expected)


def test_a_non_ascii_value_is_still_not_a_number():
    with pytest.raises(ValueError, match="^Line 3: feature value '\u0661' is not a number"):
        load("2 3 2\n0 0:1\u00a01:2\n0 0:1\u00a01:\u0661\n")


def test_indices_above_2_to_the_53_are_exact():
    D = 2**53 + 10
    X, Y = load(f"2 {D} 2\n0 {2**53 + 3}:2 {2**53 + 1}:1 0007:5\n1 {2**53 + 1}:4\n")
    assert X.shape == (2, D) and X.indices.dtype == np.int64
    assert_array_equal(X.indptr, [0, 3, 4])
    assert_array_equal(X.indices, [7, 2**53 + 1, 2**53 + 3, 2**53 + 1])
    assert_array_equal(X.data, [5, 1, 2, 4])
    with pytest.raises(
        ValueError, match=rf"^Line 3: feature index {2**53 + 10} is out of range for the header's D={D}"
    ):
        load(f"2 {D} 2\n0 {2**53 + 3}:2\n1 {2**53 + 9}:1 {2**53 + 10}:1\n")
    # Below 2**53, an index past it is out of range and reported as written, not rounded to 2**53.
    with pytest.raises(ValueError, match=rf"^Line 2: feature index {2**53 + 1} is out of range for the header's D=5"):
        load(f"1 5 2\n0 {2**53 + 1}:1\n")


@pytest.mark.parametrize("D", [5, 2**53 + 10], ids=["float", "integer"])
def test_both_feature_readers_agree(D):
    """D above 2**53 reads indices as integers (as do values that need locating); D at most 2**53 through float64."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        pairs = [f"{rng.integers(0, 5)}:{rng.normal() * 10.0 ** rng.integers(-8, 8):.7g}" for _ in range(i % 6)]
        rows.append(f"{i % 3} " + rng.choice([" ", "\t", "\x1c", "\u00a0"]).join(pairs))
    text = "40 5 3\n" + "\n".join(rows) + "\n"
    X, Y = load(text.replace("40 5 3", f"40 {D} 3"))
    X_ascii, Y_ascii = load(text.replace("\x1c", " ").replace("\u00a0", " "))
    assert X.shape == (40, D)
    assert_array_equal(X[:, :5].toarray(), X_ascii.toarray())
    assert_array_equal(Y.toarray(), Y_ascii.toarray())
    with pytest.raises(ValueError, match="^Line 11: feature value '1x' is not a number"):
        load(text.replace("40 5 3", f"40 {D} 3").replace(f"\n{rows[9]}\n", f"\n{rows[9]} 0:1x\n"))


@pytest.mark.parametrize(
    "header,name,value",
    [
        (f"1 {2**63} 2", "D", str(2**63)),
        (f"1 3 {2**64}", "L", str(2**64)),
        (f"{2**63} 3 2", "N", str(2**63)),
        ("1 3 " + "9" * 5000, "L", "9" * 80),
    ],
    ids=["D", "L", "N", "5000 digits"],
)
def test_header_sizes_beyond_int64(header, name, value):
    with pytest.raises(ValueError, match=rf"^Line 1: the header's {name}={value} is beyond the sizes scipy's"):
        load(f"{header}\n0 0:1\n")


def test_header_sizes_up_to_int64():
    X, Y = load(f"1 {2**63 - 1} 000{2**63 - 1}\n{2**63 - 2} {2**63 - 2}:1\n")
    assert X.shape == Y.shape == (1, 2**63 - 1)
    assert X.indices.tolist() == Y.indices.tolist() == [2**63 - 2]


@pytest.mark.parametrize("big", ["99999999999999999999", "18446744073709551617", "9223372036854775808"])
def test_huge_indices_are_reported_as_written(big):
    with pytest.raises(ValueError, match=rf"^Line 3: label index {big} is out of range for the header's L=2"):
        load(f"2 2 2\n1 0:1\n0,{big} 0:1\n")
    for D in (2, 2**53 + 10):
        with pytest.raises(ValueError, match=rf"^Line 2: feature index {big} is out of range for the header's D={D}"):
            load(f"1 {D} 2\n0 0:1 {big}:1\n")
    digits = "7" * 5000  # longer than Python's int() reads from text
    with pytest.raises(ValueError, match=rf"^Line 2: feature index {digits[:80]} is out"):
        load(f"1 {2**53 + 10} 2\n0 {digits}:1\n")


def test_zeros_are_not_stored():
    text = "3 5 2\n0 0:0 1:1e-50 2:1 3:-0.0 4:2\n1 2:1 2:-1 0:0.0 1:1e-45\n 4:0\n"
    X, _ = load(text)
    assert X.nnz == 3 and np.all(X.data != 0)
    assert_array_equal(X.indptr, [0, 2, 3, 3])
    assert_array_equal(X.indices, [2, 4, 1])
    assert_array_equal(X.data, np.array([1, 2, 1e-45], dtype=np.float32))  # 1e-45: the smallest float32


def test_repeats_summing_beyond_float32():
    with pytest.raises(
        ValueError, match=r"^Line 3: the values of feature 1, repeated in the line, sum to inf in float32"
    ):
        load("2 3 2\n0 1:3e38\n1 1:3e38 0:1 1:3e38\n")


def test_peak_memory_is_a_small_multiple_of_the_result(tmp_path, monkeypatch):
    chunk_size = 1 << 16
    monkeypatch.setattr(xmc_format, "_CHUNK_SIZE", chunk_size)
    rng = np.random.default_rng(0)
    n_rows, per_row = 8000, 20
    ids = rng.integers(0, 2500, (n_rows, per_row)) + 2500 * np.arange(per_row)  # sorted, no repeats
    values = rng.integers(1, 1000, (n_rows, per_row)) / 1000
    labels = rng.integers(0, 2000, (n_rows, 2))
    lines = [
        f"{a},{b} " + " ".join(f"{j}:{v}" for j, v in zip(row_ids, row_values, strict=True))
        for (a, b), row_ids, row_values in zip(labels.tolist(), ids.tolist(), values.tolist(), strict=True)
    ]
    path = tmp_path / "big.txt"
    path.write_text(f"{n_rows} 50000 2000\n" + "\n".join(lines) + "\n")
    del lines
    tracemalloc.start()
    try:
        X, Y = load_xmc_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    result = sum(array.nbytes for matrix in (X, Y) for array in (matrix.data, matrix.indices, matrix.indptr))
    assert path.stat().st_size > result  # the text is the larger: holding it whole would fail
    assert peak < 2 * result + 16 * chunk_size, (peak, result)
    expected = sp.csr_matrix(
        (values.ravel(), ids.ravel(), np.arange(0, n_rows * per_row + 1, per_row)), shape=(n_rows, 50_000)
    )
    expected_Y = sp.csr_matrix(
        (np.ones(2 * n_rows, np.float32), labels.ravel(), np.arange(0, 2 * n_rows + 1, 2)), shape=(n_rows, 2000)
    )
    expected_Y.sum_duplicates()
    expected_Y.data[:] = 1
    assert_same((X, Y), (expected.astype(np.float32), expected_Y))
