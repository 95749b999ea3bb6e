"""HTTPS for `nst serve --allow-remote`: the user's certificate and key, or a self-signed pair
made at the first start and kept (mode 0600) in the service's config folder; the SHA-256
fingerprint clients pin (`hostkit.client.Client(fingerprint=...)`).

A self-signed certificate proves nothing to a browser, but a client that pins its fingerprint
talks to this service and no other: the fingerprint, read on the service's machine with
`nst serve --status`, is entered once in the plug-in's settings.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from ..errors import UserError
from ..fsutil import user_dir

CERT_NAME, KEY_NAME = "cert.pem", "key.pem"
VALID_DAYS = 3650


def default_dir() -> Path:
    """$XDG_CONFIG_HOME/nst-plugin/tls (default ~/.config/nst-plugin/tls)."""
    return user_dir("XDG_CONFIG_HOME", ".config") / "nst-plugin" / "tls"


def fingerprint(cert_file: Path) -> str:
    """The certificate's SHA-256 fingerprint as colon-separated upper-case hex."""
    pem = Path(cert_file).read_text(encoding="ascii", errors="replace")
    start = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----", start)
    if start < 0 or end < 0:
        raise UserError(f"{cert_file} holds no PEM certificate; give a PEM file to --tls-cert.")
    der = ssl.PEM_cert_to_DER_cert(pem[start : end + len("-----END CERTIFICATE-----")])
    return format_fingerprint(hashlib.sha256(der).hexdigest())


def format_fingerprint(hex_digest: str) -> str:
    digest = hex_digest.upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def check_pair(cert_file: Path, key_file: Path) -> None:
    """Load the pair once, so that a wrong file is one sentence before the service starts."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "strerror", None) or getattr(err, "reason", None) or "unreadable"
        raise UserError(
            f"the certificate {cert_file} and key {key_file} cannot be used ({reason}); give a "
            "PEM certificate and its private key to --tls-cert and --tls-key."
        ) from None


def self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """(certificate, key) in `folder`, made on the first call and kept: the fingerprint the
    clients pinned stays valid across restarts."""
    cert_file, key_file = folder / CERT_NAME, folder / KEY_NAME
    if cert_file.is_file() and key_file.is_file():
        return cert_file, key_file
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise UserError(
            "making a certificate for --allow-remote needs the cryptography package; install "
            "it, or give your own with --tls-cert and --tls-key."
        ) from None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"nst serve on {_hostname()}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alt_names(x509, host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_file, key_pem)
    _write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file


def _hostname() -> str:
    return socket.gethostname() or "localhost"


def _alt_names(x509, host: str) -> list:
    names = [x509.DNSName("localhost"), x509.DNSName(_hostname())]
    addresses = {"127.0.0.1", "::1", host.strip("[]")}
    for address in sorted(addresses):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            if address and address != _hostname():
                names.append(x509.DNSName(address))
    return names


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file only this user can read (replacing a half-made one)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        if hasattr(os, "fchmod"):
            os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
    os.replace(tmp, path)
