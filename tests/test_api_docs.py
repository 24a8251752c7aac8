"""docs/API.md is generated from the docstrings; CI fails when it is out of date."""
import importlib.util
from pathlib import Path

import gankit

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_api", ROOT / "docs" / "gen_api.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_reference_is_up_to_date():
    text = _generator().render()
    assert (ROOT / "docs" / "API.md").read_text() == text, \
        "docs/API.md is out of date: run `python docs/gen_api.py` and commit it"


def test_api_reference_covers_the_public_api():
    text = (ROOT / "docs" / "API.md").read_text()
    for name in ("train", "load", "sample", "evaluate", "export", "push_to_hub", "Generator",
                 "load_config"):
        assert name in gankit.__all__ and f"## `gankit.{name}`" in text, name
    assert "### `Generator.from_pretrained`" in text and "(no docstring)" not in text
