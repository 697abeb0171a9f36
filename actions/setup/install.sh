#!/usr/bin/env bash
# Install mlgate from this action's own checkout into a virtualenv, with uv.
#
# The package and the Python code the actions run therefore always come from the
# same ref. Runtime dependencies are pinned by requirements/runtime.txt (no test
# tools, no Spark), or with MLGATE_EXTRAS=true by requirements/runtime-extras.txt.
# A second call with the same checkout and pins is a no-op, so every stage action can
# call this and only the first one pays.
#
# The caller's Python is left alone: only the `mlgate` command goes on PATH (from a
# folder of its own, not the virtualenv's bin with its python and pip). The actions
# run mlgate with the virtualenv's interpreter by absolute path, from the `python`
# output; later steps of the job find it in MLGATE_PYTHON.
#
# Environment:
#   MLGATE_VENV          where the virtualenv goes (default: $RUNNER_TEMP/mlgate-venv)
#   MLGATE_BASE_PYTHON   the interpreter for the virtualenv (default: the one an earlier
#                        call chose for this virtualenv, else python3 on PATH)
#   MLGATE_UV            the uv version to install when uv is not on PATH
#   MLGATE_EXTRAS        'true': the optional engines too (requirements/runtime-extras.txt)
#   UV_CACHE_DIR         uv's cache (the setup action restores it with actions/cache)
#
# Outputs ($GITHUB_OUTPUT): python (the virtualenv's interpreter), mlgate (the command),
# venv, version. Job environment ($GITHUB_ENV): MLGATE_PYTHON.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${MLGATE_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mlgate-venv}"
requirements="$root/requirements/runtime.txt"
case "${MLGATE_EXTRAS:-false}" in
  true) requirements="$root/requirements/runtime-extras.txt" ;;
  false | "") ;;
  *)
    echo "::error::mlgate setup: extras must be 'true' or 'false', not '${MLGATE_EXTRAS}'"
    exit 2
    ;;
esac
# A stage action after setup passes no interpreter: it keeps the one setup chose, so the
# second call is a no-op rather than a reinstall with whatever python3 PATH holds.
chosen="$(cat "$venv/.mlgate-base" 2>/dev/null || true)"
if [ -n "${MLGATE_BASE_PYTHON:-}" ]; then
  python="$MLGATE_BASE_PYTHON"
elif [ -n "$chosen" ] && [ -x "$chosen" ]; then
  python="$chosen"
else
  python="$(command -v python3 || true)"
  if [ -z "$python" ]; then
    echo "::error::mlgate setup: no python3 on PATH; run the setup action first"
    exit 2
  fi
fi

if [ ! -f "$requirements" ] || [ ! -f "$root/pyproject.toml" ]; then
  echo "::error::mlgate setup: $root is not an mlgate checkout (no pyproject.toml or requirements/runtime.txt)"
  exit 2
fi

stamp="$root|$("$python" -c 'import sys; print(sys.version)')|$(cksum <"$requirements")|$(cksum <"$root/pyproject.toml")"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.mlgate-install" 2>/dev/null || true)" = "$stamp" ]; then
  echo "mlgate is already installed in $venv"
else
  if command -v uv >/dev/null 2>&1; then
    uv=(uv)
  else
    "$python" -m pip install --quiet --disable-pip-version-check "uv==${MLGATE_UV:-0.13.9}"
    uv=("$python" -m uv)
  fi
  "${uv[@]}" venv --quiet --allow-existing --python "$python" "$venv"
  # Every dependency is checked against the SHA-256 hashes pinned in the requirements,
  # then mlgate itself comes from this checkout without resolving anything more.
  "${uv[@]}" pip install --quiet --python "$venv/bin/python" --require-hashes -r "$requirements"
  # --reinstall-package: the same version number may carry new code from another ref.
  "${uv[@]}" pip install --quiet --python "$venv/bin/python" \
    --reinstall-package mlgate --no-deps "$root"
  printf '%s' "$stamp" >"$venv/.mlgate-install"
  printf '%s' "$python" >"$venv/.mlgate-base"
fi

# The one command on PATH: a folder holding only `mlgate`, so `python` stays the caller's.
commands="$venv/mlgate-bin"
mkdir -p "$commands"
ln -sf "$venv/bin/mlgate" "$commands/mlgate"
case ":${PATH}:" in
  *":$commands:"*) ;; # already on PATH (setup ran earlier in this job)
  *) if [ -n "${GITHUB_PATH:-}" ]; then echo "$commands" >>"$GITHUB_PATH"; fi ;;
esac
if [ -n "${GITHUB_ENV:-}" ]; then
  echo "MLGATE_PYTHON=$venv/bin/python" >>"$GITHUB_ENV"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "python=$venv/bin/python"
    echo "mlgate=$venv/bin/mlgate"
    echo "venv=$venv"
    echo "version=$("$venv/bin/python" -I -m mlgate --version | cut -d' ' -f2)"
  } >>"$GITHUB_OUTPUT"
fi
