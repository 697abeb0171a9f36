"""Debian's Prometheus for the tests: promtool, and a real server on a free loopback port.

The tests that need it skip with the reason when `promtool` or `prometheus` is missing
(`apt-get install prometheus`); with MLGATE_REQUIRE_PROMETHEUS=1 (`.ci/run` sets it where
it installs the package) they fail instead. A started server keeps its data in a
temporary folder and stops when the block ends; the package's own service is not used.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests
import yaml


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("MLGATE_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(f"{reason} (MLGATE_REQUIRE_PROMETHEUS=1: required, not skipped)", pytrace=False)
    pytest.skip(reason)


def tool(name: str) -> str:
    """The path of `promtool` or `prometheus`, or skip (fail when required)."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None
    )
    if found is None:
        _unavailable(f"no {name}: apt-get install prometheus")
    return found


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def check_expressions(
    expressions: dict[str, str], folder: Path
) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on each expression wrapped as a recording rule: promtool
    parses (and type-checks) every one, offline."""
    rules = [{"record": name, "expr": expression} for name, expression in expressions.items()]
    path = folder / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}))
    return promtool("check", "rules", str(path))


@contextlib.contextmanager
def prometheus(folder: Path, targets: list[str], rule_files: list[Path]) -> Iterator[str]:
    """A Prometheus scraping `targets` (host:port) and evaluating `rule_files`, both every
    second, on a free loopback port: yields its URL."""
    from conftest import _free_port, serve_on_loopback

    binary = tool("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": "mlgate", "static_configs": [{"targets": targets}]}],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    command = [
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with serve_on_loopback(
        command, port=port, health="/-/ready", log_path=folder / "prometheus.log"
    ) as url:
        yield url


def api(url: str, path: str, **query: str) -> Any:
    """The `data` of a Prometheus HTTP API answer (asserting its status is success)."""
    address = f"{url}/api/v1/{path}"
    if query:
        address += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(address, timeout=30) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return body["data"]


def until(check: Any, seconds: float, what: str) -> Any:
    """Call `check` until it returns something true (then return it), or fail naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"after {seconds:g} s: {what}", pytrace=False)
        time.sleep(0.5)


@contextlib.contextmanager
def image_on_loopback(docker_client: Any, image: str) -> Iterator[str]:
    """A serving image running on the host's network, listening on a free loopback port
    only, once /ping answers: yields its URL (Prometheus scrapes it there)."""
    from conftest import _free_port

    port = _free_port()
    box = docker_client.containers.run(
        image,
        detach=True,
        network_mode="host",
        environment={"MLGATE_HOST": "127.0.0.1", "MLGATE_PORT": str(port)},
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            box.reload()
            assert box.status == "running", box.logs().decode()[-3000:]
            return http(f"{url}/ping")[0] == 200

        until(answers, 120, f"{image} did not answer /ping")
        yield url
    finally:
        for attempt in range(3):  # a busy engine can take over a minute to answer
            try:
                box.remove(force=True)
                break
            except requests.exceptions.Timeout:
                if attempt == 2:
                    raise


def http(url: str, body: Any = None) -> tuple[int, str]:
    """GET, or POST `body` as JSON: the status and the text (status 0: nothing listens)."""
    import urllib.error

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def check_scraped_image(
    docker_client: Any, image: str, monitoring: Path, model: str, rows: Any, folder: Path
) -> None:
    """The rules and dashboard `build-image --monitoring-out` wrote into `monitoring`,
    against a real Prometheus scraping `image` on loopback. The rules were written with
    serving.alerts `{error_ratio: 0.2, for: 1s}`: the error ratio alert stays quiet while
    every request succeeds, and fires once most fail."""
    from mlgate.serving import observability

    tool("prometheus")  # skip (or fail) before starting anything
    rules = monitoring / observability.RULES_FILE
    dashboard = json.loads((monitoring / observability.DASHBOARD_FILE).read_text())
    payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    with (
        image_on_loopback(docker_client, image) as served,
        prometheus(folder, [served.removeprefix("http://")], [rules]) as url,
    ):

        def value(expression: str) -> float | None:
            found = api(url, "query", query=expression)["result"]
            return float(found[0]["value"][1]) if found else None

        def alert(name: str) -> list[dict[str, Any]]:
            return [a for a in api(url, "alerts")["alerts"] if a["labels"]["alertname"] == name]

        for _ in range(3):
            status, text = http(f"{served}/invocations", payload)
            assert status == 200, text
        answered = 'sum(mlgate_requests_total{endpoint="/invocations"})'
        until(lambda: value(answered) == 3, 60, "Prometheus did not scrape 3 requests")
        time.sleep(3)  # several evaluations of every rule with only successes scraped
        assert alert("MlgateHighErrorRatio") == []

        groups = api(url, "rules")["groups"]
        loaded = {r["name"]: r for group in groups for r in group["rules"]}
        assert set(loaded) >= {"MlgateHighErrorRatio", "MlgateHighLatencyP99"}, loaded
        assert {name: r["health"] for name, r in loaded.items()} == dict.fromkeys(loaded, "ok"), [
            r.get("lastError") for r in loaded.values()
        ]

        # Every panel's query runs on the real server; those of what the image served so
        # far find its series through mlgate_model_info's name.
        shown = {
            "Model version",
            "Servers",
            "Requests per second",
            "Request rate by status",
            "Error ratio (/invocations)",
            "Latency of /invocations",
            "Predictions by class",
        }
        empty = []
        for title, expression in observability.panel_queries(dashboard):
            query = expression.replace("$__rate_interval", "1m").replace("$model", model)
            found = api(url, "query", query=query)["result"]
            if title in shown and not found:
                empty.append((title, query))
        assert empty == []

        def refused() -> None:
            status, text = http(f"{served}/invocations", {"dataframe_split": {"columns": ["x"]}})
            assert status == 400, text

        # The error series were scraped at 0 before any error (rate() sees no increase in
        # a series' first sample), so the very first errors count.
        failed = 'sum(mlgate_request_errors_total{endpoint="/invocations"})'
        assert value(failed) == 0
        for _ in range(8):
            refused()

        def firing() -> list[dict[str, Any]]:
            return [a for a in alert("MlgateHighErrorRatio") if a["state"] == "firing"]

        (fired,) = until(firing, 60, "MlgateHighErrorRatio did not fire")
        assert fired["labels"]["name"] == model
        assert fired["labels"]["severity"] == "critical"
        assert fired["annotations"]["runbook_url"] == observability.RUNBOOK_URL
        assert alert("MlgateHighLatencyP99") == []
