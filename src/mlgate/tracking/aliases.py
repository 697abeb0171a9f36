"""Aliases: the one reader of `model@alias` (the champion is one), and moving them.

`alias_version` answers "which version is behind this alias?" for everyone: the
evaluate and fairness stages' champion, the drift reference, the card, the stage
cache's probe and promotion's plan. It has one meaning everywhere: the version as
text, or None when the model or the alias does not exist; any other failure is not
knowledge and raises.

With an open MlflowClient it asks MLflow (with MLflow's retries). Without one it
reads the store directly and does not import MLflow (which costs seconds, and a run
with nothing to do should take well under one): SQLite straight from the database
file, a tracking server through the same REST endpoint MLflow's client uses. Any
other store cannot be read that way (AliasUnreadable).
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

# MLflow's answers for a model or an alias that does not exist.
_MISSING = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class AliasUnreadable(Exception):
    """The alias could not be read without MLflow: the answer is not known."""


def alias_version(
    model: str, alias: str, *, client: Any = None, uri: str = "", timeout: float = 5.0
) -> str | None:
    """The version behind `model@alias`; None when the model or the alias does not exist.

    With `client`, MLflow's own exceptions pass through (callers guard the call with
    `tracking.client.calls`); without, the store at `uri` is read directly and any
    failure raises AliasUnreadable.
    """
    if client is not None:
        return _ask_mlflow(client, model, alias)
    scheme = urllib.parse.urlsplit(uri).scheme
    try:
        if scheme == "sqlite":
            return _read_sqlite(uri, model, alias)
        if scheme in ("http", "https"):
            return _read_rest(uri, model, alias, timeout)
    except (OSError, sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        raise AliasUnreadable(f"cannot read {model}@{alias} at {uri}: {exc}") from exc
    raise AliasUnreadable(f"cannot read {model}@{alias} without MLflow from a {scheme} store")


def alias_model_version(client: Any, model: str, alias: str) -> Any | None:
    """The MLflow ModelVersion behind `model@alias` (its tags, run id), or None."""
    version = alias_version(model, alias, client=client)
    return None if version is None else client.get_model_version(model, version)


def all_aliases(client: Any, model: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """Every alias of `model` and the model's tags, in one read; None when there is no model."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_registered_model(model)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    aliases = {str(k): str(v) for k, v in (found.aliases or {}).items()}
    return aliases, dict(found.tags or {})


def set_alias(client: Any, model: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(model, alias, version)


def delete_alias(client: Any, model: str, alias: str) -> None:
    """Clear `alias`; an alias already gone is no error."""
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model_alias(model, alias)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def _ask_mlflow(client: Any, model: str, alias: str) -> str | None:
    found = all_aliases(client, model)
    if found is None:
        return None
    return found[0].get(alias)


def _read_sqlite(uri: str, model: str, alias: str) -> str | None:
    # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them
    path = Path(urllib.parse.unquote(uri.removeprefix("sqlite:///")))
    if not path.is_file():
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
        row = connection.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (model, alias),
        ).fetchone()
    return str(row[0]) if row else None


def _read_rest(uri: str, model: str, alias: str, timeout: float) -> str | None:
    query = urllib.parse.urlencode({"name": model, "alias": alias})
    request = urllib.request.Request(
        f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}"
    )
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    elif user and password:
        import base64

        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        # A missing alias or model is knowledge; anything else (auth, 5xx) is not.
        if error.code in (400, 404) and _error_code(error) in _MISSING:
            return None
        raise AliasUnreadable(f"HTTP {error.code} reading {model}@{alias}") from error
    return str(body["model_version"]["version"])


def _error_code(error: urllib.error.HTTPError) -> str | None:
    try:
        return json.loads(error.read()).get("error_code")
    except (OSError, ValueError, AttributeError):
        return None
