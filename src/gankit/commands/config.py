"""gankit config PRESET_OR_YAML [key=value ...] [--changed]: print the resolved config."""
from __future__ import annotations

NAME = "config"
HELP = "print the resolved config of a preset or YAML file with overrides"
DESCRIPTION = """\
Print the config that `gankit train` would use: the preset or YAML file (with its `base:`
chain), the overrides applied, every default filled in, all of it validated.

  gankit config mnist-dcgan                       # the whole resolved config as YAML
  gankit config mnist-dcgan model.ngf=32 --changed   # only what differs from the defaults"""


def add_arguments(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("config", help="preset name (`gankit list presets`) or YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.add_argument("--changed", action="store_true",
                   help="print only the keys that differ from the defaults, one per line")


def resolved_text(cfg, changed: bool = False) -> str:
    """The config as YAML, or (``changed``) its ``key: default -> value`` differences."""
    import yaml

    from gankit.config import config_from_dict

    if not changed:
        return yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip()
    from gankit.utils.diff import dotted_diff

    base = config_from_dict({"model": {"name": cfg.model.name}}).to_dict()
    lines = [line for line in dotted_diff(base, cfg.to_dict())
             if not line.startswith("description:")]
    return "\n".join(lines) if lines else f"(the {cfg.model.name} defaults, unchanged)"


def run(args) -> int:
    from gankit.config import load_config

    cfg = load_config(args.config, list(args.overrides))
    print(resolved_text(cfg, args.changed))
    return 0
