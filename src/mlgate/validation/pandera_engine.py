"""Running a Pandera schema in place of a Great Expectations suite (`validation.engine: pandera`).

The schema is read from `validation.suite`: a YAML file (Pandera's own format, read with
`DataFrameSchema.from_yaml`) or `schema.py:schema`, a Python file of the model repo whose
attribute is a `DataFrameSchema`, a callable returning one, or a `DataFrameModel` class.
The Python file is the team's own code, trusted as a model factory is: it must lie inside
the model repository, and it is imported with the repository on `sys.path` so it can
share the repo's modules.

So that the report reads the same whichever engine ran, the schema is translated into the
expectations Great Expectations would run for it (`in_range(0, 72)` is
`expect_column_values_to_be_between` with `min_value 0, max_value 72`; `nullable: false`
is `expect_column_values_to_not_be_null`; `unique: true` is
`expect_column_values_to_be_unique`...). The translation decides which baseline checks
the schema already makes (`baseline.uncovered`), and one lazy `schema.validate` call
gives Pandera's failure cases, which become the same `Outcome`s the GE engine returns:
row counts, failing counts and the most frequent of the first failing values. A check
with no Great Expectations counterpart (a lambda, `str_length`) keeps Pandera's name.

Two checks mlgate registers with Pandera let a schema say what the drafted GE suite says:
`row_count_between(min_value, max_value)` on the table and `not_null_share(min_share)` on
a column (GE's `expect_column_values_to_not_be_null` with `mostly`).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError
from mlgate.validation.engine import Outcome
from mlgate.validation.suite import Expectation

INSTALL = "pip install 'mlgate[pandera]'"
ROW_COUNT = "expect_table_row_count_to_be_between"
COLUMN_SET = "expect_table_columns_to_match_set"
NOT_NULL = "expect_column_values_to_not_be_null"
UNIQUE = "expect_column_values_to_be_unique"
OF_TYPE = "expect_column_values_to_be_of_type"
EXISTS = "expect_column_to_exist"
_PY_ATTRIBUTE = re.compile(r"(?P<file>.+\.py):(?P<attribute>[A-Za-z_][A-Za-z0-9_]*)")


def pandera_module(what: str = "validation.engine: pandera") -> Any:
    """`pandera.pandas`, imported quietly; missing, a config error naming `what`."""
    try:
        with warnings.catch_warnings():
            # Pandera imports pyspark when present, which warns about pandas 3.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import pandera.pandas as pa
    except ImportError:
        raise ConfigError(
            f"{what} needs pandera; install it with `{INSTALL}`"
            + (" or set validation.engine: pandas" if what.startswith("validation.") else "")
        ) from None
    _register_checks()
    return pa


@lru_cache(maxsize=1)
def _register_checks() -> None:
    """mlgate's two checks, under names a YAML schema can use (registered once a process)."""
    import pandas as pd
    import pandera.extensions as extensions
    from pandera.api.checks import Check

    if not hasattr(Check, "row_count_between"):

        @extensions.register_check_method(
            statistics=["min_value", "max_value"], supported_types=pd.DataFrame
        )
        def row_count_between(frame: Any, *, min_value: Any = None, max_value: Any = None) -> bool:
            rows = len(frame.index)
            return (min_value is None or rows >= min_value) and (
                max_value is None or rows <= max_value
            )

    if not hasattr(Check, "not_null_share"):

        @extensions.register_check_method(statistics=["min_share"], supported_types=pd.Series)
        def not_null_share(values: Any, *, min_share: float) -> bool:
            return len(values.index) == 0 or float(values.notna().mean()) >= min_share


# --- reading the schema -------------------------------------------------------------------


