"""The one scale type (`lin`, `log`, `log10`) in numpy and JAX against closed forms and the
formulas used before it, and the measurement builder both importers share, on a small table."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import fimflow
from fimflow._errors import ProblemFileError
from fimflow.problem._measurements import MeasurementRows, build_problem, check_time, require_rows
from fimflow.problem._problem import ParameterTable
from fimflow.problem._scales import (
    DISTRIBUTION_CODES,
    SCALE_CODES,
    TRANSFORMATION_CODES,
    Scale,
    from_linear_by_code,
    scale_codes,
    to_linear_by_code,
)

from helpers import Robertson

fimflow.enable_float64()

LINEAR = [1e-300, 1e-12, 0.1, 0.5, 1.0, 2.0, math.e, 10.0, 123.456, 1e12, 1e300]
ON_SCALE = [-400.0, -300.0, -12.5, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 12.5, 300.0, 400.0]


def closed_to_linear(scale, v):
    """Python-float closed forms: e^v, 10^v (inf on overflow)."""
    if scale == "log":
        return math.exp(v) if v < 709.8 else math.inf
    if scale == "log10":
        return 10.0**v if v < 308.3 else math.inf
    return v


def closed_from_linear(scale, x):
    return {"log": math.log, "log10": math.log10}.get(scale, lambda y: y)(x)


def test_code_tables():
    assert SCALE_CODES == {"lin": 0, "log": 1, "log10": 2}
    assert TRANSFORMATION_CODES == {"lin": 0, "log": 1, "log10": 2}
    assert DISTRIBUTION_CODES == {"normal": 0, "laplace": 1}
    assert [Scale.of(s) for s in ("lin", "log", "log10")] == [Scale.LIN, Scale.LOG, Scale.LOG10]
    assert [s.label for s in Scale] == ["lin", "log", "log10"]
    assert scale_codes(["log10", "lin", "log"]).tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="'ln' is not one of lin, log, log10"):
        Scale.of("ln")


@pytest.mark.parametrize("scale", ["lin", "log", "log10"])
def test_scale_methods_match_closed_forms_in_numpy_and_jax(scale):
    member = Scale.of(scale)
    with np.errstate(over="ignore"):
        up_np = np.asarray(member.to_linear(np.asarray(ON_SCALE)))
    up_jax = member.to_linear(jnp.asarray(ON_SCALE))
    down_np = np.asarray(member.from_linear(np.asarray(LINEAR)))
    down_jax = member.from_linear(jnp.asarray(LINEAR))
    assert isinstance(up_jax, jax.Array) and isinstance(down_jax, jax.Array)
    assert not isinstance(down_np, jax.Array)
    want_up = [closed_to_linear(scale, v) for v in ON_SCALE]
    want_down = [closed_from_linear(scale, x) for x in LINEAR]
    for got in (up_np, np.asarray(up_jax)):
        np.testing.assert_allclose(got, want_up, rtol=4e-15, atol=0)
    for got in (down_np, np.asarray(down_jax)):
        np.testing.assert_allclose(got, want_down, rtol=4e-16, atol=0)
    # and traceable: the same numbers under jit
    np.testing.assert_array_equal(jax.jit(member.to_linear)(jnp.asarray(ON_SCALE)), up_jax)
    np.testing.assert_array_equal(jax.jit(member.from_linear)(jnp.asarray(LINEAR)), down_jax)


def test_edge_values():
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        assert Scale.LOG.from_linear(np.float64(0.0)) == -np.inf
        assert Scale.LOG10.from_linear(np.float64(0.0)) == -np.inf
        assert Scale.LOG10.to_linear(np.float64(400.0)) == np.inf
        assert Scale.LOG10.to_linear(np.float64(-400.0)) == 0.0
        assert Scale.LOG.to_linear(np.float64(-800.0)) == 0.0
    assert float(Scale.LOG10.from_linear(jnp.asarray(0.0))) == -np.inf
    assert np.isnan(float(Scale.LOG.from_linear(jnp.asarray(-1.0))))
    # exact powers of ten stay exact
    for k in range(-20, 21):
        assert Scale.LOG10.from_linear(np.float64(10.0**k)) == k
        assert Scale.LOG10.to_linear(np.float64(k)) == 10.0**k
        assert float(Scale.LOG10.to_linear(jnp.asarray(float(k)))) == 10.0**k


def test_numpy_vectors_by_name_round_trip_and_leave_lin_alone():
    scales = ("lin", "log", "log10", "lin", "log10")
    linear = np.array([-3.5, 2.0, 1e-7, 0.0, 250.0])
    on_scale = fimflow.to_scale(linear, scales)
    np.testing.assert_array_equal(on_scale[[0, 3]], [-3.5, 0.0])  # negative and zero: lin, no log
    assert on_scale[1] == math.log(2.0) and on_scale[2] == math.log10(1e-7)
    np.testing.assert_allclose(on_scale[4], math.log10(250.0), rtol=4e-16)
    np.testing.assert_allclose(fimflow.from_scale(on_scale, scales), linear, rtol=1e-15)
    assert fimflow.from_scale([2.0], ["log10"])[0] == 100.0
    assert fimflow.from_scale([1.0], ["log"])[0] == math.e


def old_unscale(theta, codes):
    """The formulas of `simulate._objective.unscale` before the scale module (pinned)."""
    return jnp.where(codes == 1, jnp.exp(theta), jnp.where(codes == 2, 10.0**theta, theta))


def old_transform(values, codes):
    return jnp.where(codes == 1, jnp.log(values), jnp.where(codes == 2, jnp.log10(values), values))


def old_to_scale(values, scales):
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    for i, scale in enumerate(scales):
        if scale == "log":
            out[i] = np.log(values[i])
        elif scale == "log10":
            out[i] = np.log10(values[i])
    return out


def test_bit_identical_to_the_formulas_before():
    rng = np.random.default_rng(16)
    theta = rng.uniform(-30.0, 30.0, 300)
    linear = 10.0 ** rng.uniform(-30.0, 30.0, 300)
    codes = rng.integers(0, 3, 300)
    names = [("lin", "log", "log10")[c] for c in codes]
    np.testing.assert_array_equal(to_linear_by_code(jnp.asarray(theta), jnp.asarray(codes)),
                                  old_unscale(jnp.asarray(theta), jnp.asarray(codes)))
    np.testing.assert_array_equal(from_linear_by_code(jnp.asarray(linear), jnp.asarray(codes)),
                                  old_transform(jnp.asarray(linear), jnp.asarray(codes)))
    np.testing.assert_array_equal(fimflow.to_scale(linear, names), old_to_scale(linear, names))
    # numpy by name and JAX by code agree with each other
    np.testing.assert_allclose(fimflow.from_scale(theta, names),
                               to_linear_by_code(jnp.asarray(theta), jnp.asarray(codes)), rtol=4e-15)
    # the JAX functions differ where the codes say so (a wrong table would fail here)
    assert not np.array_equal(to_linear_by_code(jnp.asarray(theta), jnp.zeros(300, int)),
                              to_linear_by_code(jnp.asarray(theta), jnp.asarray(codes)))


def small_problem():
    parameters = ParameterTable(
        ids=("k1", "k2", "k3", "sigma"), scales=("log10", "log10", "lin", "log"),
        lower=np.array([1e-3, 1e-3, 0.0, 1e-2]), upper=np.array([1e3, 1e3, 10.0, 1.0]),
        nominal=np.array([0.04, 3e7, 1e4, 0.1]), estimate=np.array([True, True, False, True]),
    )
    table = pd.DataFrame({"observableId": ["y3", "y1", "y1", "y3", "y1"],
                          "simulationConditionId": ["b", "a", "a", "a", "b"],
                          "time": [5.0, 2.0, 1.0, 2.0, 0.0],
                          "measurement": [0.5, 0.9, 0.95, 0.01, 1.0]})
    rows = MeasurementRows(
        table=table,
        condition_index=np.array([1, 0, 0, 0, 1]),
        observable_index=np.array([1, 0, 0, 1, 0]),
        time=table["time"].to_numpy(),
        values=table["measurement"].to_numpy(),
        noise_index=np.array([3, 3, -1, 3, -1]),
        noise_value=np.array([np.nan, np.nan, 0.2, np.nan, 0.3]),
    )
    return build_problem(
        problem_id="small", model=Robertson(), parameters=parameters, condition_ids=["a", "b"],
        condition_parameter_index=np.array([[0, 1, 2], [0, 1, 2]]),
        condition_parameter_value=np.full((2, 3), np.nan),
        rows=rows, transformation=[0, 2], distribution=[1, 0], sources=["p.tsv", "m.tsv"],
    )


def test_builder_lays_out_times_and_codes_per_measurement():
    problem = small_problem()
    assert problem.id == "small" and problem.condition_ids == ("a", "b")
    assert problem.sources == ("p.tsv", "m.tsv")
    # condition a measured at 2, 1, 2 -> grid [1, 2]; b at 5, 0 -> grid [0, 5]
    np.testing.assert_array_equal(problem.times, [[1.0, 2.0], [0.0, 5.0]])
    np.testing.assert_array_equal(problem.time_index, [1, 1, 0, 1, 0])
    # each measurement's time is found on its condition's grid
    np.testing.assert_array_equal(problem.times[problem.condition_index, problem.time_index],
                                  [5.0, 2.0, 1.0, 2.0, 0.0])
    np.testing.assert_array_equal(problem.transformation, [2, 0, 0, 2, 0])
    np.testing.assert_array_equal(problem.distribution, [0, 1, 1, 0, 1])
    assert problem.transformation.dtype.kind == "i"
    np.testing.assert_array_equal(problem.values, [0.5, 0.9, 0.95, 0.01, 1.0])
    assert problem.parameter_ids == ("k1", "k2", "sigma")
    assert problem.observable_parameter_index is None and problem.preequilibration is None
    np.testing.assert_allclose(problem.parameters.nominal_theta(), [math.log10(0.04), math.log10(3e7), math.log(0.1)],
                               rtol=4e-16)


def test_builder_pads_short_grids_and_an_unmeasured_condition():
    problem = small_problem()
    rows = MeasurementRows(table=problem.measurements.iloc[:3], condition_index=np.array([1, 1, 1]),
                           observable_index=np.array([0, 0, 1]), time=np.array([3.0, 1.0, 3.0]),
                           values=np.ones(3), noise_index=np.full(3, -1), noise_value=np.ones(3))
    other = build_problem(problem_id="x", model=problem.model, parameters=problem.parameters,
                          condition_ids=["a", "b", "c"], condition_parameter_index=np.zeros((3, 3), int),
                          condition_parameter_value=np.zeros((3, 3)), rows=rows,
                          transformation=[1, 0], distribution=[0, 0])
    np.testing.assert_array_equal(other.times, [[0.0, 0.0], [1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_array_equal(other.time_index, [1, 0, 1])
    np.testing.assert_array_equal(other.transformation, [1, 1, 0])
    assert other.sources == ()


def test_shared_checks_name_file_row_and_column():
    check_time(0.0, "m.tsv", 2)
    check_time(math.inf, "m.tsv", 2)
    with pytest.raises(ProblemFileError, match=r"m\.tsv.*row 7.*time.*time -0\.5 < 0; simulations start at t = 0\."):
        check_time(-0.5, "m.tsv", 7)
    require_rows(1, "m.tsv")
    with pytest.raises(ProblemFileError, match=r"m\.tsv.*the measurement table has no rows\."):
        require_rows(0, "m.tsv")
