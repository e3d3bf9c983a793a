"""The instance's document-signing certificate, PAdES signatures on agreement PDFs, and checks.

A configured certificate and key (LEAP_CONNECT_SIGNING_CERTIFICATE / _KEY) are used as given.
Without one, a self-signed certificate is generated at first use and its key kept encrypted in
the database, so every process of the instance signs with the same certificate.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.esign import repository
from leap_connect.esign.pdf import SIGNATURE_BOX
from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.problems import ServiceUnavailable
from leap_connect.models import SigningKey, utc_now
from leap_connect.settings import Settings

SIGNING_KEY_NAME = "default"
SIGNATURE_FIELD = "LeapConnectSignature"
CERTIFICATE_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate (PEM; any intermediates after it) and its private key (PEM)."""

    certificate_pem: bytes
    private_key_pem: bytes
    key_password: bytes | None = None

    @property
    def certificates(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.certificate_pem)

    @property
    def subject(self) -> str:
        return self.certificates[0].subject.rfc4514_string()

    def signer(self) -> SimpleSigner:
        key = serialization.load_pem_private_key(self.private_key_pem, self.key_password)
        der_key = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        certificates = [_asn1(certificate) for certificate in self.certificates]
        return SimpleSigner(
            signing_cert=certificates[0],
            signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
            cert_registry=SimpleCertificateStore.from_certs(certificates),  # type: ignore[no-untyped-call]
        )


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def generate_identity(base_url: str, *, now: datetime) -> SigningIdentity:
    """A self-signed certificate for signing documents (digital signature, non-repudiation).

    ECDSA P-256: PDF readers validate it like RSA, and loading the key to sign takes
    microseconds where an RSA key's validation takes a large part of a second.
    """
    host = urlsplit(base_url).hostname or "localhost"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Leap Connect document signing ({host})"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Leap Connect"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


async def load_identity(
    session: AsyncSession, settings: Settings, encryptor: Encryptor
) -> SigningIdentity:
    """The configured certificate, or the instance's stored one (generated the first time)."""
    if settings.signing_certificate is not None and settings.signing_key is not None:
        try:
            certificate_pem = await asyncio.to_thread(settings.signing_certificate.read_bytes)
            key_pem = await asyncio.to_thread(settings.signing_key.read_bytes)
        except OSError as error:
            raise ServiceUnavailable(
                f"The document-signing certificate cannot be read: {error.strerror}."
            ) from None
        password = settings.signing_key_password
        return SigningIdentity(
            certificate_pem, key_pem, password.get_secret_value().encode() if password else None
        )
    stored = await repository.get_signing_key(session, SIGNING_KEY_NAME)
    if stored is None:
        stored = await _store_new_identity(session, settings, encryptor)
    return SigningIdentity(
        certificate_pem=stored.certificate_pem.encode(),
        private_key_pem=encryptor.decrypt(stored.private_key_encrypted).encode(),
    )


async def _store_new_identity(
    session: AsyncSession, settings: Settings, encryptor: Encryptor
) -> SigningKey:
    identity = await asyncio.to_thread(generate_identity, settings.base_url, now=utc_now())
    try:
        # Two processes may sign their first agreement at once: the name is unique, so the
        # second insert fails and that process uses the first one's certificate.
        async with session.begin_nested():
            stored = SigningKey(
                name=SIGNING_KEY_NAME,
                certificate_pem=identity.certificate_pem.decode(),
                private_key_encrypted=encryptor.encrypt(identity.private_key_pem.decode()),
            )
            session.add(stored)
            await session.flush()
    except IntegrityError:
        existing = await repository.get_signing_key(session, SIGNING_KEY_NAME)
        assert existing is not None, "the conflicting key is visible once its insert committed"
        return existing
    return stored


async def sign_pdf(pdf: bytes, identity: SigningIdentity, *, reason: str) -> bytes:
    """The PDF with a visible PAdES signature on its last page, covering the whole file."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason[:500],
        location="Leap Connect",
    )
    pdf_signer = signers.PdfSigner(
        metadata,
        signer=identity.signer(),
        new_field_spec=fields.SigFieldSpec(SIGNATURE_FIELD, on_page=-1, box=SIGNATURE_BOX),
        stamp_style=TextStampStyle(stamp_text="Digitally signed by %(signer)s\nTime: %(ts)s"),
    )
    output = await pdf_signer.async_sign_pdf(writer)
    signed: bytes = output.getvalue()
    return signed


@dataclass(frozen=True)
class SignatureCheck:
    """What a PDF reader would say about the file's signature."""

    intact: bool  # the signed bytes are unchanged
    valid: bool  # the signature over them is cryptographically correct
    trusted: bool  # the signer's certificate chains to a certificate we trust
    covers_whole_file: bool  # nothing was added after signing
    signer: str | None = None

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.covers_whole_file


async def check_pdf_signature(pdf: bytes, trusted_certificate_pem: bytes) -> SignatureCheck:
    """Validate the PDF's signature with pyHanko against the given certificate(s)."""
    failed = SignatureCheck(intact=False, valid=False, trusted=False, covers_whole_file=False)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
        if len(signatures) != 1:
            return failed
        roots = [_asn1(c) for c in x509.load_pem_x509_certificates(trusted_certificate_pem)]
        status = await async_validate_pdf_signature(
            signatures[0], ValidationContext(trust_roots=roots, allow_fetching=False)
        )
    except Exception:  # a damaged file is simply not a valid signed PDF
        return failed
    return SignatureCheck(
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        signer=status.signing_cert.subject.human_friendly if status.signing_cert else None,
    )