def load_schema(project: Any, written: str) -> Any:
    """The `DataFrameSchema` that `validation.suite` names; a bad one is exit 2 naming the file."""
    pa = pandera_module()
    match = _PY_ATTRIBUTE.fullmatch(written)
    shown = match.group("file") if match else written
    path = project.location(shown)
    if not isinstance(path, Path):
        raise project.config_error(
            ("validation", "suite"), "the schema must be a file in the model repo, not a URI"
        )
    if not path.is_file():
        raise ConfigError(f"schema {shown} not found (looked in {path}); fix validation.suite")
    if match:
        schema = _from_python(project, path, match.group("attribute"), written)
        if isinstance(schema, type) and issubclass(schema, pa.DataFrameModel):
            try:  # a class-based schema: the DataFrameSchema it stands for
                schema = schema.to_schema()
            except Exception as exc:
                raise ConfigError(
                    f"Pandera cannot read {written}: {type(exc).__name__}: {_first_line(exc)}",
                    file=path,
                ) from None
    elif path.suffix.lower() in (".py",):
        raise ConfigError(
            f"name the schema in {shown} as {shown}:ATTRIBUTE (e.g. {shown}:schema)", file=path
        )
    else:
        schema = _from_yaml(pa, path)
    if not isinstance(schema, pa.DataFrameSchema):
        raise ConfigError(
            f"{written} is not a pandera DataFrameSchema (it gives {type(schema).__name__})",
            file=path,
        )
    for column in schema.columns.values():
        for check in column.checks:
            if check.name == "not_null_share":  # a share of nulls must see the nulls
                check.ignore_na = False
    return schema


def _from_yaml(pa: Any, path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read the Pandera schema: {_first_line(exc)}", file=path
        ) from None
    if isinstance(data, list) or (isinstance(data, dict) and "expectations" in data):
        raise ConfigError(
            "this is a Great Expectations suite, not a Pandera schema: run it with "
            "validation.engine: pandas, or name a Pandera schema "
            "(`mlgate init --engine pandera` drafts one)",
            file=path,
        )
    if not isinstance(data, dict) or not isinstance(data.get("columns"), (dict, list)):
        raise ConfigError(
            "not a Pandera YAML schema: expected a mapping with 'columns' "
            "(write one with `DataFrameSchema.to_yaml()` or `mlgate init --engine pandera`)",
            file=path,
        )
    try:
        return pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:  # Pandera raises KeyError, TypeError, its own errors...
        raise ConfigError(
            f"Pandera cannot read the schema: {type(exc).__name__}: {_first_line(exc)}", file=path
        ) from None


def _from_python(project: Any, path: Path, attribute: str, written: str) -> Any:
    root = Path(project.root).resolve()
    if not path.resolve().is_relative_to(root):
        raise ConfigError(
            f"{written} lies outside the model repository; mlgate imports only its own code"
        )
    relative = path.resolve().relative_to(root).with_suffix("").as_posix()
    name = "mlgate_schema_" + re.sub(r"\W", "_", relative)
    added = str(root) not in sys.path
    if added:  # the schema may import the repo's shared modules
        sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Imported as Python imports a module: dataclasses and Pandera's DataFrameModel
        # look their module up in sys.modules.
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the team's own code: any failure is theirs to fix
        sys.modules.pop(name, None)
        raise ConfigError(
            f"importing {path.name} raised {type(exc).__name__}: {_first_line(exc)}", file=path
        ) from None
    finally:
        if added:
            sys.path.remove(str(root))
    if not hasattr(module, attribute):
        raise ConfigError(
            f"{path.name} has no attribute '{attribute}' (validation.suite: {written})", file=path
        )
    schema = getattr(module, attribute)
    if callable(schema) and not hasattr(schema, "validate"):
        try:
            schema = schema()
        except (Exception, SystemExit) as exc:
            raise ConfigError(
                f"{written}() raised {type(exc).__name__}: {_first_line(exc)}", file=path
            ) from None
    return schema


# --- the schema as Great Expectations' expectations ---------------------------------------


@dataclass(frozen=True)
class Translated:
    """One expectation the schema makes, and where Pandera reports its failures."""

    expectation: Expectation
    where: tuple[Any, ...]  # ("check", column, n), ("frame", n), ("not_null", column), ...


