"""The Grafana dashboard and the Prometheus alerting rules (src/mlgate/serving/observability.py).

promtool (Debian's prometheus package) checks the rules, runs unit tests whose series make
each alert fire on one server and stay quiet on another (and on a server of another
model), and parses every panel's query. The dashboard's structure is checked here against
what Grafana's dashboard schema requires (no Grafana runs in the tests). The live check, a
real Prometheus scraping a running image, is in tests/test_build_image.py, beside the image
it reuses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.serving import observability
from mlgate.serving.observability import Thresholds
from prometheus_support import check_expressions, promtool

ROOT = Path(__file__).resolve().parents[1]
MODEL, VERSION = "churn", "3"
THRESHOLDS = Thresholds(
    error_ratio=0.05,
    p99_seconds=0.5,
    for_="5m",
    prediction_shift=0.1,
    shadow_agreement=0.9,
    shadow_abs_difference=2.0,
    runbook_url="https://example.com/runbook#rollback",
)
# Each firing case's values are well past these: nothing fires with them.
HIGH = Thresholds(
    error_ratio=0.5,
    p99_seconds=5.0,
    for_="5m",
    prediction_shift=0.5,
    shadow_agreement=0.3,
    shadow_abs_difference=5.0,
    runbook_url=THRESHOLDS.runbook_url,
)
ALERTS = (
    "MlgateHighErrorRatio",
    "MlgateHighLatencyP99",
    "MlgatePredictedClassShift",
    "MlgatePredictedValueShift",
    "MlgateShadowDisagreement",
    "MlgateShadowDifference",
)


def _rules(thresholds: Thresholds = THRESHOLDS) -> dict[str, Any]:
    return yaml.safe_load(observability.rules_text(MODEL, VERSION, thresholds))


def _server(instance: str, **labels: str) -> str:
    return ", ".join(
        f'{k}="{v}"' for k, v in {"job": "mlgate", "instance": instance, **labels}.items()
    )


def _series(metric: str, instance: str, values: str, **labels: str) -> dict[str, str]:
    return {"series": f"{metric}{{{_server(instance, **labels)}}}", "values": values}


def _servers(minutes: int) -> list[dict[str, str]]:
    """`bad` (fires) and `good` (stays quiet) serve churn v3 (bad beside a shadow v4);
    `other` serves another model and fires too, but is not churn."""
    steady = f"1+0x{minutes}"
    return [
        _series("mlgate_model_info", "bad", steady, name=MODEL, version=VERSION, role="primary"),
        _series("mlgate_model_info", "bad", steady, name=MODEL, version="4", role="shadow"),
        _series("mlgate_model_info", "good", steady, name=MODEL, version=VERSION),
        _series("mlgate_model_info", "other", steady, name="fraud", version="1"),
    ]


def _firing(rules: dict[str, Any], alert: str, instance: str, value: str) -> dict[str, Any]:
    """The alert promtool must see: its labels, and its annotations with the templates
    filled in for `instance` and the query's `value` as the template formats it."""
    (rule,) = [r for r in rules["groups"][0]["rules"] if r["alert"] == alert]
    filled = {
        name: re.sub(r"\{\{ \$value \| [^}]+ \}\}", value, text)
        .replace("{{ $labels.name }}", MODEL)
        .replace("{{ $labels.version }}", VERSION)
        .replace("{{ $labels.instance }}", instance)
        for name, text in rule["annotations"].items()
    }
    labels = {
        "severity": rule["labels"]["severity"],
        "job": "mlgate",
        "instance": instance,
        "name": MODEL,
        "version": VERSION,
    }
    return {"exp_labels": labels, "exp_annotations": filled}


