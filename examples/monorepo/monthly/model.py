"""The month-to-month customers' churn model: a logistic regression on the shared features."""

from __future__ import annotations

from common.features import with_shared_features
from sklearn.linear_model import LogisticRegression


def build(C: float = 1.0, max_iter: int = 1000):
    return with_shared_features(LogisticRegression(C=C, max_iter=max_iter))
