"""The README's "From Python" block runs exactly as printed, and says what it claims."""

import os
import re
import subprocess
import sys

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow  # a whole small study: fit, FIM, profile, predictions, design (~1-2 min)


def readme_block(heading: str) -> str:
    """The first ```python block after `heading` in README.md."""
    with open(os.path.join(REPO, "README.md")) as handle:
        text = handle.read()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_block_is_the_whole_path():
    block = readme_block("## From Python")
    # load -> fit -> FIM -> identifiability -> profile -> predict -> design -> validate, in a dozen lines
    for call in ("load_problem(", ".fit(", ".best(", ".fisher(", ".identifiability(", ".profile(", ".predict(",
                 ".design(", ".validate("):
        assert call in block, call
    assert len([line for line in block.splitlines() if line.strip()]) <= 12


def test_the_readme_block_runs_as_printed():
    block = readme_block("## From Python")
    # checks after the block, in its namespace, against paths the block does not take
    checks = (
        "\nimport numpy as np\n"
        "problem = study.problem\n"
        # the best fit's NLL is the log-likelihood evaluated afresh at its x
        "assert abs(best.nll + fimflow.log_likelihood(problem, best.x)) < 1e-8 * max(1, abs(best.nll))\n"
        # its x on the linear scale is the table's transform of x
        "assert np.allclose(best.x_linear, [10 ** v if s == 'log10' else np.exp(v) if s == 'log' else v\n"
        "                                   for v, s in zip(best.x, best.scales)], rtol=1e-14)\n"
        "assert list(verdicts['parameterId']) == list(problem.parameter_ids)\n"
        "assert profile.lower < best.x[list(problem.parameter_ids).index('V')] < profile.upper\n"
        "assert len(design.design) == 8 and set(bands['prediction']) and len(shares)\n"
        "assert check.summary()['n_used'] == 50 and set(check.design_check['design']) == {'current', 'designed', 'actual data'}\n"
        "print('CHECKED')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    run = subprocess.run([sys.executable, "-c", block + checks], cwd=REPO, capture_output=True, text=True, env=env,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.rstrip().endswith("CHECKED")
    assert re.search(r"\bV +identifiable", run.stdout)  # the printed verdicts (the dose is fixed: V and CL are)