def translate(schema: Any) -> list[Translated]:
    """The schema's checks as the expectations Great Expectations would run."""
    found: list[Translated] = []
    # The table's checks first, as a drafted suite lists its row count first.
    for number, check in enumerate(schema.checks):
        kind, kwargs = _check_expectation(check)
        found.append(_item(kind, ("frame", number), **kwargs))
    for name, column in schema.columns.items():
        before = len(found)
        name = str(name)
        if column.dtype is not None:
            found.append(_item(OF_TYPE, ("dtype", name), column=name, type_=str(column.dtype)))
        if column.unique:
            found.append(_item(UNIQUE, ("unique", name), column=name))
        if not column.nullable:
            found.append(_item(NOT_NULL, ("not_null", name), column=name))
        for number, check in enumerate(column.checks):
            kind, kwargs = _check_expectation(check)
            found.append(_item(kind, ("check", name, number), column=name, **kwargs))
        if len(found) == before and column.required:
            found.append(_item(EXISTS, ("exists", name), column=name))
    if schema.strict is True:
        columns = [str(name) for name in schema.columns]
        found.append(_item(COLUMN_SET, ("strict",), column_set=columns, exact_match=True))
    return found


def _item(kind: str, where: tuple[Any, ...], **kwargs: Any) -> Translated:
    return Translated(Expectation(kind, kwargs, "suite"), where)


def _check_expectation(check: Any) -> tuple[str, dict[str, Any]]:
    """A Pandera check as a GE expectation's name and arguments, when it has one."""
    name, stats = check.name, dict(check.statistics or {})
    between = "expect_column_values_to_be_between"
    if name == "in_range":
        kwargs = {"min_value": stats.get("min_value"), "max_value": stats.get("max_value")}
        if stats.get("include_min") is False:
            kwargs["strict_min"] = True
        if stats.get("include_max") is False:
            kwargs["strict_max"] = True
        return between, kwargs
    if name in ("greater_than_or_equal_to", "greater_than"):
        strict = {"strict_min": True} if name == "greater_than" else {}
        return between, {"min_value": stats.get("min_value"), **strict}
    if name in ("less_than_or_equal_to", "less_than"):
        strict = {"strict_max": True} if name == "less_than" else {}
        return between, {"max_value": stats.get("max_value"), **strict}
    if name == "isin":
        return "expect_column_values_to_be_in_set", {"value_set": list(stats["allowed_values"])}
    if name == "equal_to":
        return "expect_column_values_to_be_in_set", {"value_set": [stats.get("value")]}
    if name == "notin":
        return "expect_column_values_to_not_be_in_set", {
            "value_set": list(stats["forbidden_values"])
        }
    if name in ("str_matches", "str_contains"):
        pattern = stats.get("pattern")
        return "expect_column_values_to_match_regex", {
            "regex": getattr(pattern, "pattern", pattern)
        }
    if name == "not_null_share":
        return NOT_NULL, {"mostly": stats.get("min_share")}
    if name == "row_count_between":
        bounds = {k: stats.get(k) for k in ("min_value", "max_value")}
        return ROW_COUNT, {k: v for k, v in bounds.items() if v is not None}
    return str(name or check.error or "check"), {
        key: getattr(value, "pattern", value) for key, value in stats.items()
    }


# --- running it ----------------------------------------------------------------------------


def run(
    frame: Any, schema: Any, translated: list[Translated], *, sample_size: int
) -> list[Outcome]:
    """Validate `frame` with the schema (lazily: every failure), as GE-engine outcomes."""
    if not translated:
        return []
    pa = pandera_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            schema.validate(frame, lazy=True, inplace=False)
            cases = None
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
        except Exception as exc:  # a check that cannot run on this data
            message = f"pandera could not run the schema: {type(exc).__name__}: {_first_line(exc)}"
            return [Outcome(item.expectation, False, exception=message) for item in translated]
    return _outcomes(frame, translated, cases, max(sample_size, 1))


