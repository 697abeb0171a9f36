"""mlgate: CI/CD for machine-learning models.

The package is organised as a pure core (config models, gate verdicts, fingerprints)
with the outside world (files, scikit-learn, MLflow, git) behind small modules.
Heavy libraries are imported inside the stage that needs them, so importing
`mlgate` and running `mlgate --help` stay fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
