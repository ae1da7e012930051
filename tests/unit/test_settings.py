from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgetwin.core.errors import ConfigError
from edgetwin.core.settings import MqttTarget, Settings, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("HTTP_PORT", "MQTT_PORT", "DATA_DIR", "DB", "MQTT_URL", "CONFIG"):
        monkeypatch.delenv(f"EDGETWIN_{var}", raising=False)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert (s.http_port, s.mqtt_port, s.tenant, s.plant) == (8000, 1883, "acme", "plant-01")
    assert s.data_dir == tmp_path / ".edgetwin"
    assert s.store_url == f"sqlite:///{tmp_path / '.edgetwin' / 'cloud.db'}"
    assert s.embedded_broker
    assert s.cloud_base_url == "http://127.0.0.1:8000"


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGETWIN_HTTP_PORT", "9000")
    monkeypatch.setenv("EDGETWIN_MQTT_URL", "mqtt://u:p%40ss@broker.local:1884")
    assert load_settings().http_port == 9000
    assert load_settings(http_port=9100).http_port == 9100
    target = load_settings().mqtt_target()
    assert target == MqttTarget(host="broker.local", port=1884, username="u", password="p@ss")


def test_toml_file_below_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "edgetwin.toml"
    config.write_text('http_port = 8100\nplant = "plant-07"\n')
    monkeypatch.setenv("EDGETWIN_CONFIG", str(config))
    monkeypatch.delenv("EDGETWIN_HTTP_PORT", raising=False)
    s = load_settings()
    assert (s.http_port, s.plant) == (8100, "plant-07")
    monkeypatch.setenv("EDGETWIN_HTTP_PORT", "8200")
    assert load_settings().http_port == 8200


def test_bad_values_are_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGETWIN_HTTP_PORT", "70000")
    with pytest.raises(ConfigError, match="http_port"):
        load_settings()


@pytest.mark.parametrize("url", ["http://x:1", "mqtt://", "mqtt://host:notaport"])
def test_bad_mqtt_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        MqttTarget.from_url(url)


def test_mqtts_default_port() -> None:
    assert MqttTarget.from_url("mqtts://h").port == 8883


def test_a_share_group_needs_an_external_broker() -> None:
    with pytest.raises(ValidationError, match="embedded broker has none"):
        Settings(mqtt_share_group="ingest")
    s = Settings(mqtt_share_group="ingest", mqtt_url="mqtt://127.0.0.1:1883")
    assert s.mqtt_share_group == "ingest"


def test_several_ingest_workers_in_cloud_url() -> None:
    s = Settings(cloud_url="http://a:8000/, http://b:8000")
    assert s.cloud_urls == ["http://a:8000", "http://b:8000"]
    assert s.cloud_base_url == "http://a:8000"


# -- settings that are wrong say so in one line each, naming the setting (issue 14, item 5) --


@pytest.mark.parametrize(
    ("value", "packs"),
    [
        ("factory", ["factory"]),
        ("factory, motor", ["factory", "motor"]),
        ('["factory", "cmm"]', ["factory", "cmm"]),
        ("", []),
    ],
)
def test_packs_as_a_comma_separated_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, packs: list[str]
) -> None:
    monkeypatch.delenv("EDGETWIN_CONFIG", raising=False)
    monkeypatch.setenv("EDGETWIN_PACKS", value)
    assert load_settings().packs == packs


def test_packs_that_are_broken_json_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGETWIN_CONFIG", raising=False)
    monkeypatch.setenv("EDGETWIN_PACKS", '["factory"')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("setting packs (EDGETWIN_PACKS): not a JSON list")
    assert "factory,motor" in message  # says how to write it


def test_each_bad_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGETWIN_CONFIG", raising=False)
    monkeypatch.setenv("EDGETWIN_HTTP_PORT", "eighty")
    monkeypatch.setenv("EDGETWIN_BUFFER_POLICY", "keep_all")
    monkeypatch.setenv("EDGETWIN_MQTT_PASSWORD", "x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("setting http_port (EDGETWIN_HTTP_PORT): ")
    assert lines[0].endswith("; got 'eighty'")
    assert lines[1].startswith("setting buffer_policy (EDGETWIN_BUFFER_POLICY): ")


def test_a_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "edgetwin.toml"
    config.write_text("mqtt_password = 12345\n")  # a number where a string goes
    monkeypatch.setenv("EDGETWIN_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "mqtt_password" in str(caught.value)
    assert "12345" not in str(caught.value)


def test_a_file_key_that_is_no_setting_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "edgetwin.toml"
    config.write_text('http_port = 8100\nbroker_url = "mqtt://x"\n')
    monkeypatch.setenv("EDGETWIN_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"edgetwin\.toml: 'broker_url' is not a setting"):
        load_settings()


def test_a_file_that_is_not_toml_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "edgetwin.toml"
    config.write_text("http_port = = 1\n")
    monkeypatch.setenv("EDGETWIN_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"config file .*edgetwin\.toml: "):
        load_settings()


def test_a_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGETWIN_CONFIG", str(tmp_path / "edgetwin.tml"))
    with pytest.raises(ConfigError, match=r"EDGETWIN_CONFIG\) does not exist"):
        load_settings()


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example_config() -> str:
    """The TOML block under the README's "An example config file", exactly as shown."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### An example config file", 1)[1]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_config_file_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Its settings load, and the edge builds its pipeline with the example's [[sinks]]."""
    from edgetwin.cli import edge_pipeline
    from edgetwin.edge.pipeline import build

    for name in list(os.environ):
        if name.startswith("EDGETWIN_"):
            monkeypatch.delenv(name)
    config = tmp_path / "edgetwin.toml"
    config.write_text(readme_example_config())
    monkeypatch.setenv("EDGETWIN_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.http_port, settings.packs) == (8000, ["factory", "motor"])
    assert settings.buffer_max_bytes == 256 * 1024 * 1024
    assert settings.data_dir == tmp_path / ".edgetwin"
    pipeline, ctx = edge_pipeline(settings, config)
    assert [s.name for s in build(pipeline, ctx).sinks] == ["cloud", "historian"]
    assert 'name = "historian"' in pipeline.to_toml()


def test_by_default_every_twin_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGETWIN_PACKS", raising=False)
    assert load_settings().packs == ["factory", "motor", "cmm", "grid", "warehouse"]
