"""Hubao evidence store: Kubo-compatible content addressing, blockstores, encryption, CAR, Kubo RPC."""
