"""mlgate: CI/CD for machine-learning models.

The package is organised as a pure core (config models, gate verdicts, fingerprints)
with the outside world (files, scikit-learn, MLflow, git) behind small modules.
Heavy libraries are imported inside the stage that needs them, and the public
names below are imported on first use, so `import mlgate` and `mlgate --help`
stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

# public name -> the module of this package that defines it
_PUBLIC = {
    "load_project": "project",
    "find_config": "project",
    "Project": "project",
    "Config": "config",
    "FeatureSpec": "featurespec",
    "MlgateError": "errors",
    "ConfigError": "errors",
    "InputError": "errors",
    "ServiceError": "errors",
    "main": "cli",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'mlgate' has no attribute {name!r}")
