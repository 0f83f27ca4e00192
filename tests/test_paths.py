"""Where the config and the database are: environment, ./mitm.toml, the checkout, the user data directory."""

from pathlib import Path

import pytest

import aispendtrack
from aispendtrack import paths
from aispendtrack.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = '[project]\nname = "aispendtrack"\nversion = "0"\n'


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """cwd outside any checkout, no AISPENDTRACK_* variables, the user data directory in tmp."""
    for name in (paths.CONFIG_ENV, paths.DB_ENV, paths.CHECKOUT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def make_checkout(root: Path, pyproject: str = PYPROJECT, config: str | None = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    if config is not None:
        (root / "mitm.toml").write_text(config)
    return root


def test_outside_a_checkout_built_in_defaults_and_the_user_data_directory(nowhere, tmp_path):
    assert paths.config_path() is None
    assert load_config() == Config()
    assert paths.db_path() == tmp_path / "data" / "aispendtrack" / "aispendtrack.db"
    package = Path(aispendtrack.__file__).resolve().parent
    assert package not in paths.db_path().parents


def test_mitm_toml_in_the_current_directory(nowhere):
    (nowhere / "mitm.toml").write_text("[keys]\nrotation_grace_seconds = 5\n")
    assert paths.config_path() == nowhere / "mitm.toml"
    assert paths.config_path().is_absolute()  # still right after a chdir
    assert load_config().keys.rotation_grace_seconds == 5


def test_environment_beats_the_current_directory(nowhere, tmp_path, monkeypatch):
    (nowhere / "mitm.toml").write_text("")
    monkeypatch.setenv("AISPENDTRACK_CONFIG", str(tmp_path / "env.toml"))
    monkeypatch.setenv("AISPENDTRACK_DB", str(tmp_path / "env.db"))
    assert paths.config_path() == tmp_path / "env.toml"
    assert paths.db_path() == tmp_path / "env.db"
    assert paths.config_path("x.toml") == Path("x.toml")  # explicit (--config, the option) beats both
    assert paths.db_path("x.db") == Path("x.db")


def test_inside_a_checkout_its_config_and_var_database(nowhere, tmp_path, monkeypatch):
    checkout = make_checkout(tmp_path / "co", config="[keys]\nrotation_grace_seconds = 9\n")
    (checkout / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(checkout / "src" / "deep")
    assert paths.find_checkout() == checkout
    assert paths.config_path() == checkout / "mitm.toml"
    assert load_config().keys.rotation_grace_seconds == 9
    assert paths.db_path() == checkout / "var" / "aispendtrack.db"


def test_a_mitm_toml_in_the_current_directory_beats_the_checkouts(nowhere, tmp_path, monkeypatch):
    checkout = make_checkout(tmp_path / "co")
    (checkout / "sub").mkdir()
    (checkout / "sub" / "mitm.toml").write_text("")
    monkeypatch.chdir(checkout / "sub")
    assert paths.config_path() == checkout / "sub" / "mitm.toml"


@pytest.mark.parametrize(
    "pyproject, config",
    [
        ('[project]\nname = "someone-else"\n', ""),  # another project
        (PYPROJECT, None),  # no mitm.toml next to it
        ("[project\nname = ", ""),  # unreadable pyproject
    ],
)
def test_not_a_checkout(nowhere, tmp_path, monkeypatch, pyproject, config):
    monkeypatch.chdir(make_checkout(tmp_path / "other", pyproject, config))
    assert paths.find_checkout() is None
    assert paths.db_path() == tmp_path / "data" / "aispendtrack" / "aispendtrack.db"


def test_a_pinned_checkout_applies_from_anywhere(nowhere, tmp_path, monkeypatch):
    checkout = make_checkout(tmp_path / "co")
    monkeypatch.setenv(paths.CHECKOUT_ENV, str(checkout))
    assert paths.config_path() == checkout / "mitm.toml"
    assert paths.db_path() == checkout / "var" / "aispendtrack.db"


def test_this_repository_is_a_checkout():
    assert paths.is_checkout(REPO)


def test_describe_config_names_the_defaults():
    assert paths.describe_config(None) == "built-in defaults (no mitm.toml)"
    assert paths.describe_config(Path("/x/mitm.toml")) == "/x/mitm.toml"
