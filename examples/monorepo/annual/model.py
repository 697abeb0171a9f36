"""The one- and two-year contracts' churn model: gradient boosting on the shared features."""

from __future__ import annotations

from common.features import with_shared_features
from sklearn.ensemble import GradientBoostingClassifier


def build(n_estimators: int = 100, max_depth: int = 3, random_state: int = 42):
    return with_shared_features(
        GradientBoostingClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=random_state
        )
    )
