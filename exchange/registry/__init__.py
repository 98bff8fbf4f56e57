"""The registry: organizations, OAuth clients and users, loaded from a reviewed file."""