def _unit_tests(rules: dict[str, Any]) -> list[dict[str, Any]]:
    day = 24 * 60
    per_minute = [
        {
            "interval": "1m",
            "input_series": [
                *_servers(30),
                # 20% of bad's requests fail; none of good's (it has no error series at all).
                *[
                    _series("mlgate_requests_total", host, "0+10x30", endpoint="/invocations")
                    for host in ("bad", "good", "other")
                ],
                *[
                    _series(
                        "mlgate_request_errors_total",
                        host,
                        "0+2x30",
                        endpoint="/invocations",
                        kind="client",
                    )
                    for host in ("bad", "other")
                ],
                # bad answers in 1 to 2 s (p99 1.99 s); good under 0.1 s, slow only on /ping.
                *[
                    _series(
                        "mlgate_request_duration_seconds_bucket",
                        host,
                        counts,
                        endpoint="/invocations",
                        le=le,
                    )
                    for host in ("bad", "other")
                    for le, counts in (("0.1", "0x30"), ("1", "0x30"), ("2", "0+10x30"))
                ],
                *[
                    _series(
                        "mlgate_request_duration_seconds_bucket",
                        host,
                        "0+10x30",
                        endpoint="/invocations",
                        le="+Inf",
                    )
                    for host in ("bad", "good", "other")
                ],
                *[
                    _series(
                        "mlgate_request_duration_seconds_bucket",
                        "good",
                        "0+10x30",
                        endpoint="/invocations",
                        le=le,
                    )
                    for le in ("0.1", "1", "2")
                ],
                _series(
                    "mlgate_request_duration_seconds_bucket",
                    "good",
                    "0x30",
                    endpoint="/ping",
                    le="2",
                ),
                _series(
                    "mlgate_request_duration_seconds_bucket",
                    "good",
                    "0+10x30",
                    endpoint="/ping",
                    le="+Inf",
                ),
                # The shadow agrees on half of bad's rows and on all of good's; it is off
                # by 3 on average on bad's and by 1 on good's.
                *[
                    _series("mlgate_shadow_requests_total", host, "0+10x30")
                    for host in ("bad", "good", "other")
                ],
                _series("mlgate_shadow_agreements_total", "bad", "0+5x30"),
                _series("mlgate_shadow_agreements_total", "other", "0+5x30"),
                _series("mlgate_shadow_agreements_total", "good", "0+10x30"),
                *[
                    _series("mlgate_shadow_abs_difference_count", host, "0+10x30")
                    for host in ("bad", "good", "other")
                ],
                _series("mlgate_shadow_abs_difference_sum", "bad", "0+30x30"),
                _series("mlgate_shadow_abs_difference_sum", "other", "0+30x30"),
                _series("mlgate_shadow_abs_difference_sum", "good", "0+10x30"),
            ],
            "alert_rule_test": [
                # Pending, not firing, before `for` has passed.
                *[{"eval_time": "3m", "alertname": alert, "exp_alerts": []} for alert in ALERTS],
                {
                    "eval_time": "15m",
                    "alertname": "MlgateHighErrorRatio",
                    "exp_alerts": [_firing(rules, "MlgateHighErrorRatio", "bad", "20%")],
                },
                {
                    "eval_time": "15m",
                    "alertname": "MlgateHighLatencyP99",
                    "exp_alerts": [_firing(rules, "MlgateHighLatencyP99", "bad", "1.99s")],
                },
                {
                    "eval_time": "15m",
                    "alertname": "MlgateShadowDisagreement",
                    "exp_alerts": [_firing(rules, "MlgateShadowDisagreement", "bad", "50%")],
                },
                {
                    "eval_time": "15m",
                    "alertname": "MlgateShadowDifference",
                    "exp_alerts": [_firing(rules, "MlgateShadowDifference", "bad", "3")],
                },
            ],
        }
    ]
    # A day at 90% class "0" (values below 1), then 50%; good stays at 90% all along.
    length = day + 120
    before, after = f"0+9x{day}", f"{9 * day + 5}+5x{length - day - 1}"
    shifting = [
        {
            "interval": "1m",
            "input_series": [
                *_servers(length),
                _series("mlgate_predictions_total", "bad", f"{before} {after}", predicted="0"),
                _series(
                    "mlgate_predictions_total",
                    "bad",
                    f"0+1x{day} {day + 5}+5x{length - day - 1}",
                    predicted="1",
                ),
                _series("mlgate_predictions_total", "good", f"0+9x{length}", predicted="0"),
                _series("mlgate_predictions_total", "good", f"0+1x{length}", predicted="1"),
                _series("mlgate_prediction_value_bucket", "bad", f"{before} {after}", le="1"),
                *[
                    _series("mlgate_prediction_value_bucket", "bad", f"0+10x{length}", le=le)
                    for le in ("10", "+Inf")
                ],
                _series("mlgate_prediction_value_count", "bad", f"0+10x{length}"),
                _series("mlgate_prediction_value_bucket", "good", f"0+9x{length}", le="1"),
                *[
                    _series("mlgate_prediction_value_bucket", "good", f"0+10x{length}", le=le)
                    for le in ("10", "+Inf")
                ],
                _series("mlgate_prediction_value_count", "good", f"0+10x{length}"),
                # The other model's predictions shift as bad's do.
                _series("mlgate_predictions_total", "other", f"{before} {after}", predicted="0"),
                _series(
                    "mlgate_predictions_total",
                    "other",
                    f"0+1x{day} {day + 5}+5x{length - day - 1}",
                    predicted="1",
                ),
            ],
            "alert_rule_test": [
                {
                    "eval_time": f"{day + 90}m",
                    "alertname": "MlgatePredictedClassShift",
                    "exp_alerts": [_firing(rules, "MlgatePredictedClassShift", "bad", "40%")],
                },
                {
                    "eval_time": f"{day + 90}m",
                    "alertname": "MlgatePredictedValueShift",
                    "exp_alerts": [_firing(rules, "MlgatePredictedValueShift", "bad", "0.40")],
                },
            ],
        }
    ]
    return per_minute + shifting


