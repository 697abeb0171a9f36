"""One registered model on one tracking server: its aliases, tags and versions.

What promotion, `mlgate lineage` and build-image read and write. Every call goes
through `tracking.client.calls`, so MLflow's own retries (MLFLOW_HTTP_REQUEST_MAX_RETRIES,
set by mlgate) run first and a server that stays down ends as one ServiceError line
(exit 3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import InputError, PromotionRace
from mlgate.tracking import aliases as _aliases
from mlgate.tracking.client import calls, open_client
from mlgate.tracking.uri import display_uri


@dataclass(frozen=True)
class Snapshot:
    """A registered model as one read saw it."""

    aliases: dict[str, str]
    tags: dict[str, str]
    started: float  # time.monotonic() when the read began


@dataclass(frozen=True)
class VersionInfo:
    version: str
    status: str
    run_id: str | None
    source: str | None
    user_id: str | None
    created_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)


class ModelStore:
    """One registered model on one tracking server."""

    def __init__(self, client: Any, uri: str, name: str) -> None:
        self.client = client
        self.uri = uri
        self.name = name

    @classmethod
    def connect(cls, uri: str, name: str, state_dir: Path | None = None) -> ModelStore:
        return cls(open_client(uri, state_dir), uri, name)

    @property
    def where(self) -> str:
        return display_uri(self.uri)

    def _calls(self, action: str) -> Any:
        return calls(self.uri, f"{action} of {self.name}")

    # --- reading ------------------------------------------------------------------

    def read(self) -> Snapshot:
        started = time.monotonic()
        with self._calls("read the aliases and ledger"):
            found = _aliases.all_aliases(self.client, self.name)
        if found is None:
            raise InputError(
                f"no registered model named '{self.name}' at {self.where}; "
                "check the name (tracking.registry_name) and MLFLOW_TRACKING_URI"
            )
        aliases, tags = found
        return Snapshot(aliases=aliases, tags=tags, started=started)

    def version(self, version: str) -> VersionInfo | None:
        with self._calls(f"read version {version}"):
            from mlflow.exceptions import MlflowException

            try:
                found = self.client.get_model_version(self.name, version)
            except MlflowException as exc:
                if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    return None
                raise
        return VersionInfo(
            version=str(found.version),
            status=str(getattr(found, "status", "READY") or "READY"),
            run_id=found.run_id or None,
            source=found.source or None,
            user_id=getattr(found, "user_id", None) or None,
            created_ms=getattr(found, "creation_timestamp", None),
            tags=dict(found.tags or {}),
        )

    def version_numbers(self) -> list[str]:
        with self._calls("list versions"):
            found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted({str(v.version) for v in found}, key=int)

    def run(self, run_id: str) -> Any | None:
        with self._calls(f"read run {run_id}"):
            from mlflow.exceptions import MlflowException

            try:
                return self.client.get_run(run_id)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise

    def download_model(self, version: str, destination: Path) -> Path:
        """The version's MLflow model files, downloaded into `destination`."""
        destination.mkdir(parents=True, exist_ok=True)
        with self._calls(f"download version {version}"):
            from mlflow import artifacts

            local = artifacts.download_artifacts(
                artifact_uri=f"models:/{self.name}/{version}",
                dst_path=str(destination),
                tracking_uri=self.uri,
            )
        return Path(local)

    # --- writing ------------------------------------------------------------------

    def set_tag(self, key: str, value: str) -> None:
        with self._calls(f"write tag {key}"):
            self.client.set_registered_model_tag(self.name, key, value)

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        with self._calls(f"write tag {key} on version {version}"):
            self.client.set_model_version_tag(self.name, version, key, value)

    def delete_tag(self, key: str) -> None:
        with self._calls(f"delete tag {key}"):
            from mlflow.exceptions import MlflowException

            try:
                self.client.delete_registered_model_tag(self.name, key)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise

    def set_alias(self, alias: str, version: str) -> None:
        """Point `alias` at `version`, then read it back: a move is only done when seen."""
        with self._calls(f"set alias {alias}"):
            _aliases.set_alias(self.client, self.name, alias, version)
        seen = self.read().aliases.get(alias)
        if seen != version:
            raise PromotionRace(
                f"alias {alias} of {self.name} reads v{seen} right after it was set to "
                f"v{version}: something else moved it at the same moment"
            )

    def delete_alias(self, alias: str) -> None:
        with self._calls(f"clear alias {alias}"):
            _aliases.delete_alias(self.client, self.name, alias)
        if alias in self.read().aliases:
            raise PromotionRace(
                f"alias {alias} of {self.name} is still set right after it was cleared: "
                "something else set it at the same moment"
            )
