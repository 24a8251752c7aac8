"""Safe YAML for configs: YAML 1.2 booleans, no aliases, a size and depth limit."""
from __future__ import annotations

import re
from typing import Any

import yaml

from gankit.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader with YAML 1.2 booleans: only true/false are booleans.

    YAML 1.1 also reads on/off/yes/no as booleans, so `train.amp=off` would arrive as False and
    fail the string check; here it stays the string "off".

    Aliases (``*name``) are refused: a config never needs them, and they are how a few hundred
    bytes expand to gigabytes (an alias bomb) or to a structure that contains itself.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ConfigError(f"YAML aliases (*name) are not allowed in gankit configs (line "
                              f"{mark.line + 1}); write the values out instead")
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


MAX_YAML_BYTES = 1 << 20  # a config is a few hundred bytes; 1 MiB is far beyond any real one


def load_yaml(text: str) -> Any:
    """Parse YAML text (configs, overrides, option values) with YAML 1.2 booleans."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"YAML text of {len(text):,} characters is too long for a config "
                          f"(limit {MAX_YAML_BYTES:,})")
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ConfigError("YAML nested too deeply for a config (sections hold keys and values, "
                          "a few levels deep)") from None
