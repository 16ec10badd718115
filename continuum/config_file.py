"""Reading a policy file (TOML, or JSON by its suffix) into its model; every error names the
file and the field, so a wrong setting is found without reading a traceback."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def read_config(path: Path, what: str, error: type[ValueError]) -> dict[str, Any]:
    """The file's settings as a dict; `what` ("approval config") starts every message."""
    try:
        text = path.read_text()
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror}") from None
    try:
        data: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise error(f"{what} {path} is not valid: {err}") from None
    return data


def validate_config(
    model: type[Model], data: dict[str, Any], path: Path, what: str, error: type[ValueError]
) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise error(f"{what} {path}: {problems}") from None
