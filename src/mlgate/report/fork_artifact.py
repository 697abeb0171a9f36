"""Before a workflow_run job downloads a fork's report artifact: its size, from GitHub.

`actions/download-artifact` fetches and unpacks the whole artifact before `mlgate report
--from-artifact` caps `report.json` (`artifact.MAX_BYTES`). So the job first asks GitHub's
API for the triggering run's artifact (`GET /repos/{repo}/actions/runs/{id}/artifacts`,
filtered by name) and refuses it (exit 2, one line) when it is missing, expired, or larger
than the report could ever need. Run as `"$MLGATE_PYTHON" -I -m mlgate.report.fork_artifact`
with GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, MLGATE_RUN_ID and
MLGATE_ARTIFACT_NAME; it writes the artifact's `artifact-id` and `size` to GITHUB_OUTPUT.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mlgate import _actions_io as actions_io
from mlgate.errors import EXIT_OK, InputError, MlgateError
from mlgate.report.artifact import MAX_BYTES

# A zip of report.json (at most MAX_BYTES) is never larger than the file plus its headers.
MAX_ARTIFACT_BYTES = MAX_BYTES + 64 * 1024


def check_size(
    client: Any, repository: str, run_id: int, name: str, limit: int = MAX_ARTIFACT_BYTES
) -> dict[str, Any]:
    """The run's artifact called `name`, if GitHub says it is small enough to download."""
    from mlgate.report.github import call

    def listed() -> Any:
        _, data = client.requester.requestJsonAndCheck(
            "GET",
            f"/repos/{repository}/actions/runs/{run_id}/artifacts",
            parameters={"name": name, "per_page": 100},
        )
        return data

    data = call(listed, f"list the artifacts of run {run_id}")
    found = [
        item
        for item in (data.get("artifacts") if isinstance(data, dict) else None) or []
        if isinstance(item, dict) and item.get("name") == name
    ]
    if not found:
        raise InputError(f"run {run_id} has no artifact named {name!r}; nothing to report")
    artifact = max(found, key=lambda item: int(item.get("id") or 0))  # the latest upload
    size = artifact.get("size_in_bytes")
    if artifact.get("expired"):
        raise InputError(f"artifact {name!r} of run {run_id} has expired")
    if not isinstance(size, int) or size < 0:
        raise InputError(f"GitHub gave no size for artifact {name!r} of run {run_id}")
    if size > limit:
        raise InputError(
            f"artifact {name!r} of run {run_id} is {size:,} bytes, more than the "
            f"{limit:,} a report needs; it was not downloaded"
        )
    return artifact


def main(environ: dict[str, str] | None = None) -> int:
    from mlgate import _console as console
    from mlgate.report import github

    env = dict(os.environ if environ is None else environ)
    try:
        token = env.get("GITHUB_TOKEN") or ""
        if token and actions_io.in_github_actions(env):
            actions_io.add_mask(token, stream=sys.stdout)
        repository, run_id = env.get("GITHUB_REPOSITORY", ""), env.get("MLGATE_RUN_ID", "")
        name = env.get("MLGATE_ARTIFACT_NAME", "")
        if not token or not repository or not run_id.isdigit() or not name:
            raise InputError(
                "set GITHUB_TOKEN, GITHUB_REPOSITORY, MLGATE_RUN_ID (the triggering run's id) "
                "and MLGATE_ARTIFACT_NAME"
            )
        policy = github.RetryPolicy()
        client = github.connect(token, env.get("GITHUB_API_URL"), policy)
        artifact = check_size(client, repository, int(run_id), name)
    except MlgateError as error:
        console.error(str(error))
        return error.exit_code
    size = artifact["size_in_bytes"]
    print(actions_io.one_line(f"artifact {name} of run {run_id}: {size:,} bytes, downloading"))
    if env.get("GITHUB_OUTPUT"):
        actions_io.write_outputs(
            {"artifact-id": artifact["id"], "size": size}, env["GITHUB_OUTPUT"]
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
