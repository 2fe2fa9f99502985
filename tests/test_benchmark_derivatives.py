r"""Derivatives of the PEtab benchmark problems (../shared/benchmark_models) at their nominal
parameters, on the estimation scale, against numbers from outside fimflow:

- every problem: the NLL gradient (forward sensitivities) against four-point central
  differences of the NLL along random directions, to 1e-4 of the gradient's norm;
- where ../shared/reference has them (pyPESTO 0.7 + AMICI 1.0.1, CVODES forward sensitivities
  at rtol 1e-12, atol 1e-16): the whole gradient to 1e-4 of its norm, AMICI's "FIM" (the
  Gauss–Newton matrix of the weighted residuals) against ours and against our expected FIM
  where the two are the same quantity, and our observed FIM (the exact Hessian) against AMICI's
  finite-difference Hessian.

Solved tightly (`tolerance`): at the default rtol 1e-8 the solve's error alone is 0.22 of
Zheng's gradient norm, and Bachmann's NLL moves by 3.4e-6 between rtol 1e-8 and 1e-12, which
divided by the step 1e-3 is 130 times the 1e-4 ||g|| allowed. Tracing and compiling are most of
the cost (cold: Zheng's second-order program 80-110 s to trace and compile, 24 s to run), so
each problem's derivatives come from one program, run once for all tests of this module
(`derivatives`).
"""

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fimflow
from benchmark_problems import NAMES, SKIP, problem, reference_gradient, reference_matrix, with_reference
from fimflow.fisher._fisher import fisher_from_sensitivities

pytestmark = SKIP

# rtol 1e-12, the reference's; atol 1e-14 where the problem's states allow it. Fujita (states
# from 1e-10 to 4e7): atol 1e-16 makes the Hessian's solve run 320 s, atol 1e-12 27 s (gradient
# 8e-6 of its norm from the reference's). Bachmann: at atol 1e-14 a condition's solve crawls to
# max_steps (NaN after 735 s), at 1e-12 the NLL takes 8 s. Crauste: see test_petab_benchmarks.TIGHT.
TOLERANCE = {
    "Fujita_SciSignal2010": fimflow.SolverConfig(rtol=1e-12, atol=1e-12),
    "Bachmann_MSB2011": fimflow.SolverConfig(rtol=1e-12, atol=1e-12),
    "Crauste_CellSystems2017": fimflow.SolverConfig(rtol=1e-13, atol=1e-13, max_steps=20_000),
}
TIGHT = fimflow.SolverConfig(rtol=1e-12, atol=1e-14)
# the problems whose observed FIM is checked (against hess_fd_nominal_*): their derivatives come
# from the second-order program, the others' from the first-order one
HESSIAN = with_reference("hess_fd")
RELATIVE = 1e-4  # of the gradient's norm
STEP = 1e-3  # of the differences, on the estimation scale
# finite-difference directions per problem: each costs four solves of the NLL (Bachmann: 8 s each)
DIRECTIONS = {"Bachmann_MSB2011": 1}
NLL_BY_DERIVATIVE_PROGRAM = {"Bertozzi_PNAS2020", "Perelson_Science1996", "Bruno_JExpBot2016", "Boehm_JProteomeRes2014"}


def tolerance(name) -> fimflow.SolverConfig:
    return TOLERANCE.get(name, TIGHT)


def _parts(objective, theta):
    """Differences h(y) - h(m), noise scales and the NLL from one simulation (the NLL as
    `Objective.nll` computes it: the sum of `nll_terms_of` those differences and scales)."""
    d, s, ok = objective.differences_and_noise(theta)
    nll = jnp.sum(objective.nll_terms_of(d, s, ok))
    return (d, s, nll), (d, s, nll)


def _first_order(objective, theta):
    (j_d, j_s, gradient), (d, s, nll) = jax.jacfwd(lambda t: _parts(objective, t), has_aux=True)(theta)
    return gradient, {"gradient": gradient, "j_d": j_d, "j_s": j_s, "d": d, "s": s, "nll": nll}


