"""What every churn model of this repository does to its inputs before its own estimator.

Both model factories (monthly/model.py and annual/model.py) wrap their estimator with
`with_shared_features`, so a change here changes both models, and `mlgate plan` selects
both. mlgate has already imputed the numeric columns and one-hot encoded the categorical
ones; these steps come after that, inside the model.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def with_shared_features(estimator: Any) -> Pipeline:
    """`estimator` behind the shared steps: every input scaled to mean 0, variance 1."""
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])
