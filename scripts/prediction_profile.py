"""Prediction profile likelihoods (Kreutz et al. 2012) of one named prediction at some of its times."""

from typing import TYPE_CHECKING

import fimflow
from fimflow import results
from fimflow.workflow import calibration, options_from_config, start_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = start_job(snakemake.log[0], snakemake.params.compile_cache)
options = options_from_config(snakemake.params.study)
study = calibration(snakemake.input.problem, snakemake.wildcards.problem, options)
spec = next(s for s in study.predictions(snakemake.params.predictions) if s.id == snakemake.wildcards.prediction)
times = fimflow.spread_times(spec.times, options.profile_points)
bands = study.prediction_profiles(results.read_best_fit(snakemake.input.best), [spec], times=times,
                                  options=options.prediction_profiles)
log.info("%s: %d prediction profiles", spec.id, len(bands))
results.write_table(snakemake.output.profile, bands)
