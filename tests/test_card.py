"""The model card's pure core and its templates: facts, rendering, escaping, diffs.

Fast tests on stage results written out by hand in the shapes the stages produce;
tests/test_card_pipeline.py checks the card of a real run of the example.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mlgate.card.diff import COMPARED, diff_facts, no_diff
from mlgate.card.facts import NOT_RUN, SECTIONS, collect_facts, with_registration
from mlgate.card.render import render_card, tidy_markdown
from mlgate.config import CardSection
from mlgate.errors import ConfigError
from mlgate.report.sections.card import changes_section
from mlgate.results import read, to_json

EVIL = "<script>alert('card')</script>"
EVIL_GROUP = '<img src=x onerror="alert(1)">'


def _validate() -> dict[str, Any]:
    return {
        "stage": "validate",
        "verdict": "passed",
        "summary": "training 4,000 rows · validation 1,000 rows · 98 expectations passed",
        "files": {
            "training": {
                "role": "training",
                "uri": "s3://churn-data/train.csv",
                "sha256": "a" * 64,
                "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
                "etag": '"9b2cf535f27731c974343645a3985328"',
                "size_bytes": 285181,
                "rows": 4000,
                "columns": 13,
            },
            "validation": {
                "role": "validation",
                "uri": "data/validation.csv",
                "sha256": "b" * 64,
                "size_bytes": 71624,
                "rows": 1000,
                "columns": 13,
            },
        },
        "task": {
            "kind": "classification",
            "inferred": True,
            "classes": ["no", "yes"],
            "positive_label": "yes",
        },
        "expectations": {
            "engine": "great_expectations",
            "seconds": 1.0,
            "suite": "expectations/churn.yml",
            "checked": {"training": 49, "validation": 49},
            "failed": [
                {
                    "role": "validation",
                    "expectation": "expect_column_values_to_be_between",
                    "origin": "suite",
                    "reason": "unexpected",
                    "column": "tenure_months",
                    "failed_rows": 3,
                    "total_rows": 1000,
                    "message": "column 'tenure_months': values between 0 and 72 failed for 3",
                }
            ],
        },
        "drift": {
            "enabled": True,
            "reference": "the training file",
            "reference_uri": "data/train.csv",
            "note": None,
            "psi_threshold": 0.2,
            "pvalue_threshold": 0.01,
            "min_rows": 50,
            "features": [_drift_feature("plan", None), _drift_feature("x", "few")],
            "drifted": [{"role": "validation", "feature": "plan", "psi": 0.31}],
            "seconds": 0.1,
        },
    }


def _drift_feature(name: str, skipped: str | None) -> dict[str, Any]:
    return {
        "role": "validation",
        "feature": name,
        "kind": "categorical",
        "reference_rows": 4000,
        "current_rows": 1000,
        "skipped": skipped,
    }


def _comparison_extras() -> dict[str, Any]:
    return {"relative": None, "relative_interval": None, "lower_is_better": False}


def _train(**params: Any) -> dict[str, Any]:
    return {
        "stage": "train",
        "verdict": "passed",
        "summary": "GradientBoostingClassifier trained",
        "estimator": "GradientBoostingClassifier",
        "estimator_class": "sklearn.ensemble._gb.GradientBoostingClassifier",
        "params": params or {"n_estimators": 250, "max_depth": 5},
        "feature_columns": ["tenure_months", "plan"],
        "config_sha256": "c" * 64,
        "feature_spec_sha256": "d" * 64,
        "code_paths": [],
        "training_seconds": 1.5,
        "warnings": [],
    }


def _evaluate(roc_auc: float = 0.86327, champion: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {
        "stage": "evaluate",
        "verdict": "passed",
        "summary": "roc_auc 0.8633 >= min 0.8",
        "task": "classification",
        "rows": 1000,
        "metrics": {"roc_auc": roc_auc, "accuracy": 0.818},
        "intervals": {
            "roc_auc": {"low": 0.8383, "high": 0.8862},
            "accuracy": {"low": 0.794, "high": 0.842},
        },
        "confidence": 0.95,
        "noise_aware": False,
        "bootstrap": {"n": 1000, "seed": 0, "confidence": 0.95, "seconds": 0.5},
        "gates": [
            {
                "metric": "roc_auc",
                "bound": "min",
                "limit": 0.8,
                "value": roc_auc,
                "verdict": "passed",
                "message": "roc_auc 0.8633 >= min 0.8",
            }
        ],
        "champion": None,
        "champion_status": "none",
        "champion_note": "no champion yet",
        "comparison": {},
        "mcnemar": None,
        "importance": None,
        "plots": {"files": {}, "skipped": {}},
    }
    if champion:
        result["champion"] = {
            "alias": "production",
            "version": "3",
            "run_id": "abc",
            "metrics": {"roc_auc": 0.851, "accuracy": 0.82},
            "unavailable": {},
        }
        result["champion_status"] = "found"
        result["comparison"] = {
            "roc_auc": {
                "candidate": roc_auc,
                "champion": 0.851,
                "difference": roc_auc - 0.851,
                "interval": {"low": -0.0021, "high": 0.0271},
                **_comparison_extras(),
            },
            "accuracy": {
                "candidate": 0.818,
                "champion": 0.82,
                "difference": -0.002,
                "interval": {"low": -0.021, "high": 0.017},
                **_comparison_extras(),
            },
        }
        result["mcnemar"] = {
            "candidate_only_correct": 31,
            "champion_only_correct": 33,
            "statistic": 0.06,
            "p_value": 0.9,
            "method": "chi-square with continuity correction",
        }
    return result


def _fairness(group: str = "female") -> dict[str, Any]:
    return {
        "stage": "fairness",
        "verdict": "failed",
        "summary": "age: demographic_parity_difference 0.150 > 0.1",
        "policy": "point",
        "mode": "block",
        "confidence": 0.95,
        "features": [
            {
                "name": "gender",
                "columns": ["gender"],
                "groups": [
                    {
                        "group": group,
                        "count": 544,
                        "too_small": False,
                        "metrics": {"count": 544.0, "selection_rate": 0.2243, "accuracy": 0.8235},
                    },
                    {
                        "group": "male",
                        "count": 12,
                        "too_small": True,
                        "metrics": {"count": 12.0, "selection_rate": 0.2456, "accuracy": 0.8114},
                    },
                ],
                "excluded_groups": ["male"],
                "checks": [
                    {
                        "feature": "gender",
                        "metric": "demographic_parity_difference",
                        "value": 0.15,
                        "interval": [0.05, 0.22],
                        "threshold": 0.1,
                        "bound": "max",
                        "verdict": "failed",
                        "champion": 0.02,
                        "change": 0.13,
                        "message": "gender: demographic_parity_difference 0.150 > 0.1",
                    }
                ],
            }
        ],
    }


def _card(**free_text: Any) -> CardSection:
    return CardSection(**{"owners": ["ml-team@example.com"], "license": "Apache-2.0", **free_text})


def _facts(results: dict[str, Any], card: CardSection | None = None) -> dict[str, Any]:
    typed = {stage: read(stage, result) if result else None for stage, result in results.items()}
    facts = collect_facts(
        model_name="churn",
        model_type="GradientBoosting",
        card=card or _card(intended_use="Rank customers by churn risk."),
        results=typed,
        candidate_alias="candidate",
        champion_alias="production",
        run_id="20261127-050000-abcdef",
        date="2026-11-27",
        plots=["roc.png"],
    )
    facts = to_json(facts)
    facts["changes"] = no_diff("no champion", "No champion yet: nothing to compare with.")
    return facts


def _all_results() -> dict[str, Any]:
    return {
        "validate": _validate(),
        "train": _train(),
        "evaluate": _evaluate(),
        "fairness": _fairness(),
        "register": None,
    }


# --- facts ------------------------------------------------------------------------------


def test_facts_copy_every_figure_from_the_stage_results() -> None:
    facts = _facts(_all_results())

    roc = facts["evaluation"]["metrics"][0]
    assert roc["name"] == "roc_auc"
    assert roc["value"] == 0.86327
    assert roc["interval"] == [0.8383, 0.8862]
    assert roc["champion"] == 0.851
    assert roc["difference"] == pytest.approx(0.86327 - 0.851)
    assert roc["difference_interval"] == [-0.0021, 0.0271]
    assert facts["evaluation"]["champion"] == {"alias": "production", "version": "3"}
    assert facts["data"]["training"]["rows"] == 4000
    assert facts["data"]["evaluation"]["sha256"] == "b" * 64
    assert facts["data"]["evaluation"]["version_id"] is None  # a local file has none
    assert facts["validation"]["checks"] == [
        {"role": "training", "checked": 49, "failed": 0},
        {"role": "validation", "checked": 49, "failed": 1},
    ]
    assert facts["validation"]["drift"]["checked"] == 1
    [gender] = facts["fairness"]["features"]
    assert gender["group_metrics"] == ["selection_rate", "accuracy"]  # count has its own column
    assert gender["groups"][1]["too_small"] is True
    assert gender["disparities"][0]["interval"] == [0.05, 0.22]
    assert facts["model"]["version"] is None
    assert facts["how_to_load"]["model_uri"] == "models:/churn@candidate"
    json.dumps(facts)  # plain JSON, stored as card.json


def test_a_stage_that_did_not_run_is_not_run_never_invented() -> None:
    facts = _facts({"validate": _validate(), "train": _train()})

    assert facts["stages"] == {
        "validate": "passed",
        "train": "passed",
        "evaluate": NOT_RUN,
        "fairness": NOT_RUN,
    }
    assert facts["evaluation"]["status"] == NOT_RUN
    assert facts["evaluation"]["metrics"] == []
    assert facts["fairness"]["features"] == []
    rendered = render_card(facts)
    for text in (rendered["markdown"], _visible_text(rendered["html"])):
        assert "Not run: the evaluate stage left no result." in text
        assert "Not run: the fairness stage left no result." in text
        assert "0.86" not in text


def test_registration_names_the_version_and_its_uri() -> None:
    facts = with_registration(
        _facts(_all_results()), version="7", alias="candidate", champion_alias="production"
    )

    assert facts["model"]["version"] == "7"
    assert facts["how_to_load"]["version_uri"] == "models:/churn/7"
    assert "# Model card: churn v7" in render_card(facts)["markdown"]


# --- rendering --------------------------------------------------------------------------


def test_both_cards_have_every_section_with_the_figures() -> None:
    rendered = render_card(_facts(_all_results()), plots={"roc.png": _png()})
    markdown_card, html_card = rendered["markdown"], rendered["html"]

    for _, title in SECTIONS:
        assert f"## {title}" in markdown_card
        assert f"<h2>{title}</h2>" in html_card
    assert "| `roc_auc` | 0.8633 | [0.8383, 0.8862] | 0.8510 | +0.0123 | [−0.0021, +0.0271] |" in (
        markdown_card
    )
    assert "| Version id | `3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY` |" in markdown_card
    assert "<code>s3://churn-data/train.csv</code>" in html_card
    assert 'src="data:image/png;base64,' in html_card
    assert "<link" not in html_card
    assert "<script" not in html_card
    assert 'load_model("models:/churn@candidate")' in markdown_card


def test_markdown_headings_stand_apart_from_their_paragraphs() -> None:
    text = tidy_markdown("# Title\n## Next\ntext\n\n\n\nmore\n```\n# not a heading\n```\n")

    assert text == "# Title\n\n## Next\n\ntext\n\nmore\n```\n# not a heading\n```"


# --- escaping ---------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def _visible_text(html: str) -> str:
    body = html.split("<body>", 1)[1]
    return " ".join(" ".join(_parse(body).text).split())


def test_a_malicious_string_never_becomes_html() -> None:
    results = {**_all_results(), "fairness": _fairness(group=EVIL_GROUP)}
    results["validate"]["expectations"]["failed"][0]["message"] = f"bad value {EVIL}"
    card = _card(
        intended_use=EVIL,
        limitations=f"see {EVIL_GROUP} | a | b |\n\n# not a heading",
        owners=["@everyone", EVIL],
    )
    rendered = render_card(_facts(results, card))

    tags = _parse(rendered["html"]).tags
    assert not [tag for tag, _ in tags if tag == "script"]
    assert not [attrs for tag, attrs in tags if tag == "img" and "onerror" in attrs]
    visible = _visible_text(rendered["html"])
    assert EVIL in visible
    assert EVIL_GROUP in visible

    markdown_card = rendered["markdown"]
    assert "<script" not in markdown_card
    assert "<img" not in markdown_card
    assert "&lt;script&gt;" in markdown_card
    assert "\n# not a heading" not in markdown_card
    assert "@everyone" not in markdown_card  # no mention from config text
    assert "\\| a \\| b \\|" in markdown_card  # a pipe cannot open table cells


# --- team templates ---------------------------------------------------------------------


def test_a_team_template_replaces_its_kind_and_can_include_the_default(tmp_path: Path) -> None:
    template = tmp_path / "ours.md.j2"
    facts = _facts(_all_results())
    template.write_text(
        "# {{ facts.model.name }} by {{ facts.model.owners | join(', ') }}\n"
        "roc_auc {{ facts.evaluation.metrics[0].value | number(4) }}\n"
        "{% include 'mlgate/model_card.md.j2' %}\n"
    )

    rendered = render_card(facts, team_template=template)

    assert rendered["markdown"].startswith("# churn by ml-team@\u200bexample.com\n\nroc_auc 0.8633")
    assert "## Fairness" in rendered["markdown"]  # the included default
    assert "<h2>Fairness</h2>" in rendered["html"]  # the HTML card keeps the default


def test_a_team_template_edited_after_a_card_is_read_again(tmp_path: Path) -> None:
    # Compiled templates are kept for the process (the register stage renders the card
    # again): an edit to the team's file must still show in the next card.
    template = tmp_path / "ours.md.j2"
    facts = _facts(_all_results())
    template.write_text("first {{ facts.model.name }}\n")
    assert render_card(facts, team_template=template)["markdown"].startswith("first churn")

    template.write_text("second {{ facts.model.name }}\n")
    later = template.stat().st_mtime + 5  # a coarse clock: the edit must look newer
    os.utime(template, (later, later))

    assert render_card(facts, team_template=template)["markdown"].startswith("second churn")


def test_a_team_html_template_is_autoescaped_too(tmp_path: Path) -> None:
    template = tmp_path / "ours.HTML.j2"
    template.write_text(
        "<h1>{{ facts.model.name }}</h1><p>{{ facts.uses.intended_use }}</p>"
        "{% for feature in facts.fairness.features %}{% for group in feature.groups %}"
        "<i>{{ group.group }}</i>{% endfor %}{% endfor %}\n"
    )
    results = {**_all_results(), "fairness": _fairness(group=EVIL_GROUP)}

    rendered = render_card(_facts(results, _card(intended_use=EVIL)), team_template=template)

    tags = [tag for tag, _ in _parse(rendered["html"]).tags]
    assert tags == ["h1", "p", "i", "i"]
    assert EVIL in _visible_text("<body>" + rendered["html"])
    assert "## Model details" in rendered["markdown"]  # the markdown card keeps the default


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param("ok\n{% if %}\n", 2, "does not parse", id="syntax-error"),
        pytest.param("ok\n\n{{ facts.modle.name }}\n", 3, "'modle'", id="unknown-name"),
        pytest.param("{{ facts.model.name }}\n{{ 1 / 0 }}\n", 2, "ZeroDivisionError", id="fails"),
    ],
)
def test_a_team_template_that_fails_names_its_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    template = tmp_path / "ours.html.j2"
    template.write_text(text)

    with pytest.raises(ConfigError) as raised:
        render_card(_facts(_all_results()), team_template=template)

    assert raised.value.file == template
    assert raised.value.line == line
    assert words in raised.value.message


def test_the_card_command_reports_a_broken_team_template(churn_repo: Path, cli) -> None:
    (churn_repo / "card.md.j2").write_text("# {{ facts.model.name }}\n{% for x in %}\n")
    config = _with_template(churn_repo, "card.md.j2")
    # The card stage reads what earlier stages left; an empty run directory means "not run".
    (churn_repo / "run").mkdir()

    result = cli("card", str(config), "--run-dir", str(churn_repo / "run"))

    assert result.code == 2
    [line] = result.error_lines
    assert re.search(r"card\.md\.j2:2: the card template does not parse", line), line
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param("card.txt", "is not a card template", id="wrong-kind"),
        pytest.param("missing.html.j2", "not found", id="missing"),
    ],
)
def test_a_bad_card_template_setting_is_a_config_error(
    churn_repo: Path, cli, value: str, words: str
) -> None:
    (churn_repo / "card.txt").write_text("hello")
    config = _with_template(churn_repo, value)
    (churn_repo / "run").mkdir()

    result = cli("card", str(config), "--run-dir", str(churn_repo / "run"))

    assert result.code == 2
    assert "card.template" in result.err
    assert words in result.err


def test_the_card_command_without_results_writes_a_card_of_not_run_stages(
    churn_repo: Path, cli
) -> None:
    run = churn_repo / "run"
    run.mkdir()

    result = cli("card", str(churn_repo / "mlgate.yaml"), "--run-dir", str(run))

    assert result.code == 0, result.err
    card = json.loads((run / "card.json").read_text())
    assert set(card["facts"]["stages"].values()) == {NOT_RUN}
    assert "Not run: the validate stage left no result." in (run / "model_card.md").read_text()
    assert "not run: validate, train, evaluate, fairness" in result.out


def _with_template(repo: Path, template: str) -> Path:
    import yaml

    config = repo / "mlgate.yaml"
    data = yaml.safe_load(config.read_text())
    data.setdefault("card", {})["template"] = template
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


# --- the diff against the champion's card -----------------------------------------------


def test_the_diff_shows_metrics_data_and_parameters_that_changed() -> None:
    champion = _facts(
        {
            "validate": _validate(),
            "train": _train(n_estimators=100, max_depth=5),
            "evaluate": _evaluate(roc_auc=0.85, champion=False),
        }
    )
    champion["model"]["version"] = "3"
    results = {**_all_results(), "train": _train(n_estimators=250, max_depth=5, subsample=0.8)}
    results["validate"]["files"]["training"]["sha256"] = "e" * 64
    # The same evaluation file, checked out under another folder: not a change.
    results["validate"]["files"]["validation"]["uri"] = "/home/runner/work/data/validation.csv"
    current = _facts(results)

    changes = diff_facts(current, champion)

    assert changes["status"] == COMPARED
    assert changes["champion_version"] == "3"
    by_name = {(item["area"], item["name"]): item for item in changes["items"]}
    assert by_name[("metrics", "roc_auc")]["before"] == "0.8500"
    assert by_name[("metrics", "roc_auc")]["after"] == "0.8633 (+0.0133)"
    assert by_name[("parameters", "n_estimators")] == {
        "area": "parameters",
        "name": "n_estimators",
        "before": "100",
        "after": "250",
    }
    assert by_name[("parameters", "subsample")]["before"] == "–"
    assert ("parameters", "max_depth") not in by_name
    assert by_name[("data", "training data")]["after"].endswith("eeeeeeeeeeee · 4,000 rows")
    assert ("data", "evaluation data") not in by_name
    assert ("metrics", "accuracy") not in by_name  # 0.818 both times

    section = changes_section(changes)
    assert section.title == "What changed"
    assert "| parameters | `n_estimators` | 100 | 250 |" in section.body


def test_the_report_finds_the_card_section_builder() -> None:
    from mlgate.report.compose import find_builder
    from mlgate.report.sections.card import report_sections

    assert find_builder("card") is report_sections


def test_the_diff_of_identical_cards_says_nothing_changed() -> None:
    facts = _facts(_all_results())
    changes = diff_facts(facts, json.loads(json.dumps(facts)))

    assert changes["items"] == []
    assert "no change" in changes_section(changes).body


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()
