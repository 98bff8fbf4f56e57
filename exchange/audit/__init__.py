"""The audit log: every read or change of client data leaves an event in the same transaction."""

from exchange.audit.service import Actor, record, verify_chain

__all__ = ["Actor", "record", "verify_chain"]
