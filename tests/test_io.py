"""Round trips of every writer/reader pair of `fimflow.results._files`, and the atomic-write guarantees."""

import json
import math
import os
import stat

import numpy as np
import pandas as pd
import pytest

import fimflow
from fimflow.results import _files as _io
from fimflow import provenance

fimflow.enable_float64()

FORMAT = "fimflow.test/1"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp-"))


def _bits(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float64).view(np.uint64)


def _awkward_floats(rng, n) -> np.ndarray:
    """Values that a short float format would not round-trip."""
    special = [0.1, 1 / 3, -2 / 3, math.pi, 1e-300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
               -0.0, 0.0, 123456789.123456789, 1 + 2**-52, np.nextafter(1.0, 2.0), -1e-17]
    values = np.concatenate([special, rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)])
    return values


# ---------------------------------------------------------------- tables


def test_table_round_trip_with_nan_and_inf(tmp_path):
    rng = np.random.default_rng(0)
    values = _awkward_floats(rng, 40)
    n = len(values)
    table = pd.DataFrame(
        {
            "parameterId": [f"k_{i}" for i in range(n)],
            "value": values,
            "with_nan": np.where(np.arange(n) % 3 == 0, np.nan, values),
            "with_inf": np.where(np.arange(n) % 4 == 0, np.inf, np.where(np.arange(n) % 4 == 1, -np.inf, values)),
            "count": np.arange(n),
            "text": [f"start {i}: a message" for i in range(n)],
        }
    )
    path = tmp_path / "table.tsv"
    _io.write_table(path, table)
    back = _io.read_table(path)
    assert list(back.columns) == list(table.columns)
    assert list(back["parameterId"]) == list(table["parameterId"])
    assert list(back["text"]) == list(table["text"])
    np.testing.assert_array_equal(back["count"].to_numpy(), table["count"].to_numpy())
    for column in ("value", "with_nan", "with_inf"):
        got = back[column].to_numpy(dtype=np.float64)
        want = table[column].to_numpy(dtype=np.float64)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = ~np.isnan(want)
        np.testing.assert_array_equal(_bits(got[finite]), _bits(want[finite]))
    text = path.read_text()
    assert "\tnan\t" in text and "\tinf\t" in text and "\t-inf\t" in text


def test_table_all_nan_column_and_empty_table(tmp_path):
    table = pd.DataFrame({"a": [np.nan, np.nan], "b": ["x y", "z"]})
    _io.write_table(tmp_path / "t.tsv", table)
    back = _io.read_table(tmp_path / "t.tsv")
    assert back["a"].isna().all() and list(back["b"]) == ["x y", "z"]
    empty = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)})
    _io.write_table(tmp_path / "empty.tsv", empty)
    back = _io.read_table(tmp_path / "empty.tsv")
    assert list(back.columns) == ["a", "b"] and len(back) == 0


# ---------------------------------------------------------------- json


def test_json_round_trip(tmp_path):
    data = {
        "problem": "cascade",
        "n": np.int64(7),
        "flag": np.bool_(True),
        "x": np.array([0.1, 1 / 3, -2.5e-300]),
        "nested": {"ids": ("k_on", "k_off"), "value": np.float64(math.pi), "list": [1, 2.5, None]},
    }
    path = tmp_path / "result.json"
    _io.write_json(path, data, format=FORMAT)
    back = _io.read_json(path, format=FORMAT)
    assert list(back)[:2] == ["format", "fimflow_version"]
    assert back["format"] == FORMAT
    assert back["fimflow_version"] == fimflow.__version__
    assert back["problem"] == "cascade" and back["n"] == 7 and back["flag"] is True
    assert back["x"] == [0.1, 1 / 3, -2.5e-300]
    assert back["nested"] == {"ids": ["k_on", "k_off"], "value": math.pi, "list": [1, 2.5, None]}
    assert path.read_text().endswith("}\n")


def test_json_wrong_format_raises(tmp_path):
    path = tmp_path / "result.json"
    _io.write_json(path, {"a": 1}, format=FORMAT)
    with pytest.raises(ValueError, match="fimflow.other/1") as info:
        _io.read_json(path, format="fimflow.other/1")
    assert FORMAT in str(info.value) and "result.json" in str(info.value)
    path.write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="None"):
        _io.read_json(path, format=FORMAT)


def test_json_data_cannot_override_format_tag(tmp_path):
    with pytest.raises(ValueError, match="format"):
        _io.write_json(tmp_path / "r.json", {"format": "fimflow.other/1"}, format=FORMAT)
    assert not (tmp_path / "r.json").exists()