def _outcomes(frame: Any, translated: list[Translated], cases: Any, limit: int) -> list[Outcome]:
    from mlgate.validation.baseline import most_common

    rows = len(frame.index)
    groups = _group(cases)
    missing = {str(case) for _, case in groups.get(("column_in_dataframe",), [])}
    extra = [str(case) for _, case in groups.get(("column_in_schema",), [])]
    outcomes = []
    for item in translated:
        expectation, where = item.expectation, item.where
        column = expectation.kwargs.get("column")
        if where[0] == "strict":
            mismatched = {
                key: names
                for key, names in (("unexpected", sorted(extra)), ("missing", sorted(missing)))
                if names
            }
            present = sorted(str(name) for name in frame.columns)
            outcomes.append(
                Outcome(expectation, not mismatched, observed_value=present, mismatched=mismatched)
            )
            continue
        if column is not None and column in missing:
            outcomes.append(
                Outcome(
                    expectation,
                    False,
                    exception=f'The column "{column}" in BatchData does not exist.',
                )
            )
            continue
        if where[0] == "exists":
            outcomes.append(Outcome(expectation, True))
            continue
        if expectation.type == ROW_COUNT and where[0] == "frame":
            failed = where in groups
            outcomes.append(Outcome(expectation, not failed, observed_value=rows))
            continue
        failures = groups.get(where, [])
        if where[0] == "dtype":
            observed = str(frame[column].dtype)
            outcomes.append(
                Outcome(
                    expectation, not failures, observed_value=None if not failures else observed
                )
            )
            continue
        if column is None:  # a table check of the team's: passed or not, no rows to count
            outcomes.append(Outcome(expectation, not failures))
            continue
        values = frame[column]
        nulls = int(values.isna().sum())
        if expectation.type == NOT_NULL:
            # Pandera reports one case per null, or one False for `not_null_share`.
            outcomes.append(
                Outcome(
                    expectation,
                    rows == 0 or not failures,
                    element_count=rows,
                    unexpected_count=nulls,
                    samples=[(None, min(nulls, limit))] if nulls else [],
                )
            )
            continue
        located = [index for index, _ in failures if index is not None]
        if failures and not located:  # an aggregate check: one False for the column
            outcomes.append(Outcome(expectation, False, element_count=rows))
            continue
        shown = _values_at(values, located[:limit], [case for _, case in failures[:limit]])
        outcomes.append(
            Outcome(
                expectation,
                rows == 0 or not located,
                element_count=rows,
                unexpected_count=len(located),
                missing_count=nulls,
                samples=most_common(shown, limit) if located else [],
            )
        )
    # Failures of what the translation does not list (an index, a multi-column `unique`).
    for key, failures in groups.items():
        if key[0] not in ("other", "frame-other"):
            continue
        check = key[-1]
        kwargs = {"column": key[1]} if key[0] == "other" else {}
        located = [index for index, _ in failures if index is not None]
        outcomes.append(
            Outcome(
                Expectation(check, kwargs, "suite"),
                False,
                element_count=rows if located else None,
                unexpected_count=len(located) if located else None,
                samples=most_common([case for _, case in failures[:limit]], limit),
            )
        )
    return outcomes


def _group(cases: Any) -> dict[tuple[Any, ...], list[tuple[Any, Any]]]:
    """Pandera's failure cases by where they come from: {where: [(row index, value)]}."""
    import pandas as pd

    groups: dict[tuple[Any, ...], list[tuple[Any, Any]]] = {}
    if cases is None:
        return groups
    for record in cases.to_dict("records"):
        context, column, check = record["schema_context"], record["column"], str(record["check"])
        number, index = record["check_number"], record["index"]
        index = None if index is None or (not isinstance(index, str) and pd.isna(index)) else index
        has_number = number is not None and not pd.isna(number)
        if check in ("column_in_dataframe", "column_in_schema"):
            key: tuple[Any, ...] = (check,)
        elif context == "DataFrameSchema":
            key = ("frame", int(number)) if has_number else ("frame-other", check)
        elif check == "not_nullable":
            key = ("not_null", str(column))
        elif check == "field_uniqueness":
            key = ("unique", str(column))
        elif check.startswith(("dtype(", "coerce_dtype(")):
            key = ("dtype", str(column))
        elif has_number:
            key = ("check", str(column), int(number))
        else:
            key = ("other", str(column), check)
        groups.setdefault(key, []).append((index, record["failure_case"]))
    return groups


def _values_at(values: Any, indices: list[Any], fallback: list[Any]) -> list[Any]:
    """The failing values as the frame holds them (Pandera's failure cases lose the dtype)."""
    try:
        return values.loc[indices].tolist() if values.index.is_unique else fallback
    except (KeyError, TypeError):
        return fallback


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
