"""`validation.engine: pandera`: a Pandera schema in place of a Great Expectations suite.

The same corrupted copies of the churn example's files go through both engines: once
with the example's GE suite, once with a Pandera schema that says the same, and once
with the suite and schema `mlgate init` drafts. Both engines must report the same
failures (same columns, expectations, reasons, counts, messages and samples).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.test_bad_inputs import set_key

pytest.importorskip("pandera", reason="pandera is the optional `pandera` extra")

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

VALIDATION = "data/validation.csv"

# What the example's GE suite (expectations/churn.yml) checks, plus a column the spec does
# not declare (so that a missing column reaches the engines rather than the data loader)
# and a type check; SCHEMA_PY says the same in Pandera.
EXTRA_GE = [
    {"expect_column_values_to_be_in_set": {"column": "region", "value_set": ["north", "south"]}},
    {"expect_column_values_to_be_of_type": {"column": "tenure_months", "type_": "int64"}},
]
SCHEMA_PY = """
import pandera.pandas as pa


def schema():
    maybe = {"nullable": True}
    return pa.DataFrameSchema(
        {
            "customer_id": pa.Column(
                unique=True, **maybe, checks=pa.Check.str_matches(r"^C[0-9]{6}$")
            ),
            "age": pa.Column(**maybe, checks=pa.Check.in_range(18, 100)),
            "monthly_charges": pa.Column(
                **maybe,
                checks=[
                    pa.Check.in_range(10, 250),
                    pa.Check.not_null_share(min_share=0.9, ignore_na=False),
                ],
            ),
            "support_calls": pa.Column(**maybe, checks=pa.Check.le(20)),
            "churned": pa.Column(**maybe, checks=pa.Check.isin(["yes", "no"])),
            "total_charges": pa.Column(
                **maybe, checks=pa.Check.not_null_share(min_share=0.9, ignore_na=False)
            ),
            "region": pa.Column(**maybe, checks=pa.Check.isin(["north", "south"])),
            "tenure_months": pa.Column("int64", **maybe),
        }
    )
