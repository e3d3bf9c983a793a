"""Every table, importable from one place (Alembic reads `Base.metadata` from here)."""

from leap_connect.models.agreement import Agreement, AgreementMeter
from leap_connect.models.audit import AuditLogEntry
from leap_connect.models.base import Base, utc_now
from leap_connect.models.connect import ConnectFlow, ConnectSession, Document, UtilityAuthorization
from leap_connect.models.job import Job
from leap_connect.models.meter import ConnectionReference, Meter
from leap_connect.models.organization import ApiKey, Organization, User
from leap_connect.models.portal import LinkOpen, PortalSession
from leap_connect.models.signing_key import SigningKey
from leap_connect.models.webhook import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "Agreement",
    "AgreementMeter",
    "ApiKey",
    "AuditLogEntry",
    "Base",
    "ConnectFlow",
    "ConnectSession",
    "ConnectionReference",
    "Document",
    "Job",
    "LinkOpen",
    "Meter",
    "Organization",
    "PortalSession",
    "SigningKey",
    "User",
    "UtilityAuthorization",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "utc_now",
]
