"""The configs ``tools.pages`` writes for test pages: extra keys and whole sections (an original ``[adapters]``)."""

from __future__ import annotations

import tomllib

from tools.pages import _config


def test_a_config_with_extra_keys_and_sections_is_the_toml_it_says() -> None:
    text = _config(
        "/node_modules/pyodide/pyodide.mjs",
        {"/pages/x/usermath.py": "./usermath.py"},
        {"sync_main_only": True, "adapters": {"shapes": ["Point", "pointEncoder", "pointDecoder"]}},
    )
    assert tomllib.loads(text) == {
        "interpreter": "/node_modules/pyodide/pyodide.mjs",
        "sync_main_only": True,
        "files": {"/pages/x/usermath.py": "./usermath.py"},
        "adapters": {"shapes": ["Point", "pointEncoder", "pointDecoder"]},
    }


def test_a_config_without_extras_is_unchanged() -> None:
    assert _config("/p.mjs", {"/a.py": "./a.py"}, {"packages_cache": "passthrough"}) == (
        'interpreter = "/p.mjs"\npackages_cache = "passthrough"\n\n[files]\n"/a.py" = "./a.py"\n'
    )
