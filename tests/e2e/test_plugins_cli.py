"""Plugins as an operator meets them: listed, chosen per run, and a third-party plugin
installed from its own package and used end to end."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def coopreg(*args: str, env: dict | None = None, stdin: str | None = None):
    import os

    return subprocess.run([sys.executable, "-m", "registry", *args], input=stdin,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_plugins_lists_each_builtin_with_version_hooks_partners_and_rules():
    result = coopreg("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = {p["name"]: p for p in json.loads(result.stdout)}
    assert {"osce", "desa", "coe"} <= set(listing)
    assert listing["osce"]["partners"] == ["osce-odihr"]
    assert "coopreg_validate_action" in listing["coe"]["hooks"]
    assert "osce.participating-state" in [r["id"] for r in listing["osce"]["rules"]]


def test_plugins_can_be_chosen_or_disabled_per_run():
    only = json.loads(coopreg("--plugins", "osce", "plugins", "--json").stdout)
    assert [p["name"] for p in only] == ["osce"]
    without = json.loads(coopreg("--disable-plugin", "coe", "plugins", "--json").stdout)
    assert "coe" not in [p["name"] for p in without]
    from_env = json.loads(coopreg("plugins", "--json", env={"COOPREG_PLUGINS": "desa"}).stdout)
    assert [p["name"] for p in from_env] == ["desa"]


@pytest.fixture(scope="module")
def sdg_installed(tmp_path_factory) -> Path:
    """The example plugin, installed from its own pyproject.toml into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target),
                    str(ROOT / "examples" / "coopreg-sdg")], check=True, timeout=300)
    return target


def test_the_example_plugin_installs_and_works_end_to_end(sdg_installed, tmp_path):
    env = {"PYTHONPATH": str(sdg_installed)}
    listing = json.loads(coopreg("plugins", "--json", env=env).stdout)
    sdg = next(p for p in listing if p["name"] == "sdg")
    assert sdg["version"] == "0.3.0" and sdg["rules"][0]["id"] == "sdg.suggest-target"

    db = f"sqlite:///{tmp_path / 'sdg.db'}"
    assert coopreg("--db", db, "demo", env=env).returncode == 0
    action = {"reporting_partner": "osce-odihr", "partners": ["osce-odihr", "ohchr"],
              "kind": "training", "occurred_on": "2021-03-08", "countries": ["AL"],
              "themes": ["gender-equality"], "summary": "Training on gender equality"}
    posted = coopreg("--db", db, "post", "--as", "partner:osce-odihr", env=env,
                     stdin=json.dumps(action))
    assert posted.returncode == 0, posted.stderr
    assert "coopreg: warning: themes[0]:" in posted.stderr and "sdg-5.1" in posted.stderr
    receipt = json.loads(posted.stdout)
    assert receipt["warnings"][0]["plugin"] == "sdg"
    tagged = coopreg("--db", db, "post", "--as", "partner:osce-odihr", env=env,
                     stdin=json.dumps({**action, "themes": ["gender-equality", "sdg-5.1"]}))
    assert json.loads(tagged.stdout)["warnings"] == []
    without = coopreg("--db", db, "post", "--as", "partner:osce-odihr",
                      stdin=json.dumps({**action, "themes": ["sdg-5.1"]}))
    assert without.returncode == 1 and "action.theme" in without.stderr
