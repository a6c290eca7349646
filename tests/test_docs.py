"""Docs kept honest: every endpoint a guide in docs/ names exists in the OpenAPI contract."""

import re
from pathlib import Path

from opora.app import create_app
from opora.runtime import Runtime

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path.rstrip("/."))


def test_every_documented_endpoint_exists(runtime: Runtime) -> None:
    paths = {_normalise(p) for p in create_app(runtime, run_worker=False).openapi()["paths"]}
    text = "".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    documented = {_normalise(p) for p in re.findall(r"(/api/v1/[a-z0-9_/{}-]+)", text)}
    assert documented, "the guides name no endpoints"
    missing = sorted(p for p in documented if p not in paths)
    assert missing == []


def test_readme_names_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert "scripts/start" in readme and "scripts/test" in readme
    for script in ("start", "test"):
        assert (DOCS.parent / "scripts" / script).exists()