@eqx.filter_jit
def _first_order_program(objective, theta):
    """Gradient and the Jacobians of differences and noise scales (forward mode, one pass)."""
    return _first_order(objective, theta)[1]


@eqx.filter_jit
def _second_order_program(objective, theta):
    """`_first_order_program` and the Hessian of the NLL by forward over forward mode, symmetrised:
    what `fimflow.fisher._fisher.observed_fisher_information` computes, from the same program."""
    hessian, out = jax.jacfwd(lambda t: _first_order(objective, t), has_aux=True)(theta)
    return dict(out, hessian=0.5 * (hessian + hessian.T))


@functools.cache
def objective(name) -> fimflow.Objective:
    return fimflow.Objective.from_problem(problem(name), tolerance(name))


def program(name):
    return _second_order_program if name in HESSIAN else _first_order_program


@functools.cache
def derivatives(name) -> dict:
    """NLL, gradient, Jacobians of differences and noise scales and (for `HESSIAN`) the observed
    FIM at the nominal parameters, solved at `tolerance(name)`."""
    theta = jnp.asarray(problem(name).parameters.nominal_theta())
    out = {k: np.asarray(v) for k, v in program(name)(objective(name), theta).items()}
    out["distribution"] = np.asarray(objective(name).distribution)
    assert np.all(np.isfinite(out["gradient"])), out["gradient"]
    return out


def nll_function(name):
    """theta -> NLL at `tolerance(name)` (NaN where a solve fails): the NLL output of the
    derivative program where one run of it costs less than compiling the NLL alone (6-10 s; runs
    measured: Bertozzi 0.02 s, Perelson 0.1 s, Bruno 0.13 s, Boehm's second-order 0.8 s), else
    `log_likelihood`'s own program."""
    if name in NLL_BY_DERIVATIVE_PROGRAM:
        return lambda theta: float(program(name)(objective(name), jnp.asarray(theta))["nll"])
    return lambda theta: -fimflow.log_likelihood(problem(name), theta, config=tolerance(name))


def difference(nll, theta, v, h) -> float:
    """Four-point central difference of `nll` along `v` (error O(h^4)); NaN when a point does
    not solve."""
    f = {k: nll(theta + k * h * v) for k in (-2, -1, 1, 2)}
    return (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)


def converged_difference(nll, theta, v, agreement, h=STEP, smallest=1e-10):
    """The difference at step `h`, or, where a point does not solve (the solution blows up within
    2h of `theta`), at the largest step h/10, h/100, … at which all points solve and the estimate
    agrees with the next smaller step's to `agreement` (absolute; the NLL is far from quadratic
    there: Crauste's third derivative along a random direction is about 4e17)."""
    estimate = difference(nll, theta, v, h)
    if np.isfinite(estimate):
        return estimate, h
    finer = difference(nll, theta, v, h / 10)
    while h / 10 >= smallest:
        h /= 10
        estimate, finer = finer, difference(nll, theta, v, h / 10)
        if np.isfinite(estimate) and abs(finer - estimate) <= agreement:
            return estimate, h
    return np.nan, h


def directions(n, k) -> np.ndarray:
    rng = np.random.default_rng(11)
    v = rng.standard_normal((k, n))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("name", NAMES or ["none"])
def test_gradient_matches_finite_differences(name):
    """Directional derivatives of the NLL (the gradient by forward sensitivities, projected)
    against four-point central differences of the log-likelihood, both solved at
    `tolerance(name)`: |d_ad - d_fd| <= 1e-4 ||g||. Step 1e-3 on the estimation scale (the
    differences' error there, measured: 4e-6 ||g|| at most, Bertozzi; their truncation error
    at 1e-2 is up to 4e-2 ||g||), smaller where the solution blows up within the stencil
    (Crauste: 1e-8, see `converged_difference`)."""
    p = problem(name)
    theta, gradient = p.parameters.nominal_theta(), derivatives(name)["gradient"]
    allowed = RELATIVE * np.linalg.norm(gradient)
    for v in directions(p.n_params, DIRECTIONS.get(name, 2)):
        estimate, h = converged_difference(nll_function(name), theta, v, allowed)
        print(f"{name}: step {h:g}, |d_ad - d_fd| = {abs(v @ gradient - estimate) / np.linalg.norm(gradient):.2e} ||g||")
        assert abs(v @ gradient - estimate) <= allowed, (h, v @ gradient, estimate)


