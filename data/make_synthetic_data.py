"""Make the synthetic measurement tables of the shipped example problems (seeded, reproducible).

Run from the repository root: `python data/make_synthetic_data.py`. Each table is simulated at
the nominal parameters of its problem (the "true" values) plus normal noise with the problem's
own noise scales, drawn from `numpy.random.default_rng(SEED)`.
"""

import os

import numpy as np
import pandas as pd

import fimflow

SEED = 20261125
HERE = os.path.dirname(os.path.abspath(__file__))

DESIGNS = {
    # problem folder: (observables, conditions, times); the PK noise is a known sigma
    "pk_fixed_dose": (("C",), ("bolus",), (0.5, 1, 2, 4, 6, 8, 12, 24), "0.1"),
    "cascade": (
        ("C_obs", "Kp_obs", "G_obs"),
        ("low_dose", "mid_dose", "high_dose"),
        (0.5, 1, 2, 4, 8, 12, 24, 36, 48),
        "",
    ),
}


def design_table(observables, conditions, times, noise) -> pd.DataFrame:
    rows = [
        {"observableId": o, "simulationConditionId": c, "time": t, "measurement": 1.0, "noiseParameters": noise}
        for c in conditions
        for o in observables
        for t in times
    ]
    return pd.DataFrame(rows)


def main() -> None:
    fimflow.enable_float64()
    rng = np.random.default_rng(SEED)
    for folder, (observables, conditions, times, noise) in DESIGNS.items():
        path = os.path.join(HERE, folder, "measurements.tsv")
        design_table(observables, conditions, times, noise).to_csv(path, sep="\t", index=False)
        problem = fimflow.load_problem(os.path.join(HERE, folder, "problem.yaml"))
        table = fimflow.simulate_measurements(problem)
        sigma = np.asarray(fimflow.Objective.from_problem(problem).noise(problem.parameters.nominal_theta()))
        table["measurement"] = table["simulation"] + sigma * rng.standard_normal(len(table))
        table.drop(columns="simulation").to_csv(path, sep="\t", index=False, float_format="%.10g")
        print(f"wrote {path} ({len(table)} rows)")


if __name__ == "__main__":
    main()
