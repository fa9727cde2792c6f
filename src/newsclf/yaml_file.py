"""Reading a YAML file of settings (a config, a search space): one mapping, and any problem
with the file as one ConfigError line saying where and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from newsclf.errors import ConfigError
from newsclf.paths import check_readable_file, not_decodable


def read_yaml(path: Path, what: str) -> dict[str, Any]:
    """The mapping in a YAML file (`what`: 'Config file', ...); any problem is one ConfigError
    line."""
    import yaml

    check_readable_file(path, what, ConfigError)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(not_decodable(path, err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"{path} is not valid YAML: {problem}{where}. Expected one `key: value` per line, "
            "e.g. `epochs: 2`."
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path} must hold a mapping (`key: value` lines), got {type(values).__name__}. "
            "Write one `key: value` per line."
        )
    return values