@pytest.mark.parametrize("name", with_reference("grad") or ["none"])
def test_gradient_matches_amici_reference(name):
    """The whole gradient against the pyPESTO+AMICI one (CVODES forward sensitivities, rtol
    1e-12): ||g - g_ref|| <= 1e-4 ||g_ref||. Solved at the reference's rtol: Zheng's nominal
    point is its optimum, the gradient small (norm 0.105) and at our default rtol 1e-8 its error
    is 0.22 of that norm (2e-3 at 1e-10, 1.1e-5 at 1e-12)."""
    p = problem(name)
    reference = reference_gradient(p)
    np.testing.assert_allclose(p.parameters.nominal_theta(), reference["x_nominal_scaled"], rtol=1e-12, atol=1e-12)
    expected = reference["grad_nll"].to_numpy()
    error = np.linalg.norm(derivatives(name)["gradient"] - expected) / np.linalg.norm(expected)
    print(f"{name}: ||g - g_ref|| = {error:.2e} ||g_ref||")
    assert error <= RELATIVE, error


BATCHED = "Fujita_SciSignal2010"  # six conditions


@pytest.mark.skipif(BATCHED not in with_reference("grad"), reason=f"no reference gradient of {BATCHED}")
def test_gradient_with_conditions_batched_matches_amici_reference():
    """The other way of solving a problem's conditions (`SolverConfig(conditions="batched")`, one
    vectorised solve; the default solves them one after another): the same criterion."""
    p = problem(BATCHED)
    batched = fimflow.Objective.from_problem(p, dataclasses.replace(tolerance(BATCHED), conditions="batched"))
    gradient = np.asarray(_first_order_program(batched, jnp.asarray(p.parameters.nominal_theta()))["gradient"])
    expected = reference_gradient(p)["grad_nll"].to_numpy()
    error = np.linalg.norm(gradient - expected) / np.linalg.norm(expected)
    print(f"{BATCHED}, conditions batched: ||g - g_ref|| = {error:.2e} ||g_ref||")
    assert error <= RELATIVE, error


def assert_spectrum_matches(matrix, reference):
    """The criteria of issue 15 for a symmetric matrix against its reference, with λmax the
    reference's largest eigenvalue: every reference eigenvalue λ_i >= 1e-6 λmax matched (in
    sorted order) within 1e-4 λ_i + 1e-6 λmax; the eigenvectors of eigenvalues >= 1e-4 λmax whose
    relative gap to both neighbours exceeds 1 % with |cos| >= 1 - 1e-4; the same count of
    eigenvalues below 1e-6 λmax. Returns the largest eigenvalue error / its bound and 1 - the
    smallest |cos|, as text."""
    ours, our_vectors = np.linalg.eigh(matrix)
    theirs, their_vectors = np.linalg.eigh(reference)
    top = theirs[-1]
    large = theirs >= 1e-6 * top
    bound = 1e-4 * np.abs(theirs) + 1e-6 * top
    ratio = np.abs(ours - theirs) / bound
    assert np.all(ratio[large] <= 1), (ratio[large].max(), theirs[large][ratio[large] > 1], ours[large][ratio[large] > 1])
    assert np.sum(ours < 1e-6 * top) == np.sum(~large), (ours[:np.sum(~large) + 1], theirs[:np.sum(~large) + 1], 1e-6 * top)
    cosines = []
    for i in np.flatnonzero(theirs >= 1e-4 * top):
        neighbours = theirs[[j for j in (i - 1, i + 1) if 0 <= j < len(theirs)]]
        if np.min(np.abs(neighbours - theirs[i])) > 0.01 * abs(theirs[i]):
            cosines.append(abs(our_vectors[:, i] @ their_vectors[:, i]))
    assert cosines and min(cosines) >= 1 - 1e-4, cosines
    return f"{ratio[large].max():.2e}", f"{1 - min(cosines):.1e}"


