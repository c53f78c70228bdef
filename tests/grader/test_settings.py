"""autograder/settings.py: every setting resolved in one order, flag > environment > course config
> default, and the places that read a setting (the course config, the gradebook, the hub's
layout, the cache) getting the same answer from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import course, settings
from autograder.gradebook.merge import course_db_url
from autograder.hub.layout import Layout

ENVS = [settings.DB_URL_ENV, settings.COURSE_DIR_ENV, settings.CACHE_ENV, settings.RETRY_ENV, settings.HUB_ROOT_ENV,
        "XDG_CACHE_HOME"]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_resolve_takes_the_first_layer_that_is_set(clean_env):
    calls = []

    def configured(value):
        return lambda: calls.append(value) or value

    clean_env.setenv("SETTING_UNDER_TEST", "env")
    assert settings.resolve("flag", "SETTING_UNDER_TEST", configured("config"), "default") == "flag"
    assert settings.resolve(None, "SETTING_UNDER_TEST", configured("config"), "default") == "env"
    assert calls == [], "the course config is read only when the flag and the environment are unset"
    clean_env.setenv("SETTING_UNDER_TEST", "")
    assert settings.resolve("", "SETTING_UNDER_TEST", configured("config"), "default") == "config"
    assert settings.resolve(None, "SETTING_UNDER_TEST", configured(None), "default") == "default"
    assert settings.resolve(None, "SETTING_UNDER_TEST", configured(""), lambda: "computed") == "computed"
    assert settings.resolve(0, "SETTING_UNDER_TEST", None, 5) == 0, "a flag of 0 is set"


def test_db_url_flag_env_config_default(clean_env, tmp_path):
    folder = tmp_path / "course"
    default = f"sqlite:///{folder / 'gradebook.db'}"
    assert settings.db_url(None, lambda: None, folder) == default
    assert settings.db_url(None, lambda: None, lambda: folder) == default
    assert settings.db_url(None, lambda: "sqlite:///config.db", folder) == "sqlite:///config.db"
    clean_env.setenv(settings.DB_URL_ENV, "postgresql://env/pixels")
    assert settings.db_url(None, lambda: "sqlite:///config.db", folder) == "postgresql://env/pixels"
    assert settings.db_url("sqlite:///flag.db", lambda: "sqlite:///config.db", folder) == "sqlite:///flag.db"


def test_course_db_url_as_the_grader_and_the_hub_resolve_it(clean_env, tmp_path):
    """gradebook.merge.course_db_url (grade, export, the hub's exchange): the course config as
    shipped sets no URL of its own, so it is --db, else $COURSE_DB_URL, else the course folder's."""
    assert course.configured_db_url() is None
    assert course_db_url() == f"sqlite:///{settings.PACKAGE / 'gradebook.db'}"
    assert course_db_url(None, tmp_path) == f"sqlite:///{tmp_path / 'gradebook.db'}"
    clean_env.setenv(settings.COURSE_DIR_ENV, str(tmp_path / "env-course"))
    assert course_db_url() == f"sqlite:///{tmp_path / 'env-course' / 'gradebook.db'}"
    clean_env.setenv(settings.DB_URL_ENV, "postgresql://env/pixels")
    assert course.configured_db_url() == "postgresql://env/pixels", "the course config reads $COURSE_DB_URL"
    assert course_db_url(None, tmp_path) == "postgresql://env/pixels"
    assert course_db_url("sqlite:///flag.db", tmp_path) == "sqlite:///flag.db"


def test_course_dir(clean_env, tmp_path):
    assert course.course_dir() == settings.PACKAGE == course.HERE
    assert course.course_config().CourseDirectory.root == str(settings.PACKAGE)
    clean_env.setenv(settings.COURSE_DIR_ENV, str(tmp_path))
    assert course.course_dir() == tmp_path
    assert course.course_config().CourseDirectory.root == str(tmp_path), "nbgrader's own commands see it too"
    assert course.course_dir(tmp_path / "flag") == tmp_path / "flag"
    assert settings.course_dir(None, lambda: "/from/config") == tmp_path
    clean_env.delenv(settings.COURSE_DIR_ENV)
    assert settings.course_dir(None, lambda: "/from/config") == Path("/from/config")


def test_cache_dir(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert course.cache_root() == tmp_path / "home" / ".cache" / "pixels-to-lenet"
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert course.cache_root() == tmp_path / "xdg" / "pixels-to-lenet"
    clean_env.setenv(settings.CACHE_ENV, str(tmp_path / "cache"))
    assert course.cache_root() == tmp_path / "cache"


def test_retry_s(clean_env):
    assert settings.retry_s() == 120.0
    clean_env.setenv(settings.RETRY_ENV, "3")
    assert settings.retry_s() == 3.0
    assert settings.retry_s(30) == 30
    assert settings.retry_s(0) == 0


def test_hub_root(clean_env, tmp_path):
    assert Layout().root == Path("/srv/pixels-to-lenet")
    clean_env.setenv(settings.HUB_ROOT_ENV, str(tmp_path / "env"))
    assert Layout().root == tmp_path / "env"
    assert Layout(tmp_path / "flag").root == tmp_path / "flag"
    assert Layout().env() == {"HUB_ROOT": str(tmp_path / "env"), "COURSE_DIR": str(tmp_path / "env" / "course")}
