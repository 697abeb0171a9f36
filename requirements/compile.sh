#!/usr/bin/env bash
# Regenerate the pinned requirements from pyproject.toml after changing a dependency.
#   runtime.txt: what the `setup` action installs for a model repo (no test tools, no Spark)
#   lock.txt:    runtime + the dev group, for this repo's tests and CI
# Every pin carries its SHA-256 hashes (--generate-hashes): setup installs with --require-hashes.
# The existing files are uv's preferences, so only what pyproject.toml changed moves.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--universal --python-version 3.10 --no-header --generate-hashes)
uv pip compile pyproject.toml "${common[@]}" -o requirements/runtime.txt
uv pip compile pyproject.toml --group dev "${common[@]}" -o requirements/lock.txt
