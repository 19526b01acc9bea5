"""HTTPS for `livevision serve`: a browser gives a page its camera only over https:// (or on localhost), so
a server other machines reach needs a certificate: the user's own (--certfile, --keyfile), or else one made
up at start, which browsers accept after a warning."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from pathlib import Path

from ..errors import UsageError


def tls_context(certfile: Path | None, keyfile: Path | None) -> ssl.SSLContext:
    """A server context from a certificate file (PEM; the key in it or in `keyfile`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # no password: an encrypted key fails here in one line instead of OpenSSL asking on the terminal
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None, password=lambda: b"")
    except (OSError, ssl.SSLError) as e:
        raise UsageError(f"--certfile {certfile}: cannot load the certificate"
                         f"{' and --keyfile' if keyfile else ''}: {getattr(e, 'strerror', None) or e}") from None
    return context


def self_signed_context(hosts: list[str]) -> tuple[ssl.SSLContext, str]:
    """A context with a certificate made up now for `hosts` (names or addresses), valid 30 days; and its
    SHA-256 fingerprint, for the visitor to compare with what the browser shows."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "livevision serve")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with tempfile.TemporaryDirectory() as folder:  # ssl loads certificates from files only
        path = os.path.join(folder, "cert.pem")
        Path(path).write_bytes(pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(path)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return context, fingerprint