def test_json_non_finite_floats_are_strict_json(tmp_path):
    data = {"nll": np.nan, "upper": np.inf, "lower": -np.inf, "values": np.array([1.0, np.nan, np.inf]),
            "plain": float("nan")}
    path = tmp_path / "r.json"
    _io.write_json(path, data, format=FORMAT)

    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    strict = json.loads(path.read_text(), parse_constant=reject)
    assert strict["nll"] == "nan" and strict["plain"] == "nan"
    assert strict["upper"] == "inf" and strict["lower"] == "-inf"
    assert strict["values"] == [1.0, "nan", "inf"]
    back = _io.read_json(path, format=FORMAT)
    assert math.isnan(float(back["nll"])) and float(back["upper"]) == math.inf and float(back["lower"]) == -math.inf


def test_json_is_deterministic(tmp_path):
    data = {"b": [1.0, 2.0], "a": {"z": 1, "y": np.nan}}
    _io.write_json(tmp_path / "1.json", data, format=FORMAT)
    _io.write_json(tmp_path / "2.json", data, format=FORMAT)
    assert (tmp_path / "1.json").read_bytes() == (tmp_path / "2.json").read_bytes()


# ---------------------------------------------------------------- matrices


def test_matrix_round_trip_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    ids = ("k_on", "k_off", "sigma_C", "K_tot", "x_0")
    a = rng.standard_normal((5, 5)) * 10.0 ** rng.integers(-20, 20, (5, 5))
    matrix = a @ a.T
    matrix[0, 1] = matrix[1, 0] = 1 / 3
    matrix[2, 2] = 5e-324
    matrix[3, 4] = -0.0
    path = tmp_path / "fim.tsv"
    _io.write_matrix(path, matrix, ids)
    back, back_ids = _io.read_matrix(path)
    assert back_ids == ids
    assert back.dtype == np.float64 and back.shape == (5, 5)
    np.testing.assert_array_equal(_bits(back), _bits(matrix))


def test_matrix_with_nan_and_inf(tmp_path):
    matrix = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    _io.write_matrix(tmp_path / "m.tsv", matrix, ["a", "b"])
    back, ids = _io.read_matrix(tmp_path / "m.tsv")
    assert ids == ("a", "b")
    np.testing.assert_array_equal(back, matrix)


