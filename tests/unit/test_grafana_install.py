"""`netvigil grafana install`: the provisioning files and dashboards land where Grafana reads
them, with the datasource's URL and database from the options or the settings, and a second
run keeps the credentials written by hand. No Grafana server can be installed on these
machines (no Debian package), so what Grafana would load is checked as files: the provider
points at the directory the dashboards went to, and every dashboard is the shipped one."""

from __future__ import annotations

import json

import yaml

from lab import grafana
from monitor import i18n
from monitor.cli import main

SETTINGS = """
inventory: [inventory.yaml]
outputs:
  influxdb_v1: {url: "http://192.0.2.10:8086", database: health}
"""


def _install(tmp_path, *extra: str) -> int:
    return main(["grafana", "install", "--dir", str(tmp_path / "provisioning"),
                 "--dashboards-dir", str(tmp_path / "dashboards"), *extra])


def _datasource(tmp_path) -> dict:
    [entry] = yaml.safe_load((tmp_path / "provisioning/datasources/netvigil.yaml").read_text())["datasources"]
    return entry


def test_install_copies_everything_and_points_the_provider_at_the_dashboards(tmp_path, capsys):
    (tmp_path / "provisioning").mkdir()
    assert _install(tmp_path, "--datasource-url", "http://192.0.2.7:8086", "--database", "netvigil") == 0
    entry = _datasource(tmp_path)
    assert entry["uid"] == "netvigil-influxdb" and entry["url"] == "http://192.0.2.7:8086"
    assert entry["jsonData"]["dbName"] == "netvigil" and entry["jsonData"]["timeInterval"] == "10s"
    providers = yaml.safe_load((tmp_path / "provisioning/dashboards/netvigil.yaml").read_text())["providers"]
    installed = sorted((tmp_path / "dashboards").rglob("*.json"))
    shipped = sorted(grafana.DASHBOARD_DIR.rglob("*.json"))
    assert len(installed) == len(shipped) > 0
    assert {str(path.parent) for path in installed} == {provider["options"]["path"] for provider in providers}
    for path in installed:
        original = grafana.DASHBOARD_DIR / path.relative_to(tmp_path / "dashboards")
        assert json.loads(path.read_text()) == json.loads(original.read_text())
    out = capsys.readouterr().out
    assert f"{len(shipped)} dashboards" in out and "set the InfluxDB user and password" in out


def test_a_second_install_keeps_the_credentials_and_takes_url_and_database_from_the_settings(tmp_path, capsys):
    (tmp_path / "provisioning").mkdir()
    assert _install(tmp_path) == 0
    path = tmp_path / "provisioning/datasources/netvigil.yaml"
    path.write_text(path.read_text().replace("user: grafana", "user: noc-reader")
                    .replace("password: change-me", "password: s3cret"))
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room}\ndevices:\n  - {name: a, address: 127.0.0.1, class: switch, site: room}\n")
    (tmp_path / "netvigil.yaml").write_text(SETTINGS)
    assert _install(tmp_path, "-c", str(tmp_path / "netvigil.yaml")) == 0
    entry = _datasource(tmp_path)
    assert entry["user"] == "noc-reader" and entry["secureJsonData"] == {"password": "s3cret"}
    assert entry["url"] == "http://192.0.2.10:8086" and entry["jsonData"]["dbName"] == "health"
    assert "restart grafana-server" in capsys.readouterr().out


def test_bad_input_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert _install(tmp_path) == 2  # the provisioning directory does not exist
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such directory" in err and "Traceback" not in err
    (tmp_path / "provisioning").mkdir()
    assert _install(tmp_path, "--datasource-url", "influx:8086") == 2
    assert "http:// or https://" in capsys.readouterr().err
    assert _install(tmp_path, "--from", str(tmp_path)) == 2
    assert "no Grafana files there" in capsys.readouterr().err


def test_one_language_only(tmp_path):
    (tmp_path / "provisioning").mkdir()
    assert _install(tmp_path, "--language", "zh-CN") == 0
    providers = yaml.safe_load((tmp_path / "provisioning/dashboards/netvigil.yaml").read_text())["providers"]
    assert [provider["options"]["path"] for provider in providers] == [str(tmp_path / "dashboards" / "zh-CN")]
    installed = sorted((tmp_path / "dashboards").rglob("*.json"))
    assert installed and all(path.parent.name == "zh-CN" for path in installed)
    assert json.loads(installed[0].read_text())["uid"].endswith("-zh")


def test_the_command_speaks_chinese_under_a_chinese_locale(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    with i18n.using("en"):  # main() sets the process's language; the block restores it for other tests
        _chinese_install(tmp_path, capsys)


def _chinese_install(tmp_path, capsys) -> None:
    assert _install(tmp_path) == 2
    assert "目录不存在" in capsys.readouterr().err
    (tmp_path / "provisioning").mkdir()
    assert _install(tmp_path) == 0
    out = capsys.readouterr().out
    assert "个仪表盘" in out and "下一步" in out


def test_influxdb_2_gets_a_token_header_instead_of_user_and_password(tmp_path, capsys):
    (tmp_path / "provisioning").mkdir()
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room}\ndevices:\n  - {name: a, address: 127.0.0.1, class: switch, site: room}\n")
    (tmp_path / "netvigil.yaml").write_text(
        'inventory: [inventory.yaml]\noutputs:\n  influxdb: {url: "http://192.0.2.20:8086", org: noc, bucket: health,'
        ' token: "x"}\n')
    assert _install(tmp_path, "-c", str(tmp_path / "netvigil.yaml")) == 0
    entry = _datasource(tmp_path)
    assert "user" not in entry and entry["jsonData"]["httpHeaderName1"] == "Authorization"
    assert entry["secureJsonData"] == {"httpHeaderValue1": "Token change-me"}
    assert entry["url"] == "http://192.0.2.20:8086" and entry["jsonData"]["dbName"] == "health"
    assert "2.x token" in capsys.readouterr().out
    # A second run keeps the token written by hand.
    path = tmp_path / "provisioning/datasources/netvigil.yaml"
    path.write_text(path.read_text().replace("Token change-me", "Token abc"))
    assert _install(tmp_path, "-c", str(tmp_path / "netvigil.yaml")) == 0
    assert _datasource(tmp_path)["secureJsonData"] == {"httpHeaderValue1": "Token abc"}
