"""Problems of the public PEtab benchmark collection beyond the eight of the derivative and
likelihood references (`../shared/benchmark_collection`, issue 17): each loads, and its simulation
at the nominal parameters reproduces the collection's simulated-data table."""

import os

import numpy as np
import pandas as pd
import pytest

import fimflow
from conftest import SHARED

COLLECTION = os.path.join(SHARED, "benchmark_collection")
# problems whose simulated-data table is a simulation at the nominal parameters, and what each
# exercises (the collection's README); the others come with the features they need
SIMULATED_AT_NOMINAL = {
    "Raia_CancerResearch2011": "noise formulas with observable placeholders and model states",
}

pytestmark = [pytest.mark.slow,  # real collection problems: tens of seconds each
              pytest.mark.skipif(not os.path.isdir(COLLECTION), reason=f"{COLLECTION} not found")]


@pytest.mark.parametrize("name", sorted(SIMULATED_AT_NOMINAL))
def test_simulation_at_nominal_reproduces_the_collections_table(name):
    folder = os.path.join(COLLECTION, name)
    problem = fimflow.load_petab(os.path.join(folder, f"{name}.yaml"))
    table = fimflow.simulate_measurements(problem)
    reference = pd.read_csv(os.path.join(folder, f"simulatedData_{name}.tsv"), sep="\t")
    assert len(table) == len(reference)
    # row by row (the collection's tables may spell observable ids otherwise: conditions and times align)
    assert list(table["simulationConditionId"].astype(str)) == list(reference["simulationCondition"].astype(str))
    np.testing.assert_allclose(table["time"], reference["time"].astype(float), rtol=0, atol=0)
    np.testing.assert_allclose(table["simulation"], reference["simulation"], rtol=1e-5, atol=1e-8)
    assert np.isfinite(fimflow.log_likelihood(problem))
