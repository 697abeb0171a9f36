#!/usr/bin/env bash
# Install mlgate from this action's own checkout into a virtualenv, with uv.
#
# The package and the Python code the actions run therefore always come from the
# same ref. Runtime dependencies are pinned by requirements/runtime.txt (no test
# tools, no Spark). A second call with the same checkout and pins is a no-op, so
# every stage action can call this and only the first one pays.
#
# Environment:
#   MLGATE_VENV     where the virtualenv goes (default: $RUNNER_TEMP/mlgate-venv)
#   MLGATE_PYTHON   the interpreter for the virtualenv (default: python3 on PATH)
#   MLGATE_UV       the uv version to install when uv is not on PATH
#   UV_CACHE_DIR    uv's cache (the setup action restores it with actions/cache)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${MLGATE_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mlgate-venv}"
python="${MLGATE_PYTHON:-python3}"
requirements="$root/requirements/runtime.txt"

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
  # --reinstall-package: the same version number may carry new code from another ref.
  "${uv[@]}" pip install --quiet --python "$venv/bin/python" \
    --reinstall-package mlgate -r "$requirements" "$root"
  printf '%s' "$stamp" >"$venv/.mlgate-install"
fi

case ":${PATH}:" in
  *":$venv/bin:"*) ;; # already on PATH (setup ran earlier in this job)
  *) if [ -n "${GITHUB_PATH:-}" ]; then echo "$venv/bin" >>"$GITHUB_PATH"; fi ;;
esac
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "python=$venv/bin/python"
    echo "venv=$venv"
    echo "version=$("$venv/bin/python" -m mlgate --version | cut -d' ' -f2)"
  } >>"$GITHUB_OUTPUT"
fi
