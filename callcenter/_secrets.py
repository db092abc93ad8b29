"""`callcenter secrets`: a self-signed CA and the server certificate that the desktop's
HTTPS and Kamailio's WSS present, for a demo or a test (docs/desktop.md, "Certificates").

Production points `tls.cert`/`tls.key` at a real certificate instead; nothing here runs
then. The CA's key is thrown away once the server certificate is signed: nobody can
issue another certificate under it, so trusting it trusts only this one server.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from configuration import CallCenterConfig, split_hostport

# Long enough for a demo box to keep working; short enough that nobody mistakes it for
# a real certificate (browsers accept at most 398 days for public CAs, not for private).
VALID_DAYS = 825
CA_FILE_NAME = "ca.crt"


class SecretsError(Exception):
    """The files exist already (and --force was not given) or cannot be written."""


@dataclass(frozen=True)
class WrittenSecrets:
    cert: Path
    key: Path
    ca: Path
    names: tuple[str, ...]


def tls_paths(config: CallCenterConfig, config_dir: Path | None = None) -> tuple[Path, Path]:
    """The config's tls.cert and tls.key; relative paths are relative to the config file's
    directory (a config from load_config has them absolute already)."""
    base = config_dir or Path()
    return (base / config.tls.cert).resolve(), (base / config.tls.key).resolve()


def server_names(config: CallCenterConfig) -> tuple[str, ...]:
    """The names and addresses browsers reach the desktop and WSS by (the SANs)."""
    names = ["localhost", "127.0.0.1", config.sip.realm, config.node.advertise_ip]
    if config.desktop is not None:
        names.append(split_hostport(config.desktop.listen)[0])
    if config.sip.wss_listen is not None:
        names.append(split_hostport(config.sip.wss_listen)[0])
    # Wildcard listen addresses are no name a client connects to.
    unique = dict.fromkeys(n for n in names if n and n not in ("0.0.0.0", "::"))
    return tuple(unique)


def _subject_alt_name(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def write_secrets(
    config: CallCenterConfig, config_dir: Path | None = None, *, force: bool = False
) -> WrittenSecrets:
    """Write a new CA certificate (beside the server certificate, `ca.crt`) and a server
    certificate and key at the config's tls paths. Existing files are kept unless
    `force`: replacing a key under a running stack would break every client's trust."""
    cert_path, key_path = tls_paths(config, config_dir)
    ca_path = cert_path.parent / CA_FILE_NAME
    existing = [p for p in (cert_path, key_path) if p.exists()]
    if existing and not force:
        raise SecretsError(
            f"{', '.join(map(str, existing))} exist(s); not overwritten (use --force to replace)"
        )
    names = server_names(config)
    now = datetime.datetime.now(datetime.UTC)
    not_after = now + datetime.timedelta(days=VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"huaan-callcenter demo CA ({config.sip.realm})")]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(_subject_alt_name(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    key_pem = server_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(key_path, key_pem)
        # The chain: browsers and Kamailio present both; clients trust the CA.
        cert_path.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
        ca_path.write_bytes(ca_cert.public_bytes(pem))
    except OSError as exc:
        raise SecretsError(f"cannot write the certificate: {exc}") from None
    return WrittenSecrets(cert_path, key_path, ca_path, names)


def _write_private(path: Path, data: bytes) -> None:
    """Mode 0600 from the first byte: the key is never readable by others, not even briefly."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)
