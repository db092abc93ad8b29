"""`callcenter secrets`: the demo's CA and server certificate, and what WSS needs of them."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from callcenter._secrets import SecretsError, write_secrets
from callcenter._stack import StackError, render_kamailio_tls_cfg
from callcenter.cli import main
from configuration import load_config
from testbed import base_config


def _config(workdir: Path, **sip: object) -> Path:
    config, _ = base_config(workdir, agents=())  # no accounts: no Argon2 hashing
    config["numbers"] = []
    config["sip"].update(sip)
    config["node"]["advertise_ip"] = "10.1.2.3"
    config["desktop"] = {"listen": "desk.example:8443"}
    config["tls"] = {"cert": "certs/server.crt", "key": "certs/server.key"}
    path = workdir / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_certificate_names_every_address_browsers_use(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, wss_listen="wss.example:8444"))
    written = write_secrets(config, tmp_path)
    assert written.cert == tmp_path / "certs" / "server.crt"  # relative to the config file
    cert = x509.load_pem_x509_certificates(written.cert.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "localhost",
        "huaan.test",
        "desk.example",
        "wss.example",
    }
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.1.2.3"),
    }
    ca = x509.load_pem_x509_certificate(written.ca.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert stat.S_IMODE(written.key.stat().st_mode) == 0o600


def test_existing_files_are_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    assert main(["-c", str(path), "secrets"]) == 0
    out = capsys.readouterr().out
    assert "server.key (mode 0600)" in out and "ca.crt" in out
    key = (tmp_path / "certs" / "server.key").read_bytes()
    with pytest.raises(SecretsError, match="--force"):
        write_secrets(load_config(path), tmp_path)
    assert main(["-c", str(path), "secrets"]) == 2
    assert (tmp_path / "certs" / "server.key").read_bytes() == key
    assert main(["-c", str(path), "secrets", "--force"]) == 0
    assert (tmp_path / "certs" / "server.key").read_bytes() != key


def test_wss_without_a_certificate_names_callcenter_secrets(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, wss_listen="127.0.0.1:8444"))
    with pytest.raises(StackError, match="callcenter secrets"):
        render_kamailio_tls_cfg(config)
    write_secrets(config, tmp_path)
    rendered = render_kamailio_tls_cfg(config)
    assert rendered is not None and f"private_key = {tmp_path}/certs/server.key" in rendered
    assert render_kamailio_tls_cfg(load_config(_config(tmp_path))) is None  # no WSS
