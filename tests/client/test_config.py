"""``load_client_config``: options, then the environment, then the config file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from alchemiscale_like.client.config import (
    ClientConfig,
    default_config_path,
    load_client_config,
    write_client_config,
)
from alchemiscale_like.errors import ValidationError

SECRET = "file-key-0123456789abcdef"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "client.yaml",
        f"api_url: http://file:8000\nidentifier: file-user\nkey: {SECRET}\n",
    )


def test_the_file_alone_gives_every_field(config_file: Path) -> None:
    found = load_client_config(path=config_file, environ={})
    assert found == ClientConfig(
        api_url="http://file:8000", identifier="file-user", key=SecretStr(SECRET)
    )
    assert found.key.get_secret_value() == SECRET
    assert SECRET not in repr(found)
    assert SECRET not in str(found)


def test_options_beat_the_environment_which_beats_the_file(config_file: Path) -> None:
    environ = {
        "ALCHEMISCALE_LIKE_API_URL": "http://env:8000",
        "ALCHEMISCALE_LIKE_IDENTIFIER": "env-user",
        "ALCHEMISCALE_LIKE_CONFIG": str(config_file),
    }
    found = load_client_config(identifier="option-user", environ=environ)
    assert (found.api_url, found.identifier, found.key.get_secret_value()) == (
        "http://env:8000",
        "option-user",
        SECRET,
    )


def test_an_empty_variable_counts_as_unset(config_file: Path) -> None:
    environ = {"ALCHEMISCALE_LIKE_API_URL": "", "ALCHEMISCALE_LIKE_CONFIG": str(config_file)}
    assert load_client_config(environ=environ).api_url == "http://file:8000"


def test_the_path_argument_beats_the_config_variable(config_file: Path, tmp_path: Path) -> None:
    other = write(tmp_path / "other.yaml", "api_url: http://other:1\nidentifier: o\nkey: k\n")
    environ = {"ALCHEMISCALE_LIKE_CONFIG": str(config_file)}
    assert load_client_config(path=other, environ=environ).api_url == "http://other:1"


def test_the_default_file_is_read_from_xdg_config_home(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    default = default_config_path(environ)
    assert default == tmp_path / "xdg" / "alchemiscale-like" / "client.yaml"
    write(default, "api_url: http://default:8000\nidentifier: d\nkey: k\n")
    assert load_client_config(environ=environ).api_url == "http://default:8000"


def test_without_xdg_the_default_is_under_the_home_folder() -> None:
    assert default_config_path({}) == Path.home() / ".config" / "alchemiscale-like" / "client.yaml"


def test_a_missing_default_file_names_what_is_missing(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path), "ALCHEMISCALE_LIKE_IDENTIFIER": "u"}
    with pytest.raises(ValidationError) as caught:
        load_client_config(environ=environ)
    message = str(caught.value)
    assert "api_url, key" in message
    assert "ALCHEMISCALE_LIKE_API_URL" in message
    assert "ALCHEMISCALE_LIKE_KEY" in message


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValidationError, match="cannot read the client config"):
        load_client_config(environ={"ALCHEMISCALE_LIKE_CONFIG": str(missing)})


def test_a_file_missing_a_field_names_the_file(tmp_path: Path) -> None:
    partial = write(tmp_path / "partial.yaml", "api_url: http://x:1\n")
    with pytest.raises(ValidationError, match=r"no identifier, key: .*partial\.yaml"):
        load_client_config(path=partial, environ={})


def test_an_empty_file_gives_nothing(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.yaml", "")
    found = load_client_config(
        path=empty, api_url="http://a:1", identifier="i", key="k", environ={}
    )
    assert found.api_url == "http://a:1"
    with pytest.raises(ValidationError, match="no api_url, identifier, key"):
        load_client_config(path=empty, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "must hold a mapping"),
        ("api_url: http://x:1\npassword: p\n", "unknown keys in the client config .*: password"),
        ("api_url: [unclosed\n", "cannot read the client config"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ValidationError, match=message):
        load_client_config(path=path, environ={})


def test_an_invalid_field_is_refused_without_showing_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", f"api_url: [1, 2]\nidentifier: u\nkey: {SECRET}\n")
    with pytest.raises(ValidationError, match="invalid client config") as caught:
        load_client_config(path=path, environ={})
    assert SECRET not in str(caught.value)


def test_written_files_are_private_and_read_back(tmp_path: Path) -> None:
    config = ClientConfig(api_url="http://w:8000", identifier="w", key=SecretStr(SECRET))
    path = tmp_path / "sub" / "client.yaml"
    path.parent.mkdir()
    write_client_config(path, config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_client_config(path=path, environ={}) == config
    write_client_config(path, config.model_copy(update={"identifier": "again"}))
    assert load_client_config(path=path, environ={}).identifier == "again"