"""


def _rows(change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Callable[[Path], None]:
    def corrupt(repo: Path) -> None:
        path = repo / VALIDATION
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        changed = change(frame)
        (frame if changed is None else changed).to_csv(path, index=False)

    return corrupt


def _set(column: str, rows: slice, value: str) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        frame.loc[rows, column] = value

    return change


def _all(*changes: Callable[[pd.DataFrame], None]) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        for one in changes:
            one(frame)

    return change


CORRUPTIONS = {
    "missing column": _rows(lambda frame: frame.drop(columns=["region"])),
    "missing spec column": _rows(lambda frame: frame.drop(columns=["tenure_months"])),
    "nulls in required columns": _rows(
        _all(_set("tenure_months", slice(0, 29), ""), _set("customer_id", slice(40, 44), ""))
    ),
    "out-of-range numbers": _rows(
        _all(
            _set("monthly_charges", slice(0, 6), "500"),
            _set("support_calls", slice(10, 12), "30"),
            _set("num_products", slice(20, 20), "9"),
            _set("age", slice(30, 31), "7"),
        )
    ),
    "unknown categories": _rows(
        _all(
            _set("plan", slice(0, 4), "gold"),
            _set("gender", slice(5, 7), "x"),
            _set("region", slice(8, 8), "east"),
        )
    ),
    "wrong type": _rows(_set("tenure_months", slice(0, 2), "12.5")),
    "wrong type (text)": _rows(_set("age", slice(0, 3), "old")),
    "duplicate and malformed ids": _rows(
        _all(_set("customer_id", slice(0, 3), "C000001"), _set("customer_id", slice(9, 9), "X1"))
    ),
    "too many nulls": _rows(_set("monthly_charges", slice(0, 300), "")),
}


def _prepare(repo: Path) -> None:
    """The example with a `region` column, its suite and an equal Pandera schema."""
    for name in ("data/train.csv", VALIDATION):
        frame = pd.read_csv(repo / name, dtype=str, keep_default_na=False)
        frame["region"] = ["north", "south"] * (len(frame.index) // 2) + ["north"] * (
            len(frame.index) % 2
        )
        frame.to_csv(repo / name, index=False)
    suite = yaml.safe_load((repo / "expectations/churn.yml").read_text(encoding="utf-8"))
    (repo / "expectations/churn.yml").write_text(yaml.safe_dump(suite + EXTRA_GE))
    (repo / "schema.py").write_text(SCHEMA_PY)


def _validate(cli, repo: Path, engine: str, suite: str, run: str) -> tuple[int, str, dict | None]:
    set_key(
        repo,
        "mlgate.yaml",
        "validation",
        {"engine": engine, "suite": suite, "drift": {"enabled": False}},
    )
    result = cli("validate", "--run-dir", f".mlgate/runs/{run}", cwd=repo)
    path = repo / ".mlgate/runs" / run / "validate.json"
    recorded = json.loads(path.read_text()) if path.is_file() else None
    error = result.err.replace(str(repo), "REPO")
    return result.code, "\n".join(line for line in error.splitlines() if "error" in line), recorded


def _compare(cli, repo: Path, ge_suite: str, schema: str, name: str) -> list[dict]:
    code_ge, error_ge, ge = _validate(cli, repo, "pandas", ge_suite, f"ge-{name}")
    code_pa, error_pa, pa = _validate(cli, repo, "pandera", schema, f"pa-{name}")
    assert (code_pa, error_pa) == (code_ge, error_ge)
    if ge is None:
        assert pa is None
        return []
    assert pa is not None
    assert pa["expectations"]["engine"] == "pandera"
    assert pa["expectations"]["suite"] == schema
    # Same failures, record for record: columns, kinds, counts, messages, samples.
    assert pa["expectations"]["failed"] == ge["expectations"]["failed"]
    assert pa["expectations"]["checked"] == ge["expectations"]["checked"]
    assert pa["summary"] == ge["summary"]
    return ge["expectations"]["failed"]


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_pandera_and_great_expectations_report_the_same_failures(
    cli, churn_repo: Path, corruption: str
) -> None:
    _prepare(churn_repo)
    clean = _compare(cli, churn_repo, "expectations/churn.yml", "schema.py:schema", "clean")
    assert clean == []
    CORRUPTIONS[corruption](churn_repo)
    failed = _compare(cli, churn_repo, "expectations/churn.yml", "schema.py:schema", "bad")
    found = {(f["column"], f["expectation"], f["reason"], f["failed_rows"]) for f in failed}
    expected = {
        "missing column": {("region", "expect_column_values_to_be_in_set", "missing-column", None)},
        "missing spec column": set(),  # the data loader refuses it first, for both (exit 2)
        "nulls in required columns": {
            ("tenure_months", "expect_column_values_to_not_be_null", "unexpected", 30),
            ("tenure_months", "expect_column_values_to_be_of_type", "unexpected", None),
            # customer_id may be empty (neither suite says otherwise); regexes skip nulls
        },
        "out-of-range numbers": {
            ("monthly_charges", "expect_column_values_to_be_between", "unexpected", 7),
            ("support_calls", "expect_column_values_to_be_between", "unexpected", 3),
            ("num_products", "expect_column_values_to_be_between", "unexpected", 1),
            ("age", "expect_column_values_to_be_between", "unexpected", 2),
        },
        "unknown categories": {
            ("plan", "expect_column_values_to_be_in_set", "unexpected", 5),
            ("gender", "expect_column_values_to_be_in_set", "unexpected", 3),
            ("region", "expect_column_values_to_be_in_set", "unexpected", 1),
        },
        "wrong type": {("tenure_months", "expect_column_values_to_be_of_type", "unexpected", None)},
        "wrong type (text)": set(),  # text in a numeric column: the data loader's exit 2
        "duplicate and malformed ids": {
            ("customer_id", "expect_column_values_to_be_unique", "unexpected", 4),
            ("customer_id", "expect_column_values_to_match_regex", "unexpected", 1),
        },
        "too many nulls": {
            # 301 emptied, and 19 of the other rows were empty already
            ("monthly_charges", "expect_column_values_to_not_be_null", "unexpected", 320),
        },
    }[corruption]
    assert found == expected


def test_init_drafts_a_pandera_schema_equal_to_the_drafted_suite(cli, tmp_path: Path) -> None:
    drafts = {}
    for engine in ("pandas", "pandera"):
        repo = tmp_path / engine
        (repo / "data").mkdir(parents=True)
        for name in ("train.csv", "validation.csv"):
            shutil.copy(Path(__file__).parents[1] / "examples/churn/data" / name, repo / "data")
        drafted = cli("init", str(repo), "--name", "churn", "--engine", engine, cwd=tmp_path)
        assert drafted.code == 0, drafted.err
        drafts[engine] = repo
    config = yaml.safe_load((drafts["pandera"] / "mlgate.yaml").read_text())
    assert config["validation"] == {"engine": "pandera", "suite": "schemas/churn.yaml"}
    schema_text = (drafts["pandera"] / "schemas/churn.yaml").read_text()
    assert "row_count_between" in schema_text
    assert "not_null_share" in schema_text
    # Both drafts pass on the data they came from, with the same checks; then fail alike.
    repo = drafts["pandera"]
    shutil.copy(drafts["pandas"] / "expectations/churn.yml", repo / "suite-ge.yml")
    ge_suite, schema = "suite-ge.yml", "schemas/churn.yaml"
    assert _compare(cli, repo, ge_suite, schema, "clean") == []
    _rows(
        _all(
            _set("monthly_charges", slice(0, 6), "500"),
            _set("customer_id", slice(10, 12), "C000001"),
            _set("total_charges", slice(100, 400), ""),
        )
    )(repo)
    failed = _compare(cli, repo, ge_suite, schema, "bad")
    assert {(f["column"], f["expectation"], f["origin"]) for f in failed} == {
        ("monthly_charges", "expect_column_values_to_be_between", "suite"),
        ("customer_id", "expect_column_values_to_be_unique", "suite"),
        ("total_charges", "expect_column_values_to_not_be_null", "suite"),
    }
    # A table under the drafted row-count floor fails both ways too.
    frame = pd.read_csv(repo / VALIDATION, dtype=str, keep_default_na=False)
    frame.head(300).to_csv(repo / VALIDATION, index=False)
    failed = _compare(cli, repo, ge_suite, schema, "short")
    assert ("expect_table_row_count_to_be_between", "validation") in {
        (f["expectation"], f["role"]) for f in failed
    }


BAD_SCHEMAS = {
    "missing file": ("gone.yaml", None, "gone.yaml not found"),
    "not a schema": ("schema.yaml", "columns: 5\n", "not a Pandera YAML schema"),
    "a GE suite": (
        "expectations/churn.yml",
        None,
        "a Great Expectations suite, not a Pandera schema: run it with validation.engine: pandas",
    ),
    "pandera refuses it": (
        "schema.yaml",
        "columns:\n  age:\n    checks:\n      no_such_check: 3\n",
        "Pandera cannot read the schema",
    ),
    "broken YAML": ("schema.yaml", "columns: [\n", "cannot read the Pandera schema"),
    "python without attribute": ("schema.py", "x = 1\n", "name the schema in schema.py as"),
    "missing attribute": ("schema.py:nope", "x = 1\n", "schema.py has no attribute 'nope'"),
    "not a DataFrameSchema": (
        "schema.py:x",
        "x = 1\n",
        "is not a pandera DataFrameSchema (it gives int)",
    ),
    "raises on import": (
        "schema.py:x",
        "raise RuntimeError('boom')\n",
        "raised RuntimeError: boom",
    ),
    "exits on import": (
        "schema.py:x",
        "import sys\nsys.exit(1)\n",
        "raised SystemExit: 1",
    ),
    "callable raises": (
        "schema.py:make",
        "def make():\n    return 1 / 0\n",
        "schema.py:make() raised ZeroDivisionError",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SCHEMAS))
def test_a_bad_schema_is_exit_2_naming_the_file(cli, churn_repo: Path, case: str) -> None:
    suite, content, words = BAD_SCHEMAS[case]
    if content is not None:
        (churn_repo / suite.split(":")[0]).write_text(content)
    set_key(churn_repo, "mlgate.yaml", "validation", {"engine": "pandera", "suite": suite})
    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    assert len(result.error_lines) == 1, result.err
    assert words in result.error_lines[0]
    assert suite.split(":")[0] in result.error_lines[0]
    assert "Traceback" not in result.err


@pytest.mark.parametrize("command", ["validate", "init"])
def test_without_pandera_the_engine_is_exit_2_naming_the_extra(
    cli, churn_repo: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # None in sys.modules makes `import pandera.pandas` raise ImportError, as when missing.
    monkeypatch.setitem(sys.modules, "pandera", None)
    monkeypatch.setitem(sys.modules, "pandera.pandas", None)
    if command == "validate":
        set_key(churn_repo, "mlgate.yaml", "validation", {"engine": "pandera"})
        result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)
        key = "validation.engine: pandera"
    else:
        fresh = churn_repo.parent / "fresh"
        shutil.copytree(churn_repo / "data", fresh / "data")
        result = cli("init", str(fresh), "--engine", "pandera", cwd=churn_repo.parent)
        key = "mlgate init --engine pandera"
        assert not (fresh / "mlgate.yaml").exists()  # nothing written
    assert result.code == 2, result.out + result.err
    assert len(result.error_lines) == 1, result.err
    assert key in result.error_lines[0]
    assert "pip install 'mlgate[pandera]'" in result.error_lines[0]


def test_a_python_schema_needs_the_pandera_engine(cli, churn_repo: Path) -> None:
    (churn_repo / "schema.py").write_text(SCHEMA_PY)
    set_key(churn_repo, "mlgate.yaml", "validation", {"suite": "schema.py:schema"})
    result = cli("validate", "--run-dir", ".mlgate/runs/t", cwd=churn_repo)
    assert result.code == 2, result.out + result.err
    assert len(result.error_lines) == 1, result.err
    assert "validation.suite" in result.error_lines[0]
    assert "set validation.engine: pandera" in result.error_lines[0]


def test_not_null_share_counts_the_nulls_even_when_the_schema_skips_them(tmp_path: Path) -> None:
    from mlgate.validation.pandera_engine import load_schema, run, translate

    class Repo:  # what load_schema reads of a project: its root and where a path points
        root = tmp_path

        def location(self, value: str) -> Path:
            return tmp_path / value

    (tmp_path / "schema.yaml").write_text(
        "columns:\n  charges:\n    nullable: true\n    not_null_share: {min_share: 0.9}\n"
    )
    schema = load_schema(Repo(), "schema.yaml")
    [outcome] = run(
        pd.DataFrame({"charges": [1.0, None, None, 4.0]}),
        schema,
        translate(schema),
        sample_size=5,
    )
    assert outcome.expectation.kwargs == {"column": "charges", "mostly": 0.9}
    assert (outcome.success, outcome.unexpected_count, outcome.element_count) == (False, 2, 4)


def test_a_class_based_schema_in_a_module_with_dataclasses_is_read(tmp_path: Path) -> None:
    """schema.py:Schema may be a DataFrameModel, in a module that uses what a Python module
    may (postponed annotations, dataclasses): both need the module to be imported as such."""
    from mlgate.validation.pandera_engine import load_schema, run, translate

    class Repo:
        root = tmp_path

        def location(self, value: str) -> Path:
            return tmp_path / value

    (tmp_path / "schema.py").write_text(
        "from __future__ import annotations\n\n"
        "from dataclasses import dataclass\n\n"
        "import pandera.pandas as pa\n"
        "from pandera.typing import Series\n\n\n"
        "@dataclass\nclass Limits:\n    most: float = 250.0\n\n\n"
        "class Schema(pa.DataFrameModel):\n"
        "    charges: Series[float] = pa.Field(ge=0, le=Limits().most, nullable=True)\n"
    )
    schema = load_schema(Repo(), "schema.py:Schema")
    translated = translate(schema)
    assert [(item.expectation.type, item.expectation.kwargs) for item in translated] == [
        ("expect_column_values_to_be_of_type", {"column": "charges", "type_": "float64"}),
        ("expect_column_values_to_be_between", {"column": "charges", "min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "charges", "max_value": 250.0}),
    ]
    outcomes = run(
        pd.DataFrame({"charges": [1.0, 300.0, -2.0, None]}), schema, translated, sample_size=5
    )
    assert [(o.success, o.unexpected_count) for o in outcomes] == [
        (True, None),
        (False, 1),
        (False, 1),
    ]


def test_a_change_to_a_module_the_schema_imports_reruns_validation(cli, churn_repo: Path) -> None:
    """The validate stage is reused while schema.py and the repo's modules it imports are
    unchanged; a changed bound in such a module runs it again, and the new bound holds."""
    (churn_repo / "bounds.py").write_text("MOST_CALLS = 20\n")
    (churn_repo / "schema.py").write_text(
        "import pandera.pandas as pa\n\nfrom bounds import MOST_CALLS\n\n"
        "schema = pa.DataFrameSchema(\n"
        "    {'support_calls': pa.Column(nullable=True, checks=pa.Check.le(MOST_CALLS))}\n"
        ")\n"
    )
    set_key(
        churn_repo,
        "mlgate.yaml",
        "validation",
        {"engine": "pandera", "suite": "schema.py:schema", "drift": {"enabled": False}},
    )

    def validate() -> dict:
        result = cli("validate", "--json", cwd=churn_repo)
        assert result.code in (0, 1), result.err
        return json.loads(result.out)["stages"][0]

    assert validate()["verdict"] == "passed"
    assert validate()["cache"]["reused"]
    (churn_repo / "bounds.py").write_text("MOST_CALLS = 1\n")
    sys.modules.pop("bounds", None)  # the commands run in this process: import it afresh
    again = validate()
    assert not again["cache"]["reused"]
    assert again["verdict"] == "failed"
    sys.modules.pop("bounds", None)
