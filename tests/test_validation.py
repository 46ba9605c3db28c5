"""scratchnn.validation, the one validation module: what each check accepts, returns and says."""
import numpy as np
import pytest

from scratchnn.validation import all_finite, check_finite_array, check_int, check_non_negative_int, check_number, \
    check_positive_int


def test_check_positive_int_accepts_python_and_numpy_integers_and_returns_an_int():
    assert check_positive_int("units", 3, "Dense") == 3
    value = check_positive_int("units", np.int64(7), "Dense")
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("value", [0, -2, 1.5, 2.0, True, "3", None, np.float64(4)])
def test_check_positive_int_refuses(value):
    with pytest.raises(ValueError, match=rf"^Dense: units must be a positive integer, got {value!r}$"
                       .replace("(", r"\(").replace(")", r"\)")):
        check_positive_int("units", value, "Dense")


def test_check_non_negative_int():
    assert check_non_negative_int("patience", 0, "EarlyStopping") == 0
    assert check_non_negative_int("patience", np.uint8(4), "EarlyStopping") == 4
    for value in (-1, False, 0.0):
        with pytest.raises(ValueError, match=rf"EarlyStopping: patience must be a non-negative integer, got {value!r}"):
            check_non_negative_int("patience", value, "EarlyStopping")


def test_check_int_with_a_floor():
    assert check_int("n_classes", 2, "make_spirals", 2) == 2
    with pytest.raises(ValueError, match=r"^make_spirals: n_classes must be an integer >= 2, got 1$"):
        check_int("n_classes", 1, "make_spirals", 2)
    with pytest.raises(ValueError, match=r"must be an integer >= 3, got True"):
        check_int("n_samples", True, "make_spirals", 3)


def test_check_number_returns_a_float_within_the_bounds():
    assert check_number("rate", 0.5, "Dropout", 0, 1, high_open=True) == 0.5
    assert type(check_number("rate", np.float32(0.25), "Dropout", 0, 1)) is float
    assert check_number("rate", 0, "Dropout", 0, 1, high_open=True) == 0.0          # closed end included
    assert check_number("gamma", 3, "StepDecay") == 3.0                              # no bounds: any finite number
    assert check_number("momentum", np.int64(1), "SGD", 0, 1) == 1.0


@pytest.mark.parametrize("bounds, value, span", [
    ({"low": 0, "high": 1, "high_open": True}, 1.0, r"in \[0, 1\)"),
    ({"low": 0, "high": 1, "low_open": True}, 0, r"in \(0, 1\]"),
    ({"low": 0, "high": 1}, 1.5, r"in \[0, 1\]"),
    ({"low": 0.5, "high": 2.5, "low_open": True, "high_open": True}, 2.5, r"in \(0\.5, 2\.5\)"),
    ({"low": 0, "low_open": True}, 0, "> 0"),
    ({"low": 0}, -0.1, ">= 0"),
    ({"high": 1, "high_open": True}, 1, "< 1"),
    ({"high": 1e-3}, 0.01, "<= 0.001"),
])
def test_check_number_says_the_range(bounds, value, span):
    with pytest.raises(ValueError, match=rf"^Owner: x must be {span}, got {value!r}$"):
        check_number("x", value, "Owner", **bounds)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf, True, "0.5", None, 1 + 2j])
def test_check_number_refuses_what_is_not_a_finite_real(value):
    with pytest.raises(ValueError, match=r"^Adam: epsilon must be a finite number, got "):
        check_number("epsilon", value, "Adam", low=0)


def test_check_finite_array():
    x = check_finite_array([[1.0, 2.0]], "predict")
    assert isinstance(x, np.ndarray) and x.shape == (1, 2)
    assert check_finite_array(np.arange(3), "fit").dtype.kind == "i"
    assert check_finite_array(np.array([True, False]), "fit").dtype == bool
    with pytest.raises(ValueError, match=r"^predict: the input contains NaN or inf values \(2 of 4\)$"):
        check_finite_array(np.array([1.0, np.nan, np.inf, 0.0]), "predict")
    with pytest.raises(ValueError, match=r"^fit: expected a numeric array, got dtype <U1$"):
        check_finite_array(["a", "b"], "fit")


@pytest.mark.parametrize("values, finite", [
    ([1.0, -2.0, 0.0], True), ([1.0, np.nan], False), ([np.inf, 1.0], False), ([-np.inf, 1.0], False),
    ([np.inf, -np.inf], False), ([np.nan, np.inf], False), ([], True)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_all_finite_agrees_with_isfinite(values, finite, dtype):
    array = np.array(values, dtype=dtype)
    assert all_finite(array) is finite is bool(np.isfinite(array).all())


@pytest.mark.parametrize("where", [(0, 0), (7, 2), (99, 4)])
def test_all_finite_finds_a_value_in_any_block(where):
    array = np.full((100, 5), np.finfo(np.float32).max, dtype=np.float32)    # 100 rows, blocks of 3 rows
    assert all_finite(array, block=16) is True
    array[where] = np.nan
    assert all_finite(array, block=16) is False
    array[where] = -np.inf
    assert all_finite(array, block=16) is False
    assert all_finite(array[:, :2], block=16) is (where[1] >= 2)             # a strided view, block by block


def test_all_finite_takes_rows_wider_than_a_block():
    wide = np.ones((4, 50))
    wide[3, 49] = np.inf
    assert all_finite(wide, block=16) is False and all_finite(wide[:3], block=16) is True


def test_all_finite_makes_no_mask_of_the_whole_array():
    import tracemalloc
    array = np.ones((4000, 100), dtype=np.float32)
    tracemalloc.start()
    try:
        assert all_finite(array) is True
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < array.size // 4                                   # the whole mask would be array.size bytes


def test_all_finite_reads_strided_and_high_dimensional_arrays():
    grid = np.ones((40, 6, 5))
    grid[21, 3, 1] = np.nan
    assert all_finite(grid[:, ::2], block=32) is True and all_finite(grid[:, 1::2], block=32) is False
    assert all_finite(grid, block=32) is False and all_finite(grid[:21], block=32) is True
