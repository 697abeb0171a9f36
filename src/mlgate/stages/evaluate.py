"""The evaluate stage: the candidate against the champion, on the same validation rows."""

from __future__ import annotations

from typing import Any

from mlgate.results import EvaluateResult
from mlgate.rundir import PREDICTIONS_FILE
from mlgate.stages._session import Session


def run(session: Session) -> EvaluateResult:
    from mlgate.evaluation import evaluate

    session.ensure_data("evaluate")
    pipeline = session.ensure_model("evaluate")
    result, predictions = evaluate(session, pipeline)
    _save_predictions(session, session.frames["validation"], predictions)
    return result


def _save_predictions(session: Session, validation: Any, predictions: Any) -> None:
    import pandas as pd

    spec = session.project.spec
    keep = [*spec.id_columns, *spec.sensitive_features]
    table = validation[keep].copy() if keep else pd.DataFrame(index=validation.index)
    table["y_true"] = predictions.y_true
    table["y_pred"] = predictions.y_pred
    if predictions.scores is not None:
        for index, label in enumerate(predictions.classes):
            table[f"score_{label}"] = predictions.scores[:, index]
    table.to_csv(session.run_dir.file(PREDICTIONS_FILE), index=False)
