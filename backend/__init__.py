"""Hubao backend: API, domain services, chain client, persistence and CLI."""

__version__ = "0.1.0"
