"""What runs in the stage's container: `python3 -m mlgate.compute.inside JOB`.

JOB (JSON) names the stage, the config and the run directory, all at the paths the host
sees, the data hashes and S3 copies the host already has, and what the host read from
the registry for the stage (`mlgate.compute.handoff`). The stage runs exactly as
it does on the host (`mlgate.stages.<name>.run`); its result, or its error as the typed
error it is, goes to the run directory for the host to read. Only what the stage needs is
imported: the config and results (pydantic, PyYAML), the data and scikit-learn.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    from mlgate.compute.container import outcome_file
    from mlgate.errors import ConfigError, MlgateError

    job = json.loads(argv[1])
    run_dir_path = Path(job["run_dir"])
    target = run_dir_path / outcome_file(job["stage"])
    try:
        answer: dict[str, Any] = {"result": _run(job).to_json()}
        code = 0
    except MlgateError as error:
        answer, code = {"error": _recorded(error)}, error.exit_code
    except ModuleNotFoundError as error:  # a library the image lacks, that the probe missed
        missing = ConfigError(
            f"the image lacks the Python module {error.name!r} that the {job['stage']} stage "
            "imports: install it in the image",
            key="compute.docker_image",
        )
        answer, code = {"error": _recorded(missing)}, missing.exit_code
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(answer), encoding="utf-8")
    os.replace(partial, target)
    return code


def _run(job: dict[str, Any]) -> Any:
    from mlgate._s3 import S3Object
    from mlgate.pipeline import BY_NAME
    from mlgate.project import load_project
    from mlgate.rundir import RunDir
    from mlgate.stages._session import Session

    project = load_project(Path(job["config"]))
    session = Session(project=project, run_dir=RunDir(Path(job["run_dir"])))
    session.data_hashes = dict(job["data_hashes"])  # hashed by the host a moment ago
    session.fetched_s3 = {
        role: S3Object(**{**fields, "path": Path(fields["path"])})
        for role, fields in job["fetched_s3"].items()
    }
    session.from_host = dict(job.get("from_host") or {})
    return importlib.import_module(BY_NAME[job["stage"]].module).run(session)


def _recorded(error: Any) -> dict[str, Any]:
    file = error.file
    return {
        "kind": type(error).__name__,
        "message": error.message,
        "file": str(file) if file is not None else None,
        "line": error.line,
        "key": error.key,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
