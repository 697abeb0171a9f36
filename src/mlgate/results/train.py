"""The train stage's result: the estimator, its parameters and what it was trained on."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from mlgate.results._base import STRICT, Number, StageResult, omit_if_none


@dataclass(frozen=True, kw_only=True)
class OnnxExport:
    """`export.onnx`: the pipeline as ONNX, and how closely onnxruntime agrees with it.

    Compared on every validation row: the classes' probabilities (a regressor's
    predictions) within `tolerance`, and the labels identical. `reason` says why the
    export failed (not convertible, or parity missed) and is None when it passed.
    """

    __pydantic_config__ = STRICT

    passed: bool
    tolerance: Number
    rows: int  # validation rows compared (0: it could not be converted, or not scored)
    reason: str | None = omit_if_none()
    # The numeric inputs' ONNX type: "double" when it converts and agrees, else "float".
    numeric_type: str | None = omit_if_none()
    max_abs_diff: Number | None = omit_if_none()  # noqa: RUF009
    worst_row: int | None = omit_if_none()  # 1-based validation row of max_abs_diff
    # The class whose probability differed most.
    worst_class: JsonValue = omit_if_none()  # noqa: RUF009
    labels_differing: int | None = omit_if_none()
    opset: int | None = omit_if_none()
    sha256: str | None = omit_if_none()  # of model.onnx as written


@dataclass(frozen=True, kw_only=True)
class TrainingImage:
    """`compute.docker_image`: the image the stage ran in, and what it held."""

    __pydantic_config__ = STRICT

    reference: str  # as the config names it
    # NAME@sha256:... (by_digest), or the local image id of an image never pushed.
    pinned: str
    by_digest: bool
    python: str
    packages: dict[str, str]  # the image's versions of the libraries the stage imports
    mlgate: str  # "image" (its own install) or "host wheel" (brought in by mlgate)


@dataclass(frozen=True, kw_only=True)
class SearchCandidate:
    """One candidate of `model.search`: its parameters and its cross-validated score."""

    __pydantic_config__ = STRICT

    params: dict[str, JsonValue]  # the searched parameters only
    score: Number  # mean over the folds, in the metric's own sense (rmse positive)
    score_std: Number
    rank: int  # 1 is the winner (ties share a rank)


@dataclass(frozen=True, kw_only=True)
class SearchRecord:
    """`model.search`: how the winner (`TrainResult.params`) was chosen."""

    __pydantic_config__ = STRICT

    kind: str  # grid or random
    metric: str
    cv: int  # folds
    where: str  # the Spark master the candidates were fitted on, or "local"
    best_params: dict[str, JsonValue]
    best_score: Number
    candidates: tuple[SearchCandidate, ...]


@dataclass(frozen=True, kw_only=True)
class TrainResult(StageResult):
    STAGE = "train"

    estimator: str
    estimator_class: str
    params: dict[str, JsonValue]  # the estimator's parameters; repr() where not JSON
    feature_columns: tuple[str, ...]
    code_paths: tuple[str, ...]
    config_sha256: str
    feature_spec_sha256: str
    training_seconds: Number
    warnings: tuple[str, ...]
    # SHA-256 of model.joblib as written: checked before the pickle is loaded again
    # (absent in files written before it was recorded).
    model_sha256: str | None = omit_if_none()
    # export.onnx: the conversion and its parity check (absent when export is off).
    onnx: OnnxExport | None = omit_if_none()  # noqa: RUF009
    # model.search: every candidate and its score (absent without a search).
    search: SearchRecord | None = omit_if_none()  # noqa: RUF009
    # compute.docker_image: where it trained (absent: on the machine mlgate ran on).
    image: TrainingImage | None = omit_if_none()  # noqa: RUF009
