"""The PR report's pure core: composition, escaping, the size budget, the artifact checks."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from mlgate._markdown import DETAIL, ESSENTIAL, IMPORTANT, Section, table
from mlgate.errors import InputError
from mlgate.report import artifact, budget
from mlgate.report.compose import Composed, ReportData, compose, folded_note, marker
from mlgate.results import StageResult, read

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")


def table_problems(body: str) -> list[str]:
    """Every markdown table in `body` (outside code fences) that is not well-formed."""
    problems, block, fenced = [], [], False
    for line in [*body.splitlines(), ""]:
        if line.strip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if block:
            problems += _check_table(block)
            block = []
    return problems


def _cells(line: str) -> list[str]:
    inner = line.strip()
    if not (inner.startswith("|") and inner.endswith("|") and not inner.endswith("\\|")):
        return []
    return [cell.strip() for cell in _UNESCAPED_PIPE.split(inner[1:-1])]


def _check_table(block: list[str]) -> list[str]:
    if len(block) < 2:
        return [f"a table line without a table: {block[0][:80]!r}"]
    header, rule = _cells(block[0]), _cells(block[1])
    if not header or len(rule) != len(header) or not all(_SEPARATOR_CELL.match(c) for c in rule):
        return [f"a table without a separator row: {block[0][:80]!r}"]
    return [
        f"a row with {len(_cells(row))} cells in a table of {len(header)}: {row[:80]!r}"
        for row in block[2:]
        if len(_cells(row)) != len(header)
    ]


def outside_code(body: str) -> str:
    """What GitHub would interpret: the body without code spans (shown literally there)."""
    return re.sub(r"`[^`\n]*`", "", body)


# What each stage's result holds besides what a test gives (a plain run's figures).
_FILLED: dict[str, dict] = {
    "validate": {
        "files": {
            "training": {
                "role": "training",
                "uri": "data/train.csv",
                "sha256": "42a25cc7b6eb3de0e4943248cd8b465465adeae779f604a3452f0743ff4677e7",
                "size_bytes": 285181,
                "rows": 4000,
                "columns": 13,
            }
        },
        "task": {
            "kind": "classification",
            "inferred": False,
            "classes": ["no", "yes"],
            "positive_label": "yes",
        },
        "expectations": {
            "engine": "pandas",
            "suite": "expectations/churn.yml",
            "checked": {"training": 34, "validation": 34},
            "failed": [],
            "seconds": 3.183,
        },
        "drift": {
            "enabled": True,
            "reference": "the training file",
            "reference_uri": "data/train.csv",
            "note": None,
            "psi_threshold": 0.2,
            "pvalue_threshold": 0.01,
            "min_rows": 200,
            "features": [],
            "drifted": [],
            "seconds": 0.033,
        },
    },
    "train": {
        "estimator": "GradientBoostingClassifier",
        "estimator_class": "sklearn.ensemble._gb.GradientBoostingClassifier",
        "params": {"n_estimators": 250},
        "feature_columns": ["tenure_months", "plan"],
        "code_paths": [],
        "config_sha256": "2" * 64,
        "feature_spec_sha256": "6" * 64,
        "training_seconds": 1.9,
        "warnings": [],
    },
    "evaluate": {
        "task": "classification",
        "rows": 1000,
        "metrics": {},
        "intervals": {},
        "confidence": 0.95,
        "noise_aware": True,
        "bootstrap": {"n": 1000, "seed": 0, "confidence": 0.95, "seconds": 0.1},
        "champion": None,
        "champion_status": "none",
        "champion_note": "no champion yet",
        "comparison": {},
        "mcnemar": None,
        "gates": [],
        "importance": None,
        "plots": {"files": {}, "skipped": {}},
    },
    "fairness": {"features": []},
    "register": {
        "tracking_uri": "sqlite:///mlflow.db",
        "experiment": "churn",
        "mlflow_run_id": "5d1c15f2dafa43c388108a14787445a7",
        "mlflow_run_url": None,
        "fingerprint": "6" * 64,
        "registered_model": "churn",
        "version": None,
        "reused": False,
        "alias": None,
        "reason": "a gate failed",
    },
}


def result_json(given: dict) -> dict:
    """A whole stage result as JSON: `given`, the rest filled as a plain run has it."""
    stage = given["stage"]
    result = {"seconds": 1.0, **_FILLED[stage], **given}
    if stage == "evaluate":
        if result["champion"] is not None:
            champion = {"alias": "production", "run_id": None, "metrics": {}, "unavailable": {}}
            result["champion"] = {**champion, **result["champion"]}
        gate = {"bound": "min", "limit": 0.8, "value": None}
        result["gates"] = [{**gate, **item} for item in result["gates"]]
    if isinstance(result.get("cache"), dict):
        result["cache"] = {"fingerprint": None, "reused": False, **result["cache"]}
    return result


def typed(given: dict) -> StageResult:
    return read(given["stage"], result_json(given))


def stages(**overrides: dict) -> dict[str, dict]:
    base = {
        "validate": {"stage": "validate", "verdict": "passed", "summary": "4,000 rows"},
        "train": {"stage": "train", "verdict": "passed", "summary": "trained"},
        "evaluate": {
            "stage": "evaluate",
            "verdict": "failed",
            "summary": "roc_auc 0.70 < min 0.8",
            "metrics": {"roc_auc": 0.70, "accuracy": 0.81},
            "gates": [
                {"metric": "roc_auc", "verdict": "failed", "message": "roc_auc 0.70 < min 0.8"}
            ],
            "champion": {"alias": "production", "version": "3", "metrics": {"roc_auc": 0.86}},
            "comparison": {
                "roc_auc": {
                    "candidate": 0.70,
                    "champion": 0.86,
                    "difference": -0.16,
                    "interval": None,
                    "relative": -0.186,
                    "relative_interval": None,
                    "lower_is_better": False,
                }
            },
        },
        "register": {"stage": "register", "verdict": "skipped", "summary": "not registered"},
    }
    base.update(overrides)
    return base


def data(**changes) -> ReportData:
    values = {
        "model": "churn",
        "stages": stages(),
        "mlgate_version": "1.2.3",
        "commit": "a1b2c3d4e5",
        "run_url": "https://github.com/o/r/actions/runs/9",
    }
    values.update(changes)
    values["stages"] = {name: typed(result) for name, result in values["stages"].items()}
    return ReportData(**values)


def test_head_has_marker_title_and_verdict_table_first() -> None:
    body = compose(data()).full()
    lines = body.splitlines()
    assert lines[0] == marker("churn") == "<!-- mlgate:report model=churn -->"
    assert lines[1] == "## mlgate · churn · ❌ 1 gate failed"
    assert lines[3] == "| gate | verdict | why |"
    assert body.index("| evaluation | ❌ failed |") < body.index("### Evaluation")
    assert "| registry | ⏸ not pushed |" in body
    assert "[full report](https://github.com/o/r/actions/runs/9#artifacts)" in body
    assert body.rstrip().endswith("commit `a1b2c3d` · mlgate v1.2.3")
    assert "| `roc_auc` | 0.700 | – | 0.860 | −0.160 | – |" in body
    assert "```mermaid" in body
    assert table_problems(body) == []


def test_stopped_run_lists_later_gates_as_not_run() -> None:
    failed = {"stage": "validate", "verdict": "failed", "summary": "3 expectations failed"}
    body = compose(data(stages={"validate": failed})).full()
    assert "| evaluation | ⏭ not run | stopped: the data failed validation |" in body


@pytest.mark.parametrize(
    ("hostile", "absent"),
    [
        pytest.param("<img src=x onerror=alert(1)>", "<img", id="html"),
        pytest.param("a | b | c", "a | b", id="table-cells"),
        pytest.param("ping @admins", "@admins", id="mention"),
        pytest.param("[click](https://evil.example)", "](https://evil", id="link"),
        pytest.param("line\n\n## injected heading", "\n## injected", id="newlines"),
        pytest.param("</details><script>x</script>", "<script", id="close-details"),
    ],
)
def test_hostile_strings_show_as_text(hostile: str, absent: str) -> None:
    evil = stages(
        validate={"stage": "validate", "verdict": "failed", "summary": hostile},
        evaluate={
            "stage": "evaluate",
            "verdict": "passed",
            "summary": hostile,
            "metrics": {hostile: 0.5},
            "champion": {"alias": hostile, "version": hostile, "metrics": {}},
        },
    )
    body = compose(data(stages=evil)).full()
    assert absent not in outside_code(body)
    assert table_problems(body) == []


def test_builder_output_with_raw_html_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    compose_module = importlib.import_module("mlgate.report.compose")

    def sneaky(result: dict) -> list[Section]:
        return [Section("validate", "Data", "<img src=x onerror=alert(1)>")]

    monkeypatch.setattr(compose_module, "find_builder", lambda stage: sneaky)
    body = compose(data()).full()
    assert "<img" not in body
    assert "### Data\n\n&lt;img" in body  # shown as text, under its own title


def _big_table(prefix: str, rows: int) -> str:
    return table(
        ["feature", "value", "note"],
        ([f"`{prefix}{i}`", f"{i / 7:.4f}", "x" * 30] for i in range(rows)),
        "lrl",
    )


def _large_report() -> Composed:
    head = compose(data())
    sections = [
        Section("evaluate", "Metrics", _big_table("m", 200), ESSENTIAL),
        Section("validate", "Validation failures", _big_table("v", 900), IMPORTANT),
        Section("drift", "Drift", _big_table("d", 3200), DETAIL, folded=True),
    ]
    return Composed(head.head, sections, head.footer)


def test_a_200k_report_fits_by_dropping_least_important_sections_whole() -> None:
    composed = _large_report()
    assert len(composed.full()) > 200_000
    fitted = budget.fit(
        composed, limit=budget.COMMENT_TARGET, note=lambda t: folded_note(t, data())
    )
    assert budget.utf16_length(fitted.body) <= budget.COMMENT_LIMIT
    assert fitted.dropped == ("Drift",)
    assert "`m199`" in fitted.body  # the kept tables are whole
    assert "`v899`" in fitted.body
    assert "Left out to fit GitHub's comment limit: Drift. See the [full report]" in fitted.body
    assert table_problems(fitted.body) == []


def test_an_essential_table_too_long_alone_loses_whole_rows_only() -> None:
    head = compose(data())
    composed = Composed(
        head.head, [Section("evaluate", "Metrics", _big_table("m", 5000), ESSENTIAL)], head.footer
    )
    fitted = budget.fit(composed, limit=budget.COMMENT_TARGET, note=lambda t: "")
    assert budget.utf16_length(fitted.body) <= budget.COMMENT_TARGET
    assert fitted.shortened == ("Metrics",)
    assert "more lines in the full report" in fitted.body
    assert table_problems(fitted.body) == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n", id="table"),
        pytest.param("```mermaid\nxychart-beta\n  bar [1, 2]\n  bar [3, 4]\n```\n", id="fence"),
        pytest.param(
            "<details><summary>s</summary>\n\nline\nline\nline\n\n</details>\n", id="details"
        ),
    ],
)
@pytest.mark.parametrize("room", [40, 55, 70])
def test_trimming_keeps_blocks_closed(text: str, room: int) -> None:
    trimmed = budget.trim_markdown(text, room)
    assert table_problems(trimmed) == []
    assert trimmed.count("```") % 2 == 0
    assert trimmed.count("<details>") == trimmed.count("</details>")


def test_astral_characters_count_as_github_counts_them() -> None:
    assert budget.utf16_length("😀") == 2
    assert budget.utf16_length("✅") == 1


# --- the artifact -----------------------------------------------------------------------


def test_artifact_round_trip(tmp_path: Path) -> None:
    original = data(pull_request=7)
    path = artifact.write(original, tmp_path)
    document = json.loads(path.read_text())
    assert document["format"] == "mlgate-report/1"
    assert "###" not in path.read_text()  # results only, no markdown
    assert artifact.read(tmp_path) == original


def _write_raw(directory: Path, document: object) -> None:
    (directory / "report.json").write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"format": "other"}, "format", id="format"),
        pytest.param({"model": "x -->"}, "at model", id="model-closes-marker"),
        pytest.param({"commit": "not-a-sha"}, "at commit", id="commit"),
        pytest.param({"run_url": "javascript:alert(1)"}, "at run_url", id="url"),
        pytest.param({"extra": 1}, "additionalProperties", id="extra-key"),
        pytest.param(
            {"stages": [{"stage": "deploy", "verdict": "passed", "summary": ""}]},
            "stages/0",
            id="stage",
        ),
        pytest.param(
            {"stages": [result_json({"stage": "train", "verdict": "ok", "summary": ""})]},
            "verdict",
            id="verdict",
        ),
        pytest.param({"stages": "all"}, "at stages", id="stages-type"),
    ],
)
def test_artifact_with_wrong_schema_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    document = artifact.to_document(data())
    document.update(change)
    _write_raw(tmp_path, document)
    with pytest.raises(InputError, match=message):
        artifact.read(tmp_path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("gates", 12345, id="gates-not-a-list"),
        pytest.param("metrics", {"roc_auc": "0.9"}, id="figure-as-text"),
        pytest.param("champion", {"alias": "production"}, id="champion-missing-fields"),
    ],
)
def test_an_artifact_field_of_the_wrong_type_is_refused(
    tmp_path: Path, field: str, value: object
) -> None:
    document = artifact.to_document(data())
    [evaluate] = [result for result in document["stages"] if result["stage"] == "evaluate"]
    evaluate[field] = value
    _write_raw(tmp_path, document)
    with pytest.raises(InputError, match=f"does not match the report schema at stages/2/{field}"):
        artifact.read(tmp_path)


def test_the_artifact_schema_types_every_field_of_every_stage() -> None:
    from mlgate.results import RESULT_TYPES

    definitions = artifact.schema()["$defs"]
    for name, cls in RESULT_TYPES.items():
        fields = set(definitions[name]["properties"])
        assert fields == {"stage", *(f.name for f in dataclasses.fields(cls))}
    assert definitions["evaluate.GateResult"]["properties"]["verdict"] == {
        "$ref": "#/$defs/evaluate.Verdict"
    }


def test_artifact_oversized_nested_nan_or_symlinked_is_refused(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_bytes(b" " * (artifact.MAX_BYTES + 1))
    with pytest.raises(InputError, match="larger than"):
        artifact.read(tmp_path)
    document = artifact.to_document(data())
    nested: dict = {}
    node = nested
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    document["stages"][0]["deep"] = nested
    _write_raw(tmp_path, document)
    with pytest.raises(InputError, match="nests deeper"):
        artifact.read(tmp_path)
    (tmp_path / "report.json").write_text('{"format": NaN}')
    with pytest.raises(InputError, match="not valid UTF-8 JSON"):
        artifact.read(tmp_path)
    (tmp_path / "report.json").unlink()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(artifact.to_document(data())))
    (tmp_path / "report.json").symlink_to(secret)
    with pytest.raises(InputError, match="regular file"):
        artifact.read(tmp_path)


def test_the_step_summary_copy_stays_under_one_mebibyte() -> None:
    head = compose(data())
    huge = Composed(
        head.head,
        [
            Section("evaluate", "Metrics", _big_table("m", 200), ESSENTIAL),
            Section("drift", "Drift", _big_table("d", 30_000), DETAIL),
        ],
        head.footer,
    )
    assert budget.utf8_bytes(huge.full()) > budget.STEP_SUMMARY_LIMIT
    fitted = budget.fit(
        huge, limit=budget.STEP_SUMMARY_TARGET, measure=budget.utf8_bytes, note=lambda t: ""
    )
    assert budget.utf8_bytes(fitted.body) <= budget.STEP_SUMMARY_LIMIT
    assert fitted.dropped == ("Drift",)
    whole = budget.fit(_large_report(), limit=budget.STEP_SUMMARY_TARGET, note=lambda t: "")
    assert whole.dropped == ()  # 200,000 characters fit a summary as they are


@pytest.mark.parametrize(
    ("url", "tracking", "kept"),
    [
        pytest.param("https://mlflow.corp/#/runs/1", "https://mlflow.corp", True, id="same-server"),
        pytest.param("https://evil.example/#/runs/1", "https://mlflow.corp", False, id="elsewhere"),
        pytest.param("https://mlflow.corp/#/runs/1", "", False, id="no-server-configured"),
        pytest.param("https://mlflow.corp/#/runs/1", "sqlite:///x.db", False, id="local-store"),
    ],
)
def test_an_artifact_links_only_to_the_trusted_mlflow_server(
    url: str, tracking: str, kept: bool
) -> None:
    from mlgate.report.deliver import _trusted_context

    register = {"stage": "register", "verdict": "skipped", "summary": "", "mlflow_run_url": url}
    untrusted = data(stages=stages(register=register))
    shown = _trusted_context(untrusted, {"MLFLOW_TRACKING_URI": tracking}, {})
    assert (shown.mlflow_run_url == url) is kept
    assert ("[MLflow run]" in compose(shown).full()) is kept


def test_footer_says_which_stages_were_reused() -> None:
    from mlgate.report.compose import footer

    stages = {
        "validate": {"stage": "validate", "verdict": "passed", "summary": "ok"},
        "train": {
            "stage": "train",
            "verdict": "passed",
            "summary": "ok",
            "cache": {"reused": True},
        },
        "evaluate": {"stage": "evaluate", "verdict": "passed", "summary": "ok", "cache": {}},
    }
    line = footer(data(model="m", stages=stages, mlgate_version="1.0.0"))
    assert "reused, inputs unchanged: train ·" in line
    fresh = {name: {**result, "cache": {"reused": False}} for name, result in stages.items()}
    assert "reused" not in footer(data(model="m", stages=fresh, mlgate_version="1.0.0"))


def test_a_malformed_result_in_the_run_directory_is_a_run_dir_error(tmp_path: Path) -> None:
    from mlgate.errors import RunDirError
    from mlgate.report.deliver import _read_result
    from mlgate.rundir import RunDir

    run_dir = RunDir(tmp_path)
    evaluate = result_json({"stage": "evaluate", "verdict": "passed", "summary": "ok"})
    run_dir.write_result("evaluate", evaluate)
    assert _read_result(run_dir, "evaluate").to_json() == evaluate
    run_dir.write_result("evaluate", {**evaluate, "gates": 12345})
    with pytest.raises(RunDirError, match=r"evaluate.json is not a result mlgate can read \(gates"):
        _read_result(run_dir, "evaluate")
