"""The audit log: every read or change of client data leaves an event in the same transaction."""

from exchange.audit.service import Actor, checkpoint, record, seal, verify

__all__ = ["Actor", "checkpoint", "record", "seal", "verify"]
