"""Fuzzing the CLI: random and mutated configs, feature specs, suites and data files.

Whatever Hypothesis feeds `mlgate validate`, the outcome is exit 0, 1 or 2: 0 and 1 with
nothing on stderr, 2 with exactly one line `mlgate: error: ...`. Never a traceback, never
"a bug in mlgate", never exit 3 (nothing here involves an outside service).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLE
from mlgate.cli import main

pytestmark = pytest.mark.slow

ROWS = 30
FUZZ = settings(
    # A longer hunt: MLGATE_FUZZ_EXAMPLES=500 pytest tests/test_fuzz.py
    max_examples=int(os.environ.get("MLGATE_FUZZ_EXAMPLES", "25")),
    deadline=None,
    database=None,
    # Each example writes a small repo and runs the CLI: slower than Hypothesis expects.
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/churn with 30 rows per file and drift off, made once for the module."""
    repo = tmp_path_factory.mktemp("fuzz") / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    for name in ("data/train.csv", "data/validation.csv"):
        lines = (repo / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (repo / name).write_text("".join(lines[: ROWS + 1]), encoding="utf-8")
    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    config["validation"]["drift"] = {"enabled": False}
    (repo / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


@contextlib.contextmanager
def _fresh_repo(base: Path):
    with tempfile.TemporaryDirectory(prefix="mlgate-fuzz-case-") as temporary:
        repo = Path(temporary) / "churn"
        shutil.copytree(base, repo)
        yield repo


def _validate(repo: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()  # not contextlib.chdir: Python 3.10 has none
    os.chdir(repo)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["validate"])
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        os.chdir(before)
    return code, out.getvalue(), err.getvalue()


def _check_outcome(code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err
    assert "a bug in mlgate" not in err, err
    assert code in (0, 1, 2), (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:
        assert len(lines) == 1, err
        assert lines[0].startswith("mlgate: error: "), err
    else:
        assert lines == [], err


# --- strategies --------------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.sampled_from(["", "yes", "no", "~", "nan", "1e400", "-0", "0x10", "data/train.csv"]),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=6,
)


def _key_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            paths += _key_paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths += _key_paths(child, (*prefix, index))
    return paths


@st.composite
def _mutated_yaml(draw: st.DrawFn, document: Any) -> str:
    """The document with a few keys replaced, deleted or added, as YAML text."""
    import copy

    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _key_paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        *parents, last = path
        node = document
        for part in parents:
            node = node[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            node[last] = draw(_value)
        elif action == "delete":
            del node[last]
        elif isinstance(node, dict):
            node[draw(_text)] = draw(_value)
        else:
            node.append(draw(_value))
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@st.composite
def _mangled_text(draw: st.DrawFn, text: str) -> str:
    """The text with a slice cut out, or random characters put in."""
    start = draw(st.integers(min_value=0, max_value=len(text)))
    end = draw(st.integers(min_value=start, max_value=min(len(text), start + 40)))
    inserted = draw(
        st.text(
            alphabet=st.sampled_from(string.printable + "{}[]:-&*!|>'\"#%@`\t\x00é"), max_size=8
        )
    )
    return text[:start] + inserted + text[end:]


def _yaml_of(repo: Path, name: str) -> Any:
    return yaml.safe_load((repo / name).read_text(encoding="utf-8"))


# --- the properties ---------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_mutated_configs(base: Path, data: st.DataObject) -> None:
    document = _yaml_of(base, "mlgate.yaml")
    text = data.draw(
        st.one_of(
            _mutated_yaml(document),
            _mangled_text((base / "mlgate.yaml").read_text(encoding="utf-8")),
        )
    )
    with _fresh_repo(base) as repo:
        (repo / "mlgate.yaml").write_text(text, encoding="utf-8")
        _check_outcome(*_validate(repo))


@FUZZ
@given(data=st.data())
def test_mutated_feature_specs(base: Path, data: st.DataObject) -> None:
    name = "configs/features.yaml"
    document = _yaml_of(base, name)
    text = data.draw(
        st.one_of(
            _mutated_yaml(document),
            _mangled_text((base / name).read_text(encoding="utf-8")),
        )
    )
    with _fresh_repo(base) as repo:
        (repo / name).write_text(text, encoding="utf-8")
        _check_outcome(*_validate(repo))


_EXPECTATIONS = st.sampled_from(
    [
        "expect_column_values_to_be_unique",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_table_row_count_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_to_exist",
        "expect_nothing_in_particular",
    ]
)
_ARGUMENTS = st.dictionaries(
    st.sampled_from(
        ["column", "min_value", "max_value", "value_set", "regex", "mostly", "strict_min", "x"]
    ),
    st.one_of(
        _scalar,
        st.sampled_from(["plan", "age", "customer_id", "churned", "nope", "[", "(?P<"]),
        st.lists(_scalar, max_size=3),
    ),
    max_size=4,
)


@FUZZ
@given(
    suite=st.lists(st.dictionaries(_EXPECTATIONS, _ARGUMENTS, min_size=1, max_size=1), max_size=4)
)
def test_random_suites(base: Path, suite: list[dict[str, Any]]) -> None:
    with _fresh_repo(base) as repo:
        (repo / "expectations/churn.yml").write_text(
            yaml.safe_dump(suite, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        _check_outcome(*_validate(repo))


_CELL = st.one_of(
    _text,
    st.sampled_from(["", "NaN", "inf", "-inf", "1e309", "yes", "no", "basic", "=1+1", "null"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
)


@FUZZ
@given(
    role=st.sampled_from(["data/train.csv", "data/validation.csv"]),
    edits=st.lists(
        st.tuples(st.integers(0, ROWS - 1), st.integers(0, 12), _CELL), min_size=1, max_size=6
    ),
    header_edit=st.one_of(st.none(), st.tuples(st.integers(0, 12), _text)),
    keep_rows=st.one_of(st.none(), st.integers(0, ROWS)),
)
def test_mutated_data_files(
    base: Path,
    role: str,
    edits: list[tuple[int, int, str]],
    header_edit: tuple[int, str] | None,
    keep_rows: int | None,
) -> None:
    with _fresh_repo(base) as repo:
        path = repo / role
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        for row, column, value in edits:
            rows[1 + row][column] = value
        if header_edit is not None:
            rows[0][header_edit[0]] = header_edit[1]
        if keep_rows is not None:
            del rows[1 + keep_rows :]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        path.write_text(buffer.getvalue(), encoding="utf-8")
        _check_outcome(*_validate(repo))


@FUZZ
@given(
    role=st.sampled_from(["data/train.csv", "data/validation.csv"]),
    data=st.data(),
)
def test_mangled_data_bytes(base: Path, role: str, data: st.DataObject) -> None:
    with _fresh_repo(base) as repo:
        path = repo / role
        raw = path.read_bytes()
        start = data.draw(st.integers(0, len(raw)))
        end = data.draw(st.integers(start, min(len(raw), start + 200)))
        noise = data.draw(st.binary(max_size=16))
        path.write_bytes(raw[:start] + noise + raw[end:])
        _check_outcome(*_validate(repo))