@pytest.mark.parametrize("name", with_reference("fim") or ["none"])
def test_fisher_matches_amici_reference(name):
    r"""AMICI's "FIM" (fim_nominal_*) is the Gauss–Newton matrix $\sum_i s_i s_i^\top$ of the
    weighted residuals, $s_i = \partial_\theta[(y_i - m_i)/\sigma_i]$ (../shared/reference/README).
    Two checks of our sensitivities against it (both solved at `tolerance(name)`):

    - the whole matrix against ours, $S^\top S$ with $S = J_d/\sigma - (d/\sigma^2) J_\sigma$
      from our Jacobians of the differences $d = h(y) - h(m)$ and of the noise scales;
    - our expected FIM (`fisher_from_sensitivities`, the formula of `fisher_information`) on
      the parameters that no noise formula names: $\sigma$ does not depend on them, so there
      $J_\sigma = 0$ and both matrices are $\sum_i \nabla d_i \nabla d_i^\top/\sigma_i^2$. On the
      noise parameters they differ by definition (the expected FIM has $2/\sigma^2\,\nabla\sigma
      \nabla\sigma^\top$ and no cross terms; the Gauss–Newton matrix has $-d/\sigma^3$ cross terms
      and $d^2/\sigma^4\,\nabla\sigma\nabla\sigma^\top$), so they are left out there.

    Criteria: those of the observed FIM (`assert_spectrum_matches`) and, as both sides are
    sensitivities (no difference quotient), the Frobenius norm of the difference within 1e-6 of
    the reference's (measured: 4e-12 Boehm, 8e-10 Fujita, 3e-9 Zheng, 1.3e-10 Bachmann). Both
    reject the wrong definitions: on Boehm our expected FIM on all nine parameters, or the
    Gauss–Newton matrix without the noise scales' derivative, is 6e-2 off (Frobenius)."""
    p = problem(name)
    out = derivatives(name)
    reference = reference_matrix("fim", p)
    weighted = out["j_d"] / out["s"][:, None] - (out["d"] / out["s"] ** 2)[:, None] * out["j_s"]
    gauss_newton = weighted.T @ weighted
    error = np.linalg.norm(gauss_newton - reference) / np.linalg.norm(reference)
    print(f"{name}: Gauss-Newton matrix, Frobenius {error:.2e}, eigenvalue error / bound, 1 - min |cos|:",
          *assert_spectrum_matches(gauss_newton, reference))
    assert error <= 1e-6

    noise = {q.strip() for cell in p.measurements["noiseParameters"].dropna().astype(str) for q in cell.split(";")}
    keep = [i for i, pid in enumerate(p.parameter_ids) if pid not in noise]
    assert 0 < len(keep)
    expected = np.asarray(fisher_from_sensitivities(out["j_d"], out["j_s"], out["s"], out["distribution"]))
    block, reference_block = expected[np.ix_(keep, keep)], reference[np.ix_(keep, keep)]
    error = np.linalg.norm(block - reference_block) / np.linalg.norm(reference_block)
    print(f"{name}: expected FIM on {len(keep)} of {p.n_params} parameters, Frobenius {error:.2e},",
          "eigenvalue error / bound, 1 - min |cos|:",
          *assert_spectrum_matches(block, reference_block))
    assert error <= 1e-6


@pytest.mark.parametrize("name", HESSIAN or ["none"])
def test_observed_fisher_matches_amici_hessian(name):
    """Our observed FIM (the exact Hessian of the NLL, forward over forward mode, as
    `observed_fisher_information` computes it) against AMICI's: central differences (step 1e-5)
    of its sensitivity gradient at rtol 1e-12, good to about 2e-7 λmax, by the criteria of
    `assert_spectrum_matches`. They tell the Hessian from its Gauss–Newton part: on Boehm the
    expected FIM misses an eigenvalue by 3600 times its bound."""
    p = problem(name)
    print(f"{name}: observed FIM, eigenvalue error / bound, 1 - min |cos|:",
          *assert_spectrum_matches(derivatives(name)["hessian"], reference_matrix("hess_fd", p)))
