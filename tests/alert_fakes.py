"""Loopback fakes of a Slack incoming webhook and PagerDuty's Events API v2.

One small HTTP server answers both, as the services do:

- Slack, `POST /services/T.../B.../<token>`: 200 `ok`; 404 `no_service` for a webhook
  that does not exist; 400 `invalid_payload` for a body that is not JSON, `no_text` for
  a message with neither text nor blocks, `invalid_blocks` for blocks that break Block
  Kit (checked against `alert_schemas/slack_block_kit_message.json`).
- PagerDuty, `POST /v2/enqueue`: 202 `{"status": "success", "message": "Event
  processed", "dedup_key": ...}`; 400 `{"status": "invalid event", "message": "Event
  object is invalid", "errors": [...]}` for an event that breaks
  `alert_schemas/pagerduty_events_v2.json`.

`down = True` makes both answer 503 (the requests still counted), and `trouble` the
next requests answer with the statuses it lists, to see retries and warnings. Accepted
payloads are kept in `slack` and `pagerduty`, refused ones in `rejected`, every
request's path in `requests`.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "alert_schemas"
SLACK_SCHEMA = json.loads((SCHEMAS / "slack_block_kit_message.json").read_text())
PAGERDUTY_SCHEMA = json.loads((SCHEMAS / "pagerduty_events_v2.json").read_text())
PAGERDUTY_PATH = "/v2/enqueue"


def slack_problems(body: Any) -> list[str]:
    return _problems(SLACK_SCHEMA, body)


def pagerduty_problems(body: Any) -> list[str]:
    return _problems(PAGERDUTY_SCHEMA, body)


def _problems(schema: dict[str, Any], body: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    ]


@dataclass
class AlertServices:
    base: str
    webhook_path: str
    routing_key: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 characters
    down: bool = False
    # Statuses to answer the next requests with, before any check: (status, Retry-After).
    trouble: list[tuple[int, str | None]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    pagerduty: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        """The secret webhook URL: the token is in the path, as with Slack's."""
        return self.base + self.webhook_path

    @property
    def events_url(self) -> str:
        return self.base + PAGERDUTY_PATH

    def env(
        self, slack_variable: str = "SLACK_WEBHOOK_URL", pd_variable: str = "PAGERDUTY_ROUTING_KEY"
    ) -> dict[str, str]:
        """The environment a command needs to reach both fakes."""
        return {
            slack_variable: self.webhook_url,
            pd_variable: self.routing_key,
            "MLGATE_PAGERDUTY_EVENTS_URL": self.events_url,
        }

    @property
    def secrets(self) -> list[str]:
        return [self.webhook_url, self.webhook_path.rsplit("/", 1)[-1], self.routing_key]

    def clear(self) -> None:
        self.slack.clear()
        self.pagerduty.clear()
        self.rejected.clear()
        self.requests.clear()


def _handler(services: AlertServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            services.requests.append(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if services.trouble:
                status, retry_after = services.trouble.pop(0)
                self._answer(status, "text/plain", "trouble", retry_after)
            elif self.path == PAGERDUTY_PATH:
                self._pagerduty(raw)
            elif self.path.startswith("/services/"):
                self._slack(raw)
            else:
                self._answer(404, "text/plain", "not found")

        def _slack(self, raw: bytes) -> None:
            if services.down:
                return self._answer(503, "text/plain", "service_unavailable")
            if self.path != services.webhook_path:
                return self._refuse("slack", 404, "text/plain", "no_service")
            try:
                body = json.loads(raw)
            except ValueError:
                return self._refuse("slack", 400, "text/plain", "invalid_payload")
            if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
                return self._refuse("slack", 400, "text/plain", "no_text")
            if slack_problems(body):
                return self._refuse("slack", 400, "text/plain", "invalid_blocks")
            services.slack.append(body)
            return self._answer(200, "text/plain", "ok")

        def _pagerduty(self, raw: bytes) -> None:
            if services.down:
                return self._answer(503, "application/json", '{"status": "unavailable"}')
            try:
                body = json.loads(raw)
            except ValueError:
                body, problems = None, ["body is not JSON"]
            else:
                problems = pagerduty_problems(body)
            if not problems and body["routing_key"] != services.routing_key:
                problems = ["routing_key: no integration with this key"]
            if problems:
                answer = {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": problems,
                }
                return self._refuse("pagerduty", 400, "application/json", json.dumps(answer))
            services.pagerduty.append(body)
            answer = {
                "status": "success",
                "message": "Event processed",
                "dedup_key": body.get("dedup_key") or secrets.token_hex(16),
            }
            return self._answer(202, "application/json", json.dumps(answer))

        def _refuse(self, service: str, status: int, kind: str, text: str) -> None:
            services.rejected.append((service, status, text))
            self._answer(status, kind, text)

        def _answer(
            self, status: int, kind: str, text: str, retry_after: str | None = None
        ) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def alert_services() -> Iterator[AlertServices]:
    token = secrets.token_urlsafe(18)
    services = AlertServices(base="", webhook_path=f"/services/T0MLGATE/B0ALERTS/{token}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(services))
    services.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield services
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
