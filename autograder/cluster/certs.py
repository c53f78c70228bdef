"""``cluster certs DIR``: the course's own certificate authority and the TLS certificates of
the grading cluster's scheduler, workers and clients.

Anyone who can reach a Dask scheduler can run code on its workers, and ours run as root
(the sandbox needs it). So the cluster speaks only TLS with mutual authentication: the
scheduler, every worker and every client (the instructor's ``grade``) present a
certificate signed by the course CA, and refuse a peer without one. ``DIR`` gets:

- ``ca.pem`` (every party's trust anchor) and ``ca-key.pem`` (keep it offline: it mints
  new members);
- ``scheduler.pem``/``scheduler-key.pem``, ``worker.pem``/``worker-key.pem``,
  ``client.pem``/``client-key.pem``.

Keys are written 0600. The scheduler's certificate names ``--host`` (default: this
machine's name, ``localhost`` and 127.0.0.1), which the others check when they connect.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

ROLES = ("scheduler", "worker", "client")
VALID_DAYS = 400  # a course year and some


def _name(common: str):
    from cryptography.x509.oid import NameOID
    from cryptography import x509

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pixels-to-lenet grading"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, data: bytes, private: bool) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600 if private else 0o644)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _alt_names(hosts: list[str]):
    from cryptography import x509

    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_certs(folder: Path, hosts: list[str] | None = None, days: int = VALID_DAYS) -> dict[str, Path]:
    """Create the CA and one certificate per role in ``folder``; return the paths written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    hosts = hosts or sorted({socket.gethostname(), socket.getfqdn(), "localhost", "127.0.0.1"})
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = _key()
    ca = (x509.CertificateBuilder().subject_name(_name("course CA")).issuer_name(_name("course CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    written = {"ca": folder / "ca.pem", "ca-key": folder / "ca-key.pem"}
    _write(written["ca"], ca.public_bytes(serialization.Encoding.PEM), private=False)
    _write(written["ca-key"], _pem_key(ca_key), private=True)

    for role in ROLES:
        key = _key()
        builder = (x509.CertificateBuilder().subject_name(_name(role)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   # Every party is a TLS server and a client: Dask connects workers to each other too.
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(_alt_names(hosts), critical=False))
        cert = builder.sign(ca_key, hashes.SHA256())
        written[role] = folder / f"{role}.pem"
        written[f"{role}-key"] = folder / f"{role}-key.pem"
        _write(written[role], cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(written[f"{role}-key"], _pem_key(key), private=True)
    return written


def security(folder: Path, role: str):
    """The ``distributed.security.Security`` of one party (``scheduler``, ``worker`` or
    ``client``): TLS required, the course CA the only trust anchor, this party's own
    certificate presented to peers (mutual authentication)."""
    from distributed.security import Security

    folder = Path(folder)
    missing = [p for p in (folder / "ca.pem", folder / f"{role}.pem", folder / f"{role}-key.pem") if not p.is_file()]
    if missing:
        raise SystemExit(f"error: no {', '.join(p.name for p in missing)} in {folder}: "
                         f"create the cluster's certificates with `python -m autograder cluster certs {folder}`")
    kw = {"tls_ca_file": str(folder / "ca.pem"), "require_encryption": True}
    if role == "client":
        kw.update(tls_client_cert=str(folder / "client.pem"), tls_client_key=str(folder / "client-key.pem"))
    else:
        kw.update({f"tls_{role}_cert": str(folder / f"{role}.pem"), f"tls_{role}_key": str(folder / f"{role}-key.pem")})
    return Security(**kw)
