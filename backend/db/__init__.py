"""Persistence: SQLAlchemy 2 models, engine factory and Alembic migrations."""
