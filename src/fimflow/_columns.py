"""Column names of the data tables, in PEtab vocabulary (one place for all of them)."""

# measurement table
OBSERVABLE_ID = "observableId"
SIMULATION_CONDITION_ID = "simulationConditionId"
TIME = "time"
MEASUREMENT = "measurement"
NOISE_PARAMETERS = "noiseParameters"
SIMULATION = "simulation"

# parameter table
PARAMETER_ID = "parameterId"
PARAMETER_SCALE = "parameterScale"
LOWER_BOUND = "lowerBound"
UPPER_BOUND = "upperBound"
NOMINAL_VALUE = "nominalValue"
ESTIMATE = "estimate"

# condition table
CONDITION_ID = "conditionId"

# observable table
NOISE_FORMULA = "noiseFormula"
OBSERVABLE_TRANSFORMATION = "observableTransformation"
NOISE_DISTRIBUTION = "noiseDistribution"

MEASUREMENT_REQUIRED = (OBSERVABLE_ID, SIMULATION_CONDITION_ID, TIME, MEASUREMENT)
PARAMETER_REQUIRED = (
    PARAMETER_ID,
    PARAMETER_SCALE,
    LOWER_BOUND,
    UPPER_BOUND,
    NOMINAL_VALUE,
    ESTIMATE,
)

SCALES = ("lin", "log", "log10")
TRANSFORMATIONS = ("lin", "log", "log10")
DISTRIBUTIONS = ("normal", "laplace")
