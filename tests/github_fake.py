"""A small stateful GitHub for tests, meant to sit behind Prism's validating proxy.

`FakeGitHub` answers on loopback with responses built from the examples in GitHub's
own OpenAPI description (`@octokit/openapi`), with the fields that matter changed and
every property the schema requires filled in, and every `https://api.github.com` URL
rewritten to `public_url` (the proxy's address: PyGithub refuses to follow a URL on
another port). Prism (`prism proxy api.github.com.json http://127.0.0.1:PORT --errors`)
checks every request and response against the spec, so the fake cannot drift from GitHub.

State lives in memory: pull requests (`add_pull`) and issue comments, each written by
the identity of the token that sent it (`add_user(token, login)`: a personal token whose
`GET /user` answers its login; any other token is an Actions `GITHUB_TOKEN`, whose
`GET /user` is refused with 403 and whose comments are by `github-actions[bot]`). Faults are
injected on cue with `inject()`: a 502 before or after the write happens, or a 403
secondary rate limit with `Retry-After`.

Extending it (for example deployments for promotion): routing is a table. Add a handler

    def create_deployment(fake, request):
        body = fake.example("/repos/{owner}/{repo}/deployments", "post", "201")
        body.update(id=..., ref=request.json["ref"])
        return Response(201, body)

    fake.route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/deployments", create_deployment)

`fake.example(path, method, status)` gives the spec's example for that response with
its required properties filled and URLs rewritten; `fake.state` is a free dict for
a handler's own records; `fake.requests` logs every request that reached the fake.
`instance_from_schema()` also builds minimal webhook payloads from
`@octokit/webhooks-schemas` (see `webhook_payload`).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB_API = "https://api.github.com"
ACTIONS_BOT = "github-actions[bot]"
NOW = "2026-01-01T00:00:00Z"


# --- building instances from a JSON Schema / OpenAPI document -----------------------------


class SchemaDocument:
    """A JSON document whose schemas refer to each other by `#/...` references."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"]
            if not pointer.startswith("#/"):
                raise ValueError(f"only local references are supported: {pointer}")
            node = self.document
            for part in pointer[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 50:
                raise ValueError(f"reference loop at {pointer}")
        return node

    def instance(self, schema: Any, depth: int = 0) -> Any:
        """The smallest value that satisfies `schema` (required properties only)."""
        schema = self.resolve(schema)
        if depth > 40 or not isinstance(schema, dict):
            return None
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if "enum" in schema:
            return copy.deepcopy(schema["enum"][0])
        if "example" in schema and not isinstance(schema["example"], (dict, list)):
            candidate = schema["example"]
            if _matches_type(candidate, schema):
                return candidate
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.instance(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [self.resolve(option) for option in schema[key]]
                usable = [o for o in options if o.get("type") != "null"] or options
                return self.instance(usable[0], depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None and "properties" in schema:
            kind = "object"
        if kind == "object":
            properties = schema.get("properties", {})
            return {
                name: self.instance(properties.get(name, {}), depth + 1)
                for name in schema.get("required", [])
            }
        if kind == "array":
            items = schema.get("items", {})
            return [self.instance(items, depth + 1) for _ in range(schema.get("minItems", 0))]
        if kind == "string":
            return _string_for(schema)
        if kind == "integer":
            return int(schema.get("minimum", 1))
        if kind == "number":
            return float(schema.get("minimum", 1))
        if kind == "boolean":
            return False
        return None

    def fill(self, value: Any, schema: Any, depth: int = 0) -> Any:
        """`value` (an example) with every property its schema requires filled in."""
        schema = self.resolve(schema)
        if depth > 40 or not isinstance(schema, dict) or value is None:
            return value
        for part in schema.get("allOf", []):
            value = self.fill(value, part, depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [self.resolve(option) for option in schema[key]]
                matching = [o for o in options if _matches_type(value, o)]
                if matching:
                    value = self.fill(value, matching[0], depth + 1)
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    value[name] = self.instance(properties.get(name, {}), depth + 1)
            for name, sub in properties.items():
                if name in value:
                    value[name] = self.fill(value[name], sub, depth + 1)
        elif isinstance(value, list) and "items" in schema:
            value = [self.fill(item, schema["items"], depth + 1) for item in value]
        return value


def _string_for(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return NOW
    if fmt in ("uri", "url"):
        return "https://example.invalid/"
    if fmt == "uri-template":
        return "https://example.invalid/{id}"
    if fmt == "email":
        return "octocat@example.invalid"
    return "x" * max(1, schema.get("minLength", 1))


def _matches_type(value: Any, schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds is None:
        return isinstance(value, dict) if "properties" in schema else True
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return any(checks.get(kind, lambda v: False)(value) for kind in kinds)


def webhook_payload(schemas: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    """A minimal payload for the webhook definition `name` (e.g. `pull_request$opened`)."""
    document = SchemaDocument(schemas)
    payload = document.instance({"$ref": f"#/definitions/{name}"})
    _deep_update(payload, changes)
    return payload


def _deep_update(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


# --- the HTTP fake ----------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["FakeGitHub", Request], Response]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    # "502" (nothing written), "502-after-write", "secondary-rate-limit", or "race": the
    # same request from another client is served first (two jobs creating at once).
    kind: str
    remaining: int


class FakeGitHub:
    """A loopback GitHub REST API with issue comments in memory (see the module docstring)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = SchemaDocument(spec)
        self.public_url = GITHUB_API
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.comments: dict[int, dict[str, Any]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.users: dict[str, str] = {}  # token -> login of a personal token
        self.state: dict[str, Any] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.faults: list[Fault] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        self.route("GET", r"/user", _get_user)
        self.route("GET", repo, _get_repo)
        self.route("GET", repo + r"/pulls/(?P<number>\d+)", _get_pull)
        self.route("GET", repo + r"/actions/runs/(?P<run_id>\d+)/artifacts", _list_artifacts)
        self.route("GET", repo + r"/issues/(?P<number>\d+)", _get_issue)
        self.route("GET", repo + r"/issues/(?P<number>\d+)/comments", _list_comments)
        self.route("POST", repo + r"/issues/(?P<number>\d+)/comments", _create_comment)
        self.route("GET", repo + r"/issues/comments/(?P<id>\d+)", _get_comment)
        self.route("PATCH", repo + r"/issues/comments/(?P<id>\d+)", _edit_comment)
        self.route("DELETE", repo + r"/issues/comments/(?P<id>\d+)", _delete_comment)

    # -- configuration ----------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer `method` on paths matching `pattern` (a full match) with `handler`."""
        self.routes.insert(0, (method.upper(), re.compile(pattern + r"/?"), handler))

    def inject(self, method: str, pattern: str, kind: str, times: int = 1) -> None:
        """Answer the next `times` matching requests with a fault instead of normally."""
        if kind not in ("502", "502-after-write", "secondary-rate-limit", "race"):
            raise ValueError(kind)
        self.faults.append(Fault(method.upper(), re.compile(pattern + r"/?"), kind, times))

    def add_pull(self, number: int, *, head_sha: str, owner: str, repo: str) -> None:
        self.pulls[number] = {"head_sha": head_sha, "owner": owner, "repo": repo}

    def add_artifact(self, run_id: int, name: str, size: int) -> int:
        """An artifact uploaded by workflow run `run_id` (its listing only: no content)."""
        artifact_id = self.next_id()
        self.state.setdefault("artifacts", []).append(
            {"id": artifact_id, "run_id": run_id, "name": name, "size": size}
        )
        return artifact_id

    def add_user(self, token: str, login: str) -> None:
        """Make `token` a personal token of `login` (other tokens act as GITHUB_TOKEN)."""
        self.users[token] = login

    def author(self, request: Request) -> dict[str, Any]:
        """The user object of whoever sent `request` (by its token)."""
        header = request.headers.get("Authorization") or request.headers.get("authorization")
        token = (header or "").split(" ", 1)[-1]
        login = self.users.get(token, ACTIONS_BOT)
        user = self.example("/user", "get")
        user.update(
            login=login,
            id=41898282 if login == ACTIONS_BOT else 1000 + sum(login.encode()),
            type="Bot" if login.endswith("[bot]") else "User",
        )
        return {key: user[key] for key in _SIMPLE_USER if key in user}

    def add_comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        """A comment on PR `number` written by `login` (someone else than mlgate)."""
        token = f"token-of-{login}"
        self.add_user(token, login)
        request = Request(
            "POST",
            f"/repos/o/r/issues/{number}/comments",
            {},
            {"Authorization": f"token {token}"},
            {"body": body},
            {"owner": "o", "repo": "r", "number": str(number)},
        )
        with self._lock:
            response = _create_comment(self, request)
        return self.comments[response.body["id"]]

    def reset(self) -> None:
        with self._lock:
            self.comments.clear()
            self.pulls.clear()
            self.users.clear()
            self.state.clear()
            self.requests.clear()
            self.faults.clear()

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["_issue"] == number]

    # -- spec examples ----------------------------------------------------------------

    def example(self, path: str, method: str, status: str = "200") -> Any:
        """The spec's example response, required properties filled, URLs on `public_url`."""
        operation = self.spec.document["paths"][path][method]
        response = self.spec.resolve(operation["responses"][status])
        content = response["content"]["application/json"]
        examples = content.get("examples") or {}
        if examples:
            value = self.spec.resolve(next(iter(examples.values())))["value"]
        else:
            value = self.spec.instance(content["schema"])
        value = self.spec.fill(copy.deepcopy(value), content["schema"])
        return self.rewrite(value)

    def rewrite(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(GITHUB_API, self.public_url)
        if isinstance(value, list):
            return [self.rewrite(item) for item in value]
        if isinstance(value, dict):
            return {key: self.rewrite(item) for key, item in value.items()}
        return value

    def next_id(self) -> int:
        return next(self._ids)

    # -- serving ----------------------------------------------------------------------

    def start(self) -> int:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        request = Request(
            http.command, parts.path, parse_qs(parts.query), dict(http.headers.items()), payload
        )
        with self._lock:
            response = self._answer(request)
            self.requests.append((request.method, request.path, response.status))
        data = b"" if response.body is None else json.dumps(response.body).encode()
        http.send_response(response.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
        if response.body is None:
            headers.pop("Content-Type")
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    def _answer(self, request: Request) -> Response:
        fault = self._take_fault(request)
        if fault == "secondary-rate-limit":
            return Response(
                403,
                {
                    "message": "You have exceeded a secondary rate limit. Please wait a few "
                    "minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
                },
                {"Retry-After": "1"},
            )
        if fault == "502":
            return Response(502, {"message": "Server Error"})
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if method == request.method and match:
                request.params = match.groupdict()
                if fault == "race":
                    handler(self, request)
                response = handler(self, request)
                if fault == "502-after-write":
                    return Response(502, {"message": "Server Error"})
                return response
        return Response(404, {"message": "Not Found", "documentation_url": "https://x.invalid"})

    def _take_fault(self, request: Request) -> str | None:
        for fault in self.faults:
            if (
                fault.remaining > 0
                and fault.method == request.method
                and fault.pattern.fullmatch(request.path)
            ):
                fault.remaining -= 1
                return fault.kind
        return None


# --- handlers ---------------------------------------------------------------------------

_REPO = "/repos/{owner}/{repo}"


def _not_found() -> Response:
    return Response(404, {"message": "Not Found", "documentation_url": "https://x.invalid"})


def _repo_fields(fake: FakeGitHub, owner: str, repo: str) -> dict[str, Any]:
    return {
        "full_name": f"{owner}/{repo}",
        "name": repo,
        "url": f"{fake.public_url}/repos/{owner}/{repo}",
    }


# The properties of GitHub's `simple-user`, the author of a comment.
_SIMPLE_USER = (
    "login", "id", "node_id", "avatar_url", "gravatar_id", "url", "html_url", "followers_url",
    "following_url", "gists_url", "starred_url", "subscriptions_url", "organizations_url",
    "repos_url", "events_url", "received_events_url", "type", "site_admin", "name", "email",
    "user_view_type", "starred_at",
)  # fmt: skip


def _get_user(fake: FakeGitHub, request: Request) -> Response:
    """A personal token's user; an installation token (the Actions token, a GitHub App's,
    writing as `<app>[bot]`) may not read /user (as on GitHub)."""
    user = fake.author(request)
    if user["login"].endswith("[bot]"):
        return Response(
            403,
            {
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/users/users",
            },
        )
    body = fake.example("/user", "get")
    body.update(user)
    return Response(200, body)


def _get_repo(fake: FakeGitHub, request: Request) -> Response:
    body = fake.example(_REPO, "get")
    body.update(_repo_fields(fake, request.params["owner"], request.params["repo"]))
    return Response(200, body)


def _get_pull(fake: FakeGitHub, request: Request) -> Response:
    number = int(request.params["number"])
    pull = fake.pulls.get(number)
    if pull is None:
        return _not_found()
    body = fake.example(_REPO + "/pulls/{pull_number}", "get")
    body.update(number=number, state="open")
    body["head"]["sha"] = pull["head_sha"]
    base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
    body.update(url=f"{base}/pulls/{number}", issue_url=f"{base}/issues/{number}")
    return Response(200, body)


def _list_artifacts(fake: FakeGitHub, request: Request) -> Response:
    run_id = int(request.params["run_id"])
    name = request.query.get("name", [None])[0]
    chosen = [
        a
        for a in fake.state.get("artifacts", [])
        if a["run_id"] == run_id and (name is None or a["name"] == name)
    ]
    listing = fake.example(_REPO + "/actions/runs/{run_id}/artifacts", "get")
    template = listing["artifacts"][0]
    base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
    artifacts = []
    for a in chosen:
        item = copy.deepcopy(template)
        item.update(
            id=a["id"],
            node_id=f"MDg6QXJ0aWZhY3Q{a['id']}",
            name=a["name"],
            size_in_bytes=a["size"],
            expired=False,
            url=f"{base}/actions/artifacts/{a['id']}",
            archive_download_url=f"{base}/actions/artifacts/{a['id']}/zip",
        )
        if isinstance(item.get("workflow_run"), dict):
            item["workflow_run"]["id"] = run_id
        artifacts.append(item)
    return Response(200, {"total_count": len(artifacts), "artifacts": artifacts})


def _get_issue(fake: FakeGitHub, request: Request) -> Response:
    number = int(request.params["number"])
    if number not in fake.pulls:
        return _not_found()
    body = fake.example(_REPO + "/issues/{issue_number}", "get")
    base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
    body.update(
        number=number,
        url=f"{base}/issues/{number}",
        comments_url=f"{base}/issues/{number}/comments",
        repository_url=base,
    )
    return Response(200, body)


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in comment.items() if not key.startswith("_")}


def _list_comments(fake: FakeGitHub, request: Request) -> Response:
    number = int(request.params["number"])
    if number not in fake.pulls:
        return _not_found()
    comments = sorted(fake.comments_on(number), key=lambda c: c["id"])
    per_page = int(request.query.get("per_page", ["30"])[0])
    page = int(request.query.get("page", ["1"])[0])
    chunk = comments[(page - 1) * per_page : page * per_page]
    headers = {}
    if page * per_page < len(comments):
        base = (
            f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
            f"/issues/{number}/comments"
        )
        headers["Link"] = f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"'
    return Response(200, [_public(c) for c in chunk], headers)


def _create_comment(fake: FakeGitHub, request: Request) -> Response:
    number = int(request.params["number"])
    if number not in fake.pulls:
        return _not_found()
    body = request.json.get("body") if isinstance(request.json, dict) else None
    if not isinstance(body, str):
        return _validation_failed("body is required")
    if len(body) > 65536:
        return _validation_failed("body is too long (maximum is 65536 characters)")
    comment = fake.example(_REPO + "/issues/{issue_number}/comments", "post", "201")
    comment_id = fake.next_id()
    base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    comment.update(
        id=comment_id,
        node_id=f"IC_{comment_id}",
        body=body,
        url=f"{base}/issues/comments/{comment_id}",
        issue_url=f"{base}/issues/{number}",
        created_at=stamp,
        updated_at=stamp,
        user=fake.author(request),
        _issue=number,
        _edits=0,
    )
    fake.comments[comment_id] = comment
    return Response(201, _public(comment), {"Location": comment["url"]})


def _validation_failed(message: str) -> Response:
    return Response(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "IssueComment", "code": "custom", "message": message}],
            "documentation_url": "https://docs.github.com/rest",
        },
    )


def _get_comment(fake: FakeGitHub, request: Request) -> Response:
    comment = fake.comments.get(int(request.params["id"]))
    return Response(200, _public(comment)) if comment else _not_found()


def _edit_comment(fake: FakeGitHub, request: Request) -> Response:
    comment = fake.comments.get(int(request.params["id"]))
    if comment is None:
        return _not_found()
    if comment["user"]["login"] != fake.author(request)["login"]:
        return _forbidden()  # GitHub's answer to editing someone else's comment
    body = request.json.get("body") if isinstance(request.json, dict) else None
    if not isinstance(body, str):
        return _validation_failed("body is required")
    if len(body) > 65536:
        return _validation_failed("body is too long (maximum is 65536 characters)")
    comment.update(
        body=body,
        updated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        _edits=comment["_edits"] + 1,
    )
    return Response(200, _public(comment))


def _delete_comment(fake: FakeGitHub, request: Request) -> Response:
    comment = fake.comments.get(int(request.params["id"]))
    if comment is None:
        return _not_found()
    if comment["user"]["login"] != fake.author(request)["login"]:
        return _forbidden()
    del fake.comments[comment["id"]]
    return Response(204)


def _forbidden() -> Response:
    return Response(
        403,
        {
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/issues/comments",
        },
    )


# --- Prism in front of the fake, for the test session ----------------------------------

NPM_LOCK_DIR = Path(__file__).resolve().parents[1] / "tools" / "npm"
SPEC = Path("node_modules/@octokit/openapi/generated/api.github.com.json")
WEBHOOKS = Path("node_modules/@octokit/webhooks-schemas/schema.json")
PRISM = Path("node_modules/.bin/prism")


def npm_dir() -> Path:
    """Where the npm tools live, outside the repository (`.ci/run` installs them there too)."""
    import os

    default = Path.home() / ".cache" / "mlgate-tests" / "npm"
    return Path(os.environ.get("MLGATE_TEST_NPM_DIR") or default)


def ensure_npm_tools() -> Path:
    import shutil
    import subprocess

    root = npm_dir()
    if all((root / path).exists() for path in (SPEC, WEBHOOKS, PRISM)):
        return root
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; it is needed for the GitHub contract tests")
    root.mkdir(parents=True, exist_ok=True)
    # The versions and integrity hashes of tools/npm/package-lock.json, as .ci/run installs.
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NPM_LOCK_DIR / name, root / name)
    subprocess.run(
        [npm, "ci", "--prefix", str(root), "--no-audit", "--no-fund"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return root


@dataclass
class PrismGitHub:
    """The fake behind `prism proxy --errors`: `url` is what clients use as GITHUB_API_URL."""

    fake: FakeGitHub
    url: str
    log_path: Path
    webhook_schemas: dict[str, Any]

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def violations(self, since: int = 0) -> list[str]:
        """Prism's contract violations (requests or responses off the spec) since an offset."""
        import time

        # Prism logs a response's validation just after forwarding it, later on a busy
        # machine: wait until its log has stopped growing for a while (at most 10 s).
        deadline, quiet_since, size = time.monotonic() + 10, time.monotonic(), -1
        while time.monotonic() < deadline:
            current = self.log_path.stat().st_size
            if current != size:
                size, quiet_since = current, time.monotonic()
            elif time.monotonic() - quiet_since >= 1.0:
                break
            time.sleep(0.1)
        with self.log_path.open("rb") as stream:
            stream.seek(since)
            text = stream.read().decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if "Violation" in line]


def start_prism(root: Path, fake: FakeGitHub, workdir: Path) -> tuple[Any, PrismGitHub]:
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake.public_url = f"http://127.0.0.1:{port}"
    fake_port = fake.start()
    log_path = workdir / "prism.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            str(root / PRISM),
            "proxy",
            str(root / SPEC),
            f"http://127.0.0.1:{fake_port}",
            "--errors",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{fake.public_url}/repos/o/r/issues/1/comments", timeout=2)
        except urllib.error.HTTPError:
            break  # Prism answered (the fake knows no PR 1 yet)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"prism did not start; see {log_path}") from None
            time.sleep(0.3)
            continue
        break
    schemas = load_spec(root / WEBHOOKS)
    return process, PrismGitHub(fake, fake.public_url, log_path, schemas)


def load_spec(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
