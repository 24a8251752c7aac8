"""Write docs/API.md, the API reference, from the docstrings of gankit's public API.

    python docs/gen_api.py           # rewrite docs/API.md
    python docs/gen_api.py --check   # exit 1 if docs/API.md is not what the code says

tests/test_api_docs.py runs the check in CI, so the page cannot drift from the code.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "API.md"

# (title, import path) in page order; a class lists its public methods and properties
ENTRIES = [
    ("gankit.train", "gankit.api:train"),
    ("gankit.load", "gankit.api:load"),
    ("gankit.sample", "gankit.api:sample"),
    ("gankit.evaluate", "gankit.api:evaluate"),
    ("gankit.export", "gankit.api:export"),
    ("gankit.push_to_hub", "gankit.export.hub:push_to_hub"),
    ("gankit.Generator", "gankit.sampling.loading:Generator"),
    ("gankit.load_config", "gankit.config:load_config"),
    ("gankit.metrics.evaluate.EvalOptions", "gankit.metrics.evaluate:EvalOptions"),
]


def _resolve(target: str):
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "(no docstring)")


class _Text(str):
    """An annotation kept as text (``from __future__ import annotations``), shown unquoted."""

    def __repr__(self) -> str:
        return str(self)


def _signature(name: str, obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    params = [p.replace(annotation=_Text(p.annotation)) if isinstance(p.annotation, str) else p
              for p in sig.parameters.values()]
    ret = sig.return_annotation
    sig = sig.replace(parameters=params,
                      return_annotation=_Text(ret) if isinstance(ret, str) else ret)
    return f"{name}{sig}"


def _class(title: str, cls) -> list[str]:
    out = [f"## `{title}`", "", "```python", _signature(f"class {title.split('.')[-1]}", cls),
           "```", "", _doc(cls), ""]
    for name, member in cls.__dict__.items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out += [f"### `.{name}` (property)", "", _doc(member.fget), ""]
        elif isinstance(member, classmethod):
            out += [f"### `{title.split('.')[-1]}.{name}`", "", "```python",
                    _signature(name, member.__func__).replace("(cls, ", "(", 1), "```", "",
                    _doc(member.__func__), ""]
        elif inspect.isfunction(member):
            out += [f"### `.{name}`", "", "```python",
                    _signature(name, member).replace("(self, ", "(", 1).replace("(self)", "()"),
                    "```", "", _doc(member), ""]
    return out


def render() -> str:
    import gankit.api

    out = ["# gankit API reference", "",
           "Generated from the docstrings by `python docs/gen_api.py` (checked in CI: "
           "`tests/test_api_docs.py`); do not edit by hand.", "", _doc(gankit.api), ""]
    for title, target in ENTRIES:
        obj = _resolve(target)
        if inspect.isclass(obj):
            out += _class(title, obj)
        else:
            out += [f"## `{title}`", "", "```python", _signature(title, obj), "```", "",
                    _doc(obj), ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main(sys.argv[1:]))
