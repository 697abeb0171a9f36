"""The model card of a real run of the example: its figures against the stage results,
its files in the MLflow run and on the registered version, a screenshot in headless
Chromium, and the diff against the champion's card on a second run (no mocks).

One module-scoped model repo on the test session's MLflow tracking server (so the card
files travel through its artifact proxy, as in CI): the example is run once and
registered (version 1, then promoted to `production`); a second run with other
parameters meets it as the champion.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import EXAMPLE, ISOLATED_ENV
from mlgate.card import CARD_TAG, FACTS_TAG
from mlgate.card.facts import SECTIONS
from mlgate.cli import main
from mlgate.report.sections.card import report_sections
from mlgate.results import CardResult

pytestmark = pytest.mark.slow

# A name of its own on the shared tracking server, so version numbers start at 1.
MODEL = "card-test-churn-model"


def _config(repo: Path, name: str, change) -> Path:
    data = yaml.safe_load((repo / "mlgate.yaml").read_text())
    change(data)
    path = repo / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _on_server(url: str):
    def change(config: dict[str, Any]) -> None:
        # Fewer bootstrap draws than the defaults: the same kinds of figures, in seconds.
        config.setdefault("evaluation", {})["bootstrap"] = {"n": 200, "seed": 0}
        config.setdefault("fairness", {})["n_boot"] = 50
        config["tracking"].update(
            registration="always",
            tracking_uri=url,
            registry_name=MODEL,
            experiment_name=MODEL,
        )

    return change


def _run(repo: Path, config: Path, run_dir: Path) -> int:
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED_ENV:
            patch.delenv(name, raising=False)
        patch.chdir(repo)
        return main(["run", str(config), "--run-dir", str(run_dir), "--json"])


def _client(repo: Path):
    from mlflow import MlflowClient

    config = yaml.safe_load((repo / "mlgate.yaml").read_text())
    return MlflowClient(tracking_uri=config["tracking"]["tracking_uri"])


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> Path:
    """The example run once (registered as v1, promoted to production), then run again
    with other parameters so that the second card meets the first as the champion's."""
    repo = tmp_path_factory.mktemp("card") / "churn"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".mlgate", "__pycache__"))
    _config(repo, "mlgate.yaml", _on_server(mlflow_server))
    assert _run(repo, repo / "mlgate.yaml", repo / "first") == 0
    _client(repo).set_registered_model_alias(MODEL, "production", "1")

    def other_params(config: dict[str, Any]) -> None:
        config["model"]["params"] = {"n_estimators": 120, "learning_rate": 0.1, "max_depth": 3}

    second = _config(repo, "second.yaml", other_params)
    assert _run(repo, second, repo / "second") in (0, 1)
    return repo


def _result(run_dir: Path, stage: str) -> dict[str, Any]:
    return json.loads((run_dir / f"{stage}.json").read_text())


# --- reading the HTML card back -----------------------------------------------------------


