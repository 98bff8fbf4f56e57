"""Notifications to organizations' webhooks: outbox, relay, signed delivery, retries."""