def _write_rules(folder: Path, thresholds: Thresholds) -> Path:
    path = folder / observability.RULES_FILE
    path.write_text(observability.rules_text(MODEL, VERSION, thresholds), encoding="utf-8")
    return path


def _write_unit_tests(folder: Path) -> Path:
    path = folder / "tests.yml"
    unit = {
        "rule_files": [observability.RULES_FILE],
        "evaluation_interval": "1m",
        "tests": _unit_tests(_rules()),
    }
    path.write_text(yaml.safe_dump(unit, sort_keys=False, width=1000), encoding="utf-8")
    return path


def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    done = promtool("check", "rules", str(_write_rules(tmp_path, THRESHOLDS)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout
    # Without serving.alerts.shadow_abs_difference there is no regressor shadow rule.
    plain = observability.rules(MODEL, VERSION, Thresholds())
    assert [r["alert"] for r in plain["groups"][0]["rules"]] == list(ALERTS[:-1])


@pytest.mark.slow  # a day of per-minute series: a few seconds of promtool
def test_each_alert_fires_on_its_series_and_not_on_the_others(tmp_path: Path) -> None:
    _write_rules(tmp_path, THRESHOLDS)
    unit = _write_unit_tests(tmp_path)
    done = promtool("test", "rules", unit.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]

    # The same series against higher thresholds: every firing case fails, so each one
    # depends on its threshold (and the unit tests can fail).
    _write_rules(tmp_path, HIGH)
    done = promtool("test", "rules", unit.name, cwd=tmp_path)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    missed = [alert for alert in ALERTS if f"alertname: {alert}" not in output]
    assert missed == [], output[-6000:]


def test_every_panel_query_parses(tmp_path: Path) -> None:
    for model in (MODEL, None):
        found = observability.dashboard(model, VERSION if model else None)
        queries = observability.panel_queries(found)
        assert len(queries) >= 12
        # Grafana's variables, as Grafana substitutes them before sending a query.
        expressions = {
            f"panel:{index}": expression.replace("$__rate_interval", "1m").replace(
                "$model", "churn|fraud"
            )
            for index, (_, expression) in enumerate(queries)
        }
        done = check_expressions(expressions, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_query_is_caught_by_the_parse_check(tmp_path: Path) -> None:
    done = check_expressions({"panel:0": "rate((mlgate_requests_total * 1)[5m])"}, tmp_path)
    assert done.returncode != 0


def _check_dashboard(found: dict[str, Any]) -> list[str]:
    """What Grafana's dashboard schema (kinds/dashboard, schemaVersion 39) requires of the
    parts this dashboard uses: the problems found, or []."""
    problems = []
    for key, kind in (
        ("title", str),
        ("uid", str),
        ("schemaVersion", int),
        ("panels", list),
        ("templating", dict),
        ("time", dict),
        ("editable", bool),
        ("graphTooltip", int),
        ("tags", list),
    ):
        if not isinstance(found.get(key), kind):
            problems.append(f"{key} is not a {kind.__name__}")
    if not 1 <= len(found.get("uid", "")) <= 40:
        problems.append("uid is not 1 to 40 characters")
    variables = {v["name"]: v for v in found["templating"]["list"]}
    if (
        variables.get("datasource", {}).get("type") != "datasource"
        or variables["datasource"].get("query") != "prometheus"
    ):
        problems.append("no Prometheus datasource variable")
    if variables.get("model", {}).get("type") != "query":
        problems.append("no model variable")
    ids = [panel.get("id") for panel in found["panels"]]
    if len(set(ids)) != len(ids):
        problems.append("panel ids repeat")
    occupied: set[tuple[int, int]] = set()
    for panel in found["panels"]:
        where = f"panel {panel.get('title')!r}"
        if panel.get("type") not in {"timeseries", "stat", "heatmap"}:
            problems.append(f"{where}: type {panel.get('type')!r}")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "hwxy") or grid["x"] + grid["w"] > 24:
            problems.append(f"{where}: gridPos {grid}")
            continue
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        if cells & occupied:
            problems.append(f"{where}: overlaps another panel")
        occupied |= cells
        if panel.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append(f"{where}: datasource {panel.get('datasource')}")
        refs = [target.get("refId") for target in panel.get("targets", [])]
        if (
            not refs
            or len(set(refs)) != len(refs)
            or not all(isinstance(r, str) and r for r in refs)
        ):
            problems.append(f"{where}: refIds {refs}")
        if not all(isinstance(target.get("expr"), str) for target in panel.get("targets", [])):
            problems.append(f"{where}: a target without expr")
    return problems


def test_the_dashboard_has_every_panel_and_a_valid_structure() -> None:
    found = json.loads(
        observability.render(MODEL, VERSION, THRESHOLDS)[observability.DASHBOARD_FILE]
    )
    assert _check_dashboard(found) == []
    assert found["schemaVersion"] == 39
    assert found["title"] == f"mlgate serving: {MODEL}"
    assert f"{MODEL} v{VERSION}" in found["description"]
    (model,) = [v for v in found["templating"]["list"] if v["name"] == "model"]
    assert model["current"]["value"] == MODEL
    queries = " ".join(expression for _, expression in observability.panel_queries(found))
    for needed in (
        "mlgate_requests_total",
        "mlgate_request_errors_total",
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        "mlgate_predictions_total",
        "mlgate_prediction_value_bucket",
        "offset 1d",
        "mlgate_shadow_agreements_total",
        "mlgate_shadow_latency_seconds_bucket",
        "mlgate_shadow_errors_total",
        "mlgate_shadow_dropped_total",
        "mlgate_model_info",
        'name=~"$model"',
    ):
        assert needed in queries, needed
    # The check finds what it looks for.
    broken = json.loads(json.dumps(found))
    broken["panels"][1]["gridPos"]["x"] = 0
    broken["panels"][2]["targets"][0]["refId"] = ""
    assert len(_check_dashboard(broken)) == 2


def _unknown_keys(written: Any, read_back: Any, path: str = "") -> list[str]:
    """The keys of `written` that Grafana's schema types dropped on the way back."""
    if isinstance(written, dict) and isinstance(read_back, dict):
        return [
            found
            for key, value in written.items()
            for found in (
                [f"{path}/{key}"]
                if key not in read_back
                else _unknown_keys(value, read_back[key], f"{path}/{key}")
            )
        ]
    if isinstance(written, list) and isinstance(read_back, list):
        return [
            found
            for index, (item, back) in enumerate(zip(written, read_back, strict=True))
            for found in _unknown_keys(item, back, f"{path}[{index}]")
        ]
    return []


def test_the_dashboard_reads_as_grafanas_own_dashboard_type() -> None:
    """Read through the Grafana foundation SDK's models, generated from Grafana 11.6's
    dashboard schema: every key the dashboard writes is one the schema knows where it
    stands, and every panel's type is a Grafana panel kind."""
    sdk = pytest.importorskip("grafana_foundation_sdk.models.dashboard")
    written = json.loads(
        observability.render(MODEL, VERSION, THRESHOLDS)[observability.DASHBOARD_FILE]
    )
    read_back = json.loads(
        json.dumps(sdk.Dashboard.from_json(written).to_json(), default=lambda o: o.to_json())
    )
    assert _unknown_keys(written, read_back) == []
    assert read_back["title"] == written["title"]
    assert [panel["type"] for panel in read_back["panels"]] == [
        panel["type"] for panel in written["panels"]
    ]
    assert {panel["type"] for panel in written["panels"]} <= {
        "stat",
        "timeseries",
        "heatmap",
        "barchart",
        "table",
        "gauge",
        "bargauge",
        "text",
    }
    # The check finds a key out of place.
    misplaced = json.loads(json.dumps(written))
    misplaced["panels"][0]["expr"] = "up"
    back = sdk.Dashboard.from_json(json.loads(json.dumps(misplaced))).to_json()
    back = json.loads(json.dumps(back, default=lambda o: o.to_json()))
    assert _unknown_keys(misplaced, back) == ["/panels[0]/expr"]


def test_each_alert_names_severity_summary_description_and_the_runbook() -> None:
    for rule in _rules()["groups"][0]["rules"]:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"] == THRESHOLDS.runbook_url
        assert f'name="{MODEL}"' in rule["expr"]
        assert f"{MODEL} v{VERSION}" in rule["annotations"]["description"]
    # The default runbook is the README's section, whose heading gives that anchor.
    anchor = observability.RUNBOOK_URL.rpartition("#")[2]
    headings = re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    assert anchor in slugs


def test_deploy_monitoring_holds_the_files_for_every_model() -> None:
    expected = observability.render(None, None, Thresholds())
    for name, text in expected.items():
        path = ROOT / "deploy" / "monitoring" / name
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: python -m mlgate.serving.observability deploy/monitoring"
        )


def test_serving_alerts_in_the_config_are_typed() -> None:
    from pydantic import ValidationError

    from mlgate.config import ServingSection

    alerts = ServingSection.model_validate({"alerts": {"for": "10m", "error_ratio": 0.2}}).alerts
    assert (alerts.for_, alerts.error_ratio, alerts.p99_seconds) == ("10m", 0.2, 0.5)
    for bad in (
        {"for": "5 minutes"},
        {"error_ratio": 2.0},
        {"runbook_url": "README"},
        {"p99": 1.0},
    ):
        with pytest.raises(ValidationError):
            ServingSection.model_validate({"alerts": bad})
