"""The feature spec: what each column of the data is.

A column is a feature (model input), a sensitive feature (kept out of the model
unless allowed, always given to the fairness gate), an id column (never used)
or the target.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlgate.config import Section

ColumnType = Literal["numeric", "integer", "categorical", "boolean"]
COLUMN_TYPES: tuple[str, ...] = ("numeric", "integer", "categorical", "boolean")
Label = str | int | float | bool


class Column(Section):
    type: ColumnType
    nullable: bool = False
    values: list[Label] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.values is not None:
            if self.type not in ("categorical", "boolean"):
                raise ValueError(f"'values' applies to categorical columns, not {self.type}")
            if not self.values:
                raise ValueError("'values' is empty; list the known categories or leave it out")
        if (self.min is not None or self.max is not None) and self.type not in (
            "numeric",
            "integer",
        ):
            raise ValueError(f"'min' and 'max' apply to numeric columns, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in ("numeric", "integer")


class SensitiveColumn(Column):
    bins: list[float] | None = None
    # Sensitive features stay out of the model unless the team decides otherwise.
    use_in_model: bool = False

    @model_validator(mode="after")
    def _binned(self) -> SensitiveColumn:
        if self.bins is not None:
            if not self.is_numeric:
                raise ValueError("'bins' apply to numeric sensitive features only")
            if len(self.bins) < 2 or any(
                left >= right for left, right in zip(self.bins, self.bins[1:], strict=False)
            ):
                raise ValueError("'bins' must be at least two increasing edges, e.g. [18, 30, 65]")
        elif self.is_numeric:
            raise ValueError(
                "a numeric sensitive feature needs 'bins' to form groups, "
                "e.g. bins: [18, 30, 45, 65, 120]"
            )
        return self


def _expand_shorthand(columns: Any) -> Any:
    """`tenure: numeric` is short for `tenure: {type: numeric}`."""
    if isinstance(columns, dict):
        return {
            name: {"type": value} if isinstance(value, str) else value
            for name, value in columns.items()
        }
    return columns


class FeatureSpec(Section):
    target: str = Field(min_length=1)
    positive_label: Label | None = None
    task: Literal["classification", "regression"] | None = None
    id_columns: list[str] = Field(default_factory=list)
    features: dict[str, Column] = Field(min_length=1)
    sensitive_features: dict[str, SensitiveColumn] = Field(default_factory=dict)

    _expand_features = field_validator("features", "sensitive_features", mode="before")(
        lambda cls, value: _expand_shorthand(value)
    )

    @property
    def model_inputs(self) -> dict[str, Column]:
        """The columns the model sees, in a stable order."""
        inputs: dict[str, Column] = dict(self.features)
        inputs.update({n: c for n, c in self.sensitive_features.items() if c.use_in_model})
        return inputs

    @property
    def required_columns(self) -> list[str]:
        return [
            self.target,
            *self.id_columns,
            *self.features,
            *self.sensitive_features,
        ]
