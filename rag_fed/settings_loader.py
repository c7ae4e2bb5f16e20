"""One loader for the services' settings: a TOML file, ``RAGFED_<SERVICE>__*`` variables, explicit arguments.

Precedence, highest first: explicit arguments (command-line flags; ``None`` = not given) > environment >
TOML file > the field's default. Variables are read as the core settings read theirs (pydantic-settings,
case-insensitive, nested with ``__``): ``RAGFED_GATEWAY__ROUTING__DEADLINE_S=5`` sets ``deadline_s`` of the
gateway's ``[routing]`` table and keeps the file's other ``[routing]`` keys. A variable under the prefix that
names no setting is refused rather than ignored, and a bad value is refused with the variable's name.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsError

from rag_fed.errors import ConfigError

__all__ = ["invalid_settings", "load_service_settings", "merged", "read_environment", "read_toml"]

Model = TypeVar("Model", bound=BaseModel)

DELIMITER = "__"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The table in ``path``; ``what`` names the file in the error (``cannot read <what> config ...``)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {what} config {path}: {error}") from None


def load_service_settings(
    model: type[Model],
    path: Path | None,
    *,
    env_prefix: str,
    what: str,
    overrides: Mapping[str, Any],
) -> Model:
    """``model`` from ``path`` (TOML; ``None``: no file), the variables under ``env_prefix`` (e.g.
    ``RAGFED_GATEWAY__``) and the non-``None`` ``overrides``. ``what`` names the service in errors:
    ``invalid <what> settings: ...``."""
    values = read_toml(path, what) if path is not None else {}
    from_env = read_environment(model, env_prefix)
    values = merged(values, from_env)
    explicit = {key: value for key, value in overrides.items() if value is not None}
    values.update(explicit)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise invalid_settings(what, error, from_env, env_prefix, set(explicit)) from None


def invalid_settings(
    what: str, error: ValidationError, from_env: Mapping[str, Any], env_prefix: str, explicit: set[str]
) -> ConfigError:
    """``invalid <what> settings (from <the variables that gave the failing fields>): <pydantic's reasons>``;
    a variable replaced by an explicit argument (a key of ``explicit``) is not named."""
    named = _variables_at_fault(error, from_env, env_prefix, explicit)
    source = f" (from {', '.join(named)})" if named else ""
    return ConfigError(f"invalid {what} settings{source}: {error}")


def read_environment(model: type[BaseModel], env_prefix: str) -> dict[str, Any]:
    """The values the variables under ``env_prefix`` give ``model``'s fields, nested as in a TOML file."""
    unknown = sorted(
        name
        for name in os.environ
        if name.upper().startswith(env_prefix.upper())
        and name[len(env_prefix) :].split(DELIMITER)[0].lower() not in model.model_fields
    )
    if unknown:
        raise ConfigError(
            f"{', '.join(unknown)}: no such setting (variables under {env_prefix} name a field of the settings, "
            f"nested with {DELIMITER}, e.g. {env_prefix}{next(iter(model.model_fields)).upper()})"
        )
    # EnvSettingsSource reads only the fields of the class it is given; a plain model has them too.
    source = EnvSettingsSource(
        cast(type[BaseSettings], model), env_prefix=env_prefix, env_nested_delimiter=DELIMITER, case_sensitive=False
    )
    try:
        return source()
    except SettingsError as error:  # a table or list whose value is not JSON
        field = re.search(r'field "(\w+)"', str(error))
        name = env_prefix + field.group(1).upper() if field else env_prefix + "*"
        raise ConfigError(f"{name}: {error}; a table or list is given whole as JSON") from None


def merged(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` over it, tables merged key by key (a variable for one key of a table keeps the
    file's other keys)."""
    result = dict(base)
    for key, value in top.items():
        below = result.get(key)
        result[key] = merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return result


def _leaves(values: Mapping[str, Any], at: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in values.items():
        found.extend(_leaves(value, (*at, key)) if isinstance(value, dict) and value else [(*at, key)])
    return found


def _variables_at_fault(
    error: ValidationError, from_env: Mapping[str, Any], env_prefix: str, explicit: set[str]
) -> list[str]:
    """The variables whose values the failing fields were given (none when a flag replaced them)."""
    leaves = [leaf for leaf in _leaves(from_env) if leaf[0] not in explicit]
    named: list[str] = []
    for problem in error.errors():
        location = tuple(str(part) for part in problem["loc"])
        for leaf in leaves:
            if location[: len(leaf)] == leaf:
                name = env_prefix + DELIMITER.join(leaf).upper()
                if name not in named:
                    named.append(name)
    return named
