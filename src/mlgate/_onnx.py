"""`export.onnx`: the trained pipeline as ONNX, and its parity with scikit-learn.

The whole pipeline (imputer, one-hot encoder, estimator) is converted by skl2onnx, one
ONNX input per feature column: a categorical column as a string tensor, a numeric one
as doubles where the converted model loads and agrees, else as floats (tree ensembles
in ONNX's ML opset compute in float). onnxruntime then scores every validation row and
the answers are compared with the pipeline's own: probabilities (a regressor's
predictions) within the tolerance, labels identical. The serving image
(`serving.flavor: onnx`) feeds the model the same way, from the same input types.

skl2onnx, onnxruntime and onnx are the `mlgate[onnx]` extra, imported only here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.errors import ConfigError
from mlgate.results.train import OnnxExport

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EXTRA = "pip install 'mlgate[onnx]'"
PACKAGES = ("skl2onnx", "onnxruntime", "onnx")
# Tried in this order: doubles match scikit-learn's own arithmetic exactly.
NUMERIC_TYPES = ("double", "float")
# The model's metadata key for the table's column names, one per ONNX input in order:
# skl2onnx makes input names safe identifiers ("od280/od315" becomes "od280_od315").
COLUMNS_KEY = "table_columns"
# What a missing category is fed as: skl2onnx writes the encoder's category for missing
# values as the text "nan", so a row with none is encoded as scikit-learn encodes it when
# training saw missing values, and ignored (handle_unknown="ignore") when it did not.
MISSING_TEXT = "nan"


@dataclass(frozen=True)
class Exported:
    """The converted model (None when it could not be converted) and its record."""

    model: bytes | None
    record: OnnxExport


def require_packages(key: str) -> None:
    """A one-line ConfigError naming `key` when the onnx extra is not installed."""
    import importlib

    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(
                f"needs {', '.join(PACKAGES)}, and {name} cannot be imported "
                f"({type(error).__name__}): {EXTRA}",
                key=key,
            ) from None


def export(
    pipeline: Any,
    training: pd.DataFrame,
    validation: pd.DataFrame,
    numeric_columns: list[str],
    *,
    classification: bool,
    tolerance: float,
) -> Exported:
    """Convert `pipeline` and check it on `validation` (its feature columns, in order)."""
    require_packages("export.onnx")
    failures: list[tuple[tuple[int, float], Exported]] = []
    reasons: list[str] = []
    for numeric_type in NUMERIC_TYPES:
        try:
            model = _convert(pipeline, training, numeric_columns, numeric_type, classification)
            session = _session(model.SerializeToString())
        except Exception as error:  # skl2onnx and onnxruntime raise many kinds: each a reason
            reasons.append(f"skl2onnx cannot convert this pipeline: {_first_sentence(error)}")
            continue
        try:
            record = _parity(pipeline, session, validation, classification, tolerance)
        except Exception as error:  # e.g. a column the converted model cannot take
            reasons.append(
                f"onnxruntime cannot score the validation rows: {_first_sentence(error)}"
            )
            continue
        record = _with(record, numeric_type=numeric_type, opset=_opset(model))
        exported = Exported(model.SerializeToString(), record)
        if record.passed:
            return exported
        failures.append(((record.labels_differing or 0, record.max_abs_diff or 0.0), exported))
    if failures:  # converted, but neither input type agrees: the closer one is reported
        return min(failures, key=lambda item: item[0])[1]
    # Floats, tried last, are what skl2onnx supports most widely: their reason is shown.
    return Exported(None, OnnxExport(passed=False, tolerance=tolerance, rows=0, reason=reasons[-1]))


def feeds(frame: pd.DataFrame, session: Any) -> dict[str, np.ndarray]:
    """The session's inputs from a table: one [rows, 1] array per ONNX input, by its type.

    The serving image (`serving/image/onnx_model.py`) does the same from JSON rows.
    """
    import json

    import numpy as np

    inputs = session.get_inputs()
    meta = session.get_modelmeta().custom_metadata_map
    names = json.loads(meta[COLUMNS_KEY]) if COLUMNS_KEY in meta else [i.name for i in inputs]
    fed = {}
    for item, name in zip(inputs, names, strict=True):
        column = frame[name]
        if item.type == "tensor(string)":
            missing = column.isna().to_numpy()
            values = column.astype(str).to_numpy(dtype=object)
            values[missing] = MISSING_TEXT
        elif item.type == "tensor(float)":
            values = column.to_numpy(dtype=np.float32, na_value=np.nan)
        elif item.type == "tensor(int64)":
            values = column.to_numpy(dtype=np.int64)
        else:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        fed[item.name] = values.reshape(-1, 1)
    return fed


def _convert(
    pipeline: Any,
    training: pd.DataFrame,
    numeric_columns: list[str],
    numeric_type: str,
    classification: bool,
) -> Any:
    import json

    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    _register_double_imputer()
    numeric = DoubleTensorType if numeric_type == "double" else FloatTensorType
    initial_types = []
    for name in training.columns:
        dtype = training[name].dtype
        if name in numeric_columns:
            kind: Any = numeric
        elif pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            kind = Int64TensorType  # a categorical column of whole numbers
        elif pd.api.types.is_float_dtype(dtype):
            kind = numeric
        else:
            kind = StringTensorType
        initial_types.append((str(name), kind([None, 1])))
    options = {id(pipeline.steps[-1][1]): {"zipmap": False}} if classification else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converter notes are not findings about the model
        model = convert_sklearn(pipeline, initial_types=initial_types, options=options)
    entry = model.metadata_props.add()
    entry.key, entry.value = COLUMNS_KEY, json.dumps([str(name) for name in training.columns])
    return model


def _register_double_imputer() -> None:
    """SimpleImputer on doubles as IsNaN and Where: onnxruntime's Imputer takes floats only.

    Other inputs (floats, integers, strings) keep skl2onnx's own converter.
    """
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import OnnxIsNaN, OnnxWhere
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from sklearn.impute import SimpleImputer

    def convert(scope: Any, operator: Any, container: Any) -> None:
        import numpy as np

        imputer = operator.raw_operator
        doubles = len(operator.inputs) == 1 and isinstance(
            operator.inputs[0].type, DoubleTensorType
        )
        missing = imputer.missing_values
        if not doubles or not (isinstance(missing, float) and np.isnan(missing)):
            convert_sklearn_imputer(scope, operator, container)
            return
        version = container.target_opset
        features = operator.inputs[0]
        fill = imputer.statistics_.astype(np.float64).reshape(1, -1)
        filled = OnnxWhere(
            OnnxIsNaN(features, op_version=version),
            fill,
            features,
            op_version=version,
            output_names=operator.outputs[:1],
        )
        filled.add_to(scope, container)

    update_registered_converter(
        SimpleImputer,
        "SklearnSimpleImputer",
        calculate_sklearn_imputer_output_shapes,
        convert,
        overwrite=True,
    )


def _session(model: bytes) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: a warning must not reach the user's log
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _parity(
    pipeline: Any,
    session: Any,
    validation: pd.DataFrame,
    classification: bool,
    tolerance: float,
) -> OnnxExport:
    import numpy as np

    outputs = session.run(None, feeds(validation, session))
    rows = len(validation)
    if not classification:
        expected = np.asarray(pipeline.predict(validation), dtype=np.float64).reshape(rows, -1)
        got = np.asarray(outputs[0], dtype=np.float64).reshape(rows, -1)
        return _compare(expected, got, tolerance, rows, None, None)
    labels = np.asarray(outputs[0]).ravel()
    expected_labels = np.asarray(pipeline.predict(validation)).ravel()
    differing = _differing(expected_labels, labels)
    expected = got = None
    if len(outputs) > 1 and hasattr(pipeline, "predict_proba"):
        expected = np.asarray(pipeline.predict_proba(validation), dtype=np.float64)
        got = np.asarray(outputs[1], dtype=np.float64).reshape(expected.shape)
    record = _compare(expected, got, tolerance, rows, list(pipeline.classes_), differing)
    if differing.size:
        first = int(differing[0])
        reason = (
            f"ONNX labels differ from scikit-learn's on {differing.size:,} of {rows:,} "
            f"validation rows (first: row {first + 1}, {_plain(labels[first])!r} instead of "
            f"{_plain(expected_labels[first])!r})"
        )
        if record.reason:
            reason += f"; {record.reason}"
        record = _with(record, passed=False, reason=reason)
    return record


def _compare(
    expected: np.ndarray | None,
    got: np.ndarray | None,
    tolerance: float,
    rows: int,
    classes: list[Any] | None,
    differing: np.ndarray | None,
) -> OnnxExport:
    import numpy as np

    labels_differing = None if differing is None else int(differing.size)
    if expected is None or got is None or rows == 0:
        return OnnxExport(
            passed=not labels_differing,
            tolerance=tolerance,
            rows=rows,
            labels_differing=labels_differing,
        )
    gap = np.abs(expected - got)
    gap[np.isnan(expected) & np.isnan(got)] = 0.0
    gap[np.isnan(gap)] = np.inf  # one side NaN, the other not: as far apart as can be
    row, column = np.unravel_index(int(np.argmax(gap)), gap.shape)
    worst = float(gap[row, column])
    worst_class = _plain(classes[column]) if classes is not None else None
    passed = worst <= tolerance and not labels_differing
    reason = None
    if worst > tolerance:
        what = "probabilities" if classes is not None else "predictions"
        where = f"class {worst_class!r} on " if classes is not None else ""
        reason = (
            f"ONNX {what} differ from scikit-learn's by up to {worst:.3g} ({where}validation "
            f"row {row + 1}), above export.onnx_tolerance {tolerance:g}"
        )
    return OnnxExport(
        passed=passed,
        tolerance=tolerance,
        rows=rows,
        reason=reason,
        max_abs_diff=worst if np.isfinite(worst) else None,
        worst_row=int(row) + 1,
        worst_class=worst_class,
        labels_differing=labels_differing,
    )


def _differing(expected: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Positions where the labels differ (compared as text when their types differ)."""
    import numpy as np

    if expected.dtype.kind != got.dtype.kind:
        expected, got = expected.astype(str), got.astype(str)
    return np.flatnonzero(expected != got)


def _with(record: OnnxExport, **changes: Any) -> OnnxExport:
    import dataclasses

    return dataclasses.replace(record, **changes)


def _opset(model: Any) -> int | None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def _first_sentence(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    sentence = text.split(". ", 1)[0].rstrip(".")
    return f"{type(error).__name__}: {sentence[:300]}"


def _plain(value: Any) -> Any:
    """numpy scalars as plain Python values, for JSON."""
    return value.item() if hasattr(value, "item") else value
