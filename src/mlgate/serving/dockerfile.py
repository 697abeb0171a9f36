"""Render the serving image's Dockerfile from its Jinja2 template.

The built-in template is `mlgate/Dockerfile.j2`. A team's own (`serving.template`)
replaces it and may `{% extends "mlgate/Dockerfile.j2" %}` to override a block. Only
values mlgate has checked reach the template as they are: a digest-pinned base image,
numbers, a Python version and the prediction log's folder (`serving.log_to`, whose
characters the config allows are plain). Label keys and values go through `quoted`; the names
the server needs travel in `serving.json`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError

BUILTIN_PREFIX = "mlgate"
TEMPLATE = "Dockerfile.j2"
# The image's unprivileged user; a fixed number, so that volume permissions are predictable.
UID = 10001


def render_dockerfile(
    *,
    base_image: str,
    python_version: str,
    port: int,
    wheels: bool,
    model_ref: str,
    labels: dict[str, str],
    team_template: Path | None = None,
    log_folder: str | None = None,
) -> str:
    import jinja2

    loaders: list[Any] = [
        jinja2.PrefixLoader({BUILTIN_PREFIX: jinja2.PackageLoader(__package__, "templates")})
    ]
    if team_template is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(team_template.parent)))
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # a Dockerfile, not markup; its values are checked or quoted
    )
    environment.filters["quoted"] = quoted
    name = team_template.name if team_template is not None else f"{BUILTIN_PREFIX}/{TEMPLATE}"
    where = team_template if team_template is not None else name
    try:
        return environment.get_template(name).render(
            base_image=base_image,
            python_version=python_version,
            port=port,
            wheels=wheels,
            uid=UID,
            model_ref=_comment_text(model_ref),
            labels=labels,
            log_folder=log_folder,
        )
    except jinja2.TemplateSyntaxError as error:
        raise ConfigError(
            f"the Dockerfile template does not parse: {error.message}",
            file=error.filename or where,
            line=error.lineno,
        ) from None
    except jinja2.TemplateNotFound as error:
        raise ConfigError(
            f"the Dockerfile template needs '{error.name}', which is not there; the "
            f"built-in template is '{BUILTIN_PREFIX}/{TEMPLATE}'",
            file=where,
        ) from None
    except jinja2.TemplateError as error:
        raise ConfigError(
            f"the Dockerfile template failed to render: {error.message or type(error).__name__}"
            " (it can use base_image, python_version, port, wheels, uid, model_ref, labels and"
            " log_folder)",
            file=where,
        ) from None


def _comment_text(text: str) -> str:
    """`text` as it may stand in a Dockerfile comment: one line, nothing to interpret."""
    return re.sub(r"[^\w .@:/-]", "?", text)


def quoted(text: str) -> str:
    """`text` as a double-quoted Dockerfile word, its line breaks made spaces.

    Inside double quotes the parser drops a backslash before any character and
    substitutes `$NAME`, so both are escaped; a line break would end the instruction.
    """
    one_line = " ".join(str(text).splitlines())
    escaped = one_line.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
