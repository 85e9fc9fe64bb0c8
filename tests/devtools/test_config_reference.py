"""The README's configuration reference is the one the settings classes generate."""

from __future__ import annotations

from pathlib import Path

from devtools.config_reference import END, START, main, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_reference_is_current() -> None:
    assert main(["--check", str(README)]) == 0, (
        "run: python -m devtools.config_reference --write README.md"
    )


def test_every_setting_is_in_the_reference_and_a_stale_block_is_caught(tmp_path: Path) -> None:
    block = render()
    for name in ("ALCHEMISCALE_LIKE_STATESTORE_SQLITE_PATH", "ALCHEMISCALE_LIKE_JWT_SECRET_KEY"):
        assert f"`{name}`" in block
    assert "| `checkpoint_interval` |" in block
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    assert main(["--check", str(stale)]) == 1
    assert main(["--write", str(stale)]) == 0
    assert stale.read_text() == f"intro\n{block}\noutro\n"
    assert main(["--check", str(stale)]) == 0