class _Card(HTMLParser):
    """Section ids, and the text of every table row keyed by the table's id or class."""

    def __init__(self) -> None:
        super().__init__()
        self.section_ids: list[str] = []
        self.headings: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.section_ids.append(found.get("id") or "")
        elif tag == "table":
            self._table = found.get("id") or found.get("class") or "table"
            self.rows.setdefault(self._table, [])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._heading = []
        elif tag == "img":
            self.images.append(found.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table and self._row is not None:
            self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


def _html(run_dir: Path) -> _Card:
    card = _Card()
    card.feed((run_dir / "model_card.html").read_text())
    return card


def _interval(value: dict[str, float] | None, signed: bool = False) -> str:
    if value is None:
        return ""
    show = (lambda x: f"{x:+.4f}".replace("-", "−")) if signed else (lambda x: f"{x:.4f}")
    return f"[{show(value['low'])}, {show(value['high'])}]"


# --- the first card: every section, every figure from the results ---------------------


def test_the_html_card_has_every_section(repo: Path) -> None:
    card = _html(repo / "first")

    assert card.headings == [title for _, title in SECTIONS]
    # The evaluate stage's plots and the fairness stage's chart, embedded.
    plots = list((repo / "first" / "plots").glob("*.png"))
    assert len(plots) == 5
    assert _result(repo / "first", "fairness")["chart"] == "fairness.png"
    assert len(card.images) == len(plots) + 1
    # The free-text sections are the example's card: text, shown as written.
    html = (repo / "first" / "model_card.html").read_text()
    free_text = yaml.safe_load((repo / "mlgate.yaml").read_text())["card"]
    for key in ("intended_use", "out_of_scope_uses", "limitations", "ethical_considerations"):
        assert f"<p>{' '.join(free_text[key].split())}</p>".replace("'", "&#39;") in html
    assert all(src.startswith("data:image/png;base64,") for src in card.images)


def test_the_card_metrics_are_the_evaluate_stage_figures(repo: Path) -> None:
    evaluate = _result(repo / "first", "evaluate")
    header, *rows = _html(repo / "first").rows["metrics-table"]

    assert header[:3] == ["metric", "value", "interval"]
    assert [row[0] for row in rows] == list(evaluate["metrics"])
    for row in rows:
        name = row[0]
        assert row[1] == f"{evaluate['metrics'][name]:.4f}"
        assert row[2] == _interval(evaluate["intervals"][name])
        assert row[3] == "–"  # no champion on the first run
    markdown_card = (repo / "first" / "model_card.md").read_text()
    for name, value in evaluate["metrics"].items():
        assert re.search(rf"\| `{name}` \| {value:.4f} \| \[", markdown_card)


def test_the_card_data_and_validation_are_the_validate_stage_figures(repo: Path) -> None:
    validate = _result(repo / "first", "validate")
    card = _html(repo / "first")
    html = (repo / "first" / "model_card.html").read_text()

    for role, key in (("training", "training"), ("validation", "evaluation")):
        info = validate["files"][role]
        assert f'data-fact="{key}.rows">{info["rows"]:,}<' in html
        assert info["sha256"] in html
        assert info["uri"] in html
    checks = {row[0]: row[1:] for row in card.rows["validation-table"][1:]}
    expected = validate["expectations"]["checked"]
    assert checks == {role: [f"{count:,}", "0"] for role, count in expected.items()}


def test_the_card_fairness_is_the_fairness_stage_figures(repo: Path) -> None:
    fairness = _result(repo / "first", "fairness")
    card = _html(repo / "first")
    groups = card.rows["fairness-groups"]
    disparities = card.rows["fairness-disparities"]

    expected_groups = [
        [group["group"], f"{group['count']:,}"]
        + [f"{value:.3f}" for name, value in group["metrics"].items() if name != "count"]
        for feature in fairness["features"]
        for group in feature["groups"]
    ]
    assert [row for row in groups if row[0] != "group"] == expected_groups
    expected_checks = [
        [check["metric"], f"{check['value']:.3f}"]
        for feature in fairness["features"]
        for check in feature["checks"]
    ]
    assert [row[:2] for row in disparities if row[0] != "disparity"] == expected_checks


def test_the_card_names_the_registered_version_and_how_to_load_it(repo: Path) -> None:
    register = _result(repo / "first", "register")
    facts = _result(repo / "first", "card")["facts"]

    assert register["version"] == "1"
    assert facts["model"]["version"] == "1"
    html = (repo / "first" / "model_card.html").read_text()
    assert f"Model card: {MODEL} v1</title>" in html
    assert f"models:/{MODEL}@candidate" in html
    assert "ml-team@example.com" in html  # owners from card: in the example config


def test_the_card_is_logged_to_the_run_and_attached_to_the_version(repo: Path, tmp_path) -> None:
    client = _client(repo)
    version = client.get_model_version(MODEL, "1")
    register = _result(repo / "first", "register")

    assert version.run_id == register["mlflow_run_id"]
    assert version.tags[CARD_TAG] == "mlgate/model_card.html"
    logged = {item.path for item in client.list_artifacts(version.run_id, "mlgate")}
    assert {"mlgate/model_card.html", "mlgate/model_card.md", "mlgate/card.json"} <= logged
    local = client.download_artifacts(version.run_id, version.tags[FACTS_TAG], str(tmp_path))
    # The logged card is the one that names its version (logged again after registering).
    assert json.loads(Path(local).read_text())["facts"]["model"]["version"] == "1"


# --- the second card: against the champion's ----------------------------------------------


def test_the_second_card_compares_with_the_champion_card(repo: Path) -> None:
    facts = _result(repo / "second", "card")["facts"]
    evaluate = _result(repo / "second", "evaluate")
    changes = facts["changes"]

    assert evaluate["champion"]["version"] == "1"
    assert changes["status"] == "compared"
    assert changes["champion_version"] == "1"
    items = {(item["area"], item["name"]): item for item in changes["items"]}
    assert items[("parameters", "n_estimators")] == {
        "area": "parameters",
        "name": "n_estimators",
        "before": "250",
        "after": "120",
    }
    first = _result(repo / "first", "evaluate")["metrics"]
    for name, value in evaluate["metrics"].items():
        if f"{value:.4f}" != f"{first[name]:.4f}":
            assert items[("metrics", name)]["before"] == f"{first[name]:.4f}"
    assert not [key for key in items if key[0] == "data"]  # the same data files

    rows = {row[0]: row for row in _html(repo / "second").rows["metrics-table"][1:]}
    for name, compared in evaluate["comparison"].items():
        assert rows[name][3] == f"{compared['champion']:.4f}"
        assert rows[name][5] == _interval(compared["interval"], signed=True)
    section, checklist = report_sections(CardResult.from_json(_result(repo / "second", "card")))
    assert "| parameters | `n_estimators` | 250 | 120 |" in section.body
    assert checklist.key == "checklist"


# --- it renders: a screenshot in headless Chromium ----------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_screenshot_in_headless_chromium_shows_the_card(repo: Path, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    shot = tmp_path / "card.png"
    page = (repo / "first" / "model_card.html").resolve().as_uri()
    completed = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert shot.is_file(), completed.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 3000)
        grey = image.convert("L")
        # A blank page has no variance; the card's dark header, tables and plots do.
        assert ImageStat.Stat(grey).stddev[0] > 20
        header = grey.crop((0, 0, 1200, 60))
        assert ImageStat.Stat(header).mean[0] < 80  # the dark header band rendered
        shutil.copy(shot, repo / "first" / "model_card.png")  # kept beside the card


def test_a_champion_registered_without_a_card_is_said_so(repo: Path) -> None:
    client = _client(repo)
    facts_path = client.get_model_version(MODEL, "1").tags[FACTS_TAG]
    run_dir = repo / "second-again"
    shutil.copytree(repo / "second", run_dir)
    client.delete_model_version_tag(MODEL, "1", FACTS_TAG)  # as mlgate before cards left it
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in ISOLATED_ENV:
                patch.delenv(name, raising=False)
            # --no-cache: the stage cache keys on the champion's version, not on its tags.
            code = main(
                ["card", str(repo / "second.yaml"), "--run-dir", str(run_dir), "--no-cache"]
            )
    finally:
        client.set_model_version_tag(MODEL, "1", FACTS_TAG, facts_path)

    assert code == 0
    changes = _result(run_dir, "card")["facts"]["changes"]
    assert changes["status"] == "no champion card"
    assert changes["items"] == []
    html = (run_dir / "model_card.html").read_text()
    assert "The champion (v1) was registered without a model card" in html
