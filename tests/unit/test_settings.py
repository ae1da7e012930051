from __future__ import annotations

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
