#!/usr/bin/env bash
# Regenerate the pinned requirements from pyproject.toml after changing a dependency.
#   runtime.txt: what the `setup` action installs for a model repo (no test tools, no Spark)
#   lock.txt:    runtime + every extra + the dev group, for this repo's tests and CI
#   runtime-extras.txt: runtime + the dvc, onnx and pandera extras (setup's `extras` input)
# Every pin carries its SHA-256 hashes (--generate-hashes): setup installs with --require-hashes.
# The existing files are uv's preferences, so only what pyproject.toml changed moves.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--universal --python-version 3.10 --no-header --generate-hashes)
uv pip compile pyproject.toml "${common[@]}" -o requirements/runtime.txt
uv pip compile pyproject.toml --group dev --all-extras "${common[@]}" -o requirements/lock.txt
# Seeded with runtime.txt's pins as preferences, so only what the extras force moves.
[ -f requirements/runtime-extras.txt ] || cp requirements/runtime.txt requirements/runtime-extras.txt
uv pip compile pyproject.toml --extra dvc --extra onnx --extra pandera "${common[@]}" \
  -o requirements/runtime-extras.txt
