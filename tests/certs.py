"""Real X.509 certificates and keys for the bundle tests (a helper), made with ``cryptography``.

EC P-256 keys keep generation fast; every certificate is a genuine, parseable one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

__all__ = ["Issued", "key_der", "key_pem", "make_certificate", "pkcs12_store"]

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
# Valid around NOW and around the real clock too, for real TLS handshakes.
VALID_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
VALID_UNTIL = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)


class Issued:
    """A certificate and its private key."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self.key = key

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def make_certificate(
    common_name: str,
    *,
    ca: bool | None = True,
    issuer: Issued | None = None,
    not_before: dt.datetime = VALID_FROM,
    not_after: dt.datetime = VALID_UNTIL,
    dns_name: str | None = None,
    ip_address: str | None = None,
) -> Issued:
    """A certificate for ``common_name``: a CA (``ca`` True), a leaf (False) or one without
    basic constraints (None); self-signed unless ``issuer`` is given. A leaf with a
    ``dns_name`` or ``ip_address`` is a TLS server certificate for them.

    Key identifiers are always there: Python 3.13's default context verifies strictly
    (``VERIFY_X509_STRICT``), which wants them."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
    names: list[x509.GeneralName] = []
    if dns_name:
        names.append(x509.DNSName(dns_name))
    if ip_address:
        names.append(x509.IPAddress(ipaddress.ip_address(ip_address)))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
        if ca is False:
            server = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
            builder = builder.add_extension(server, False)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def key_pem(issued: Issued, password: bytes | None = None) -> bytes:
    """The private key as PKCS#8 PEM (encrypted with ``password`` when given)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def key_der(issued: Issued) -> bytes:
    """The private key as unencrypted PKCS#8 DER."""
    return issued.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pkcs12_store(issued: Issued, password: bytes) -> bytes:
    """A PKCS#12 (.p12) key store holding the key and certificate, encrypted with ``password``."""
    return pkcs12.serialize_key_and_certificates(
        b"server",
        issued.key,
        issued.certificate,
        None,
        serialization.BestAvailableEncryption(password),
    )
