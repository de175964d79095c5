"""The deployment files say what the code does: settings, image, compose file, systemd unit."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import yaml

from node.engine.config import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_example_settings_name_every_setting_with_its_default() -> None:
    example = load_settings(DEPLOY / "node.example.toml", environ={})
    text = (DEPLOY / "node.example.toml").read_text()
    for field in dataclasses.fields(Settings):
        assert f"\n{field.name} = " in text, f"node.example.toml lacks {field.name}"
    defaults = Settings(participant="BW", network="kp.example")
    changed = {
        f.name
        for f in dataclasses.fields(Settings)
        if getattr(example, f.name) != getattr(defaults, f.name)
    }
    # Only what a real deployment sets differently from a laptop.
    assert changed == {"host", "public_url"}


def test_image_runs_unprivileged_with_a_data_volume_and_a_healthcheck() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert 'VOLUME ["/var/lib/kp-node"]' in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "/healthz" in dockerfile
    assert 'ENTRYPOINT ["kp-node"]' in dockerfile


def test_compose_file_describes_a_hardened_multi_participant_network() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"bw", "eu", "in"}
    published = set()
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["cap_drop"] == ["ALL"], name
        assert any(v.endswith(":/var/lib/kp-node") for v in service["volumes"]), name
        assert service["environment"]["KP_NODE_PUBLIC_URL"] == f"http://{name}:8400"
        for port in service["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes beyond loopback"
            published.add(port.split(":")[1])
    assert len(published) == len(services)
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        checked = subprocess.run(
            ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr


def test_systemd_unit_is_hardened_and_stops_gracefully() -> None:
    lines = (DEPLOY / "kp-node.service").read_text().splitlines()
    settings = {}
    for line in lines:
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, value)
    assert settings["ExecStart"].endswith("kp-node run --dir /var/lib/kp-node")
    assert settings["User"] == "kp"
    assert settings["KillSignal"] == "SIGTERM"
    for hardening in (
        "NoNewPrivileges",
        "ProtectSystem",
        "PrivateTmp",
        "ProtectHome",
        "RestrictNamespaces",
        "MemoryDenyWriteExecute",
    ):
        assert settings[hardening] in ("yes", "strict"), hardening
    assert settings["ReadWritePaths"] == "/var/lib/kp-node"
    assert settings["CapabilityBoundingSet"] == ""