def test_matrix_mislabelled_raises(tmp_path):
    path = tmp_path / "m.tsv"
    pd.DataFrame({"parameterId": ["a", "b"], "a": [1.0, 2.0], "c": [3.0, 4.0]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match="labels"):
        _io.read_matrix(path)


# ---------------------------------------------------------------- multistart


def _multistart() -> fimflow.MultistartResult:
    rng = np.random.default_rng(2)
    ids = ("k_on", "k_off", "sigma_C", "K_m_2")
    n = 5
    x0 = rng.uniform(-3, 1, (n, len(ids)))
    x = x0 + rng.standard_normal((n, len(ids))) / 3
    x[3] = x0[3]  # the failed start stays at its start point
    return fimflow.MultistartResult(
        parameter_ids=ids,
        start_index=np.array([8, 9, 10, 11, 12]),
        x0=x0,
        x=x,
        nll=np.array([-12.345678901234567, -12.345678901234, 1e5 / 3, np.nan, -0.0]),
        status=("converged", "converged", "max_iterations", "failed", "converged"),
        message=(
            "`ftol` termination condition is satisfied.",
            "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH",
            "The maximum number of function evaluations is exceeded.",
            "XlaRuntimeError: INTERNAL: the solve failed; 'max_steps' reached (t = 0.5)",
            "Both `ftol` and `xtol` termination conditions are satisfied.",
        ),
        n_iterations=np.array([17, 23, 1000, 0, 5]),
        time_s=np.array([0.123456789, 1.5, 30.25, 0.0015, 2 / 3]),
    )


def _assert_multistart_equal(back, result):
    assert back.parameter_ids == result.parameter_ids
    assert back.status == result.status
    assert back.message == result.message
    for name in ("start_index", "n_iterations"):
        got, want = getattr(back, name), getattr(result, name)
        assert np.issubdtype(got.dtype, np.integer)
        np.testing.assert_array_equal(got, want)
    assert np.isnan(back.time_s).all() and back.time_s.shape == result.time_s.shape  # not in the table
    for name in ("x0", "x", "nll"):
        got, want = getattr(back, name), getattr(result, name)
        assert got.dtype == np.float64 and got.shape == want.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        keep = ~np.isnan(want)
        np.testing.assert_array_equal(_bits(got[keep]), _bits(want[keep]))


def test_multistart_round_trip(tmp_path):
    result = _multistart()
    path = tmp_path / "starts.tsv"
    _io.write_multistart(path, result)
    back = _io.read_multistart(path)
    _assert_multistart_equal(back, result)
    assert back.n_starts == 5
    assert back.best() == result.best() == 0
    header = path.read_text().splitlines()[0].split("\t")
    assert header[:5] == ["start", "status", "nll", "iterations", "message"]
    assert header[5:] == [f"x0_{p}" for p in result.parameter_ids] + [f"x_{p}" for p in result.parameter_ids]


def test_fit_provenance_holds_the_run_dependent_values(tmp_path):
    result = _multistart()
    environment = {"host": "node-7", "date_utc": "2026-11-26T06:00:00+00:00"}
    _io.write_fit_provenance(tmp_path / "p.json", result, environment)
    data = _io.read_json(tmp_path / "p.json", format=_io.PROVENANCE_FORMAT)
    assert data["environment"] == environment
    assert [s["start"] for s in data["starts"]] == [8, 9, 10, 11, 12]
    assert [s["time_s"] for s in data["starts"]] == result.time_s.tolist()


def test_run_environment_names_host_versions_and_library():
    environment = provenance.run_environment()
    assert environment["host"] and environment["date_utc"].endswith("+00:00")
    assert environment["packages"]["jax"] == __import__("jax").__version__
    assert environment["library"] == provenance.library_fingerprint()


def test_multistart_round_trip_all_failed_and_single_parameter(tmp_path):
    result = fimflow.MultistartResult(
        parameter_ids=("x_1",),
        start_index=np.array([0, 1]),
        x0=np.array([[0.5], [-1.5]]),
        x=np.array([[0.5], [-1.5]]),
        nll=np.array([np.nan, np.nan]),
        status=("failed", "failed"),
        message=("ValueError: bad start", "ValueError: bad start"),
        n_iterations=np.array([0, 0]),
        time_s=np.array([0.0, 0.25]),
    )
    _io.write_multistart(tmp_path / "s.tsv", result)
    _assert_multistart_equal(_io.read_multistart(tmp_path / "s.tsv"), result)


def test_multistart_concatenated_shards_round_trip(tmp_path):
    result = _multistart()
    first, second = fimflow.concatenate_multistarts([result]), result.sorted()
    for k, part in enumerate((first, second)):
        _io.write_multistart(tmp_path / f"starts_{k}.tsv", part)
        _assert_multistart_equal(_io.read_multistart(tmp_path / f"starts_{k}.tsv"), part)


# ---------------------------------------------------------------- atomic writing


@pytest.mark.parametrize(
    "write",
    [
        lambda p: _io.write_table(p, pd.DataFrame({"a": [1.0]})),
        lambda p: _io.write_json(p, {"a": 1}, format=FORMAT),
        lambda p: _io.write_matrix(p, np.eye(2), ["a", "b"]),
        lambda p: _io.write_multistart(p, _multistart()),
    ],
    ids=["table", "json", "matrix", "multistart"],
)
def test_writers_are_atomic_and_world_readable(tmp_path, write):
    path = tmp_path / "sub" / "dir" / "out.tsv"
    old_umask = os.umask(0o077)
    try:
        write(path)
    finally:
        os.umask(old_umask)
    assert path.is_file()
    assert _mode(path) == 0o644
    assert _leftovers(path.parent) == []
    write(path)  # overwriting an existing file works too
    assert _mode(path) == 0o644 and _leftovers(path.parent) == []


def test_atomic_path_success(tmp_path):
    path = tmp_path / "out.txt"
    with _io.atomic_path(path) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith(".tmp-") and tmp.endswith(".txt")
        with open(tmp, "w") as handle:
            handle.write("done\n")
        assert not path.exists()
    assert path.read_text() == "done\n"
    assert _mode(path) == 0o644
    assert _leftovers(tmp_path) == []


def test_atomic_path_failure_creates_nothing(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(RuntimeError, match="writer failed"):
        with _io.atomic_path(path) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("writer failed")
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_atomic_path_failure_keeps_existing_target(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("previous result\n")
    os.chmod(path, 0o640)
    with pytest.raises(RuntimeError):
        with _io.atomic_path(path) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("writer failed")
    assert path.read_text() == "previous result\n"
    assert _mode(path) == 0o640
    assert _leftovers(tmp_path) == []


def test_failing_writer_leaves_existing_file_unchanged(tmp_path):
    """A real writer that fails half-way (an object JSON cannot encode) changes nothing."""
    path = tmp_path / "r.json"
    _io.write_json(path, {"a": 1}, format=FORMAT)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        _io.write_json(path, {"a": 2, "b": object()}, format=FORMAT)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []
    with pytest.raises(TypeError):
        _io.write_json(tmp_path / "new.json", {"b": object()}, format=FORMAT)
    assert not (tmp_path / "new.json").exists()
    assert _leftovers(tmp_path) == []


def test_library_fingerprint_follows_source_edits(tmp_path):
    import shutil

    from fimflow.provenance import library_fingerprint

    package = os.path.dirname(fimflow.__file__)
    copy = tmp_path / "fimflow"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert library_fingerprint(str(copy)) == library_fingerprint()
    edited = copy / "fit" / "_multistart.py"  # a module of a subpackage counts too
    edited.write_text(edited.read_text() + "\n# edited\n")
    assert library_fingerprint(str(copy)) != library_fingerprint()
