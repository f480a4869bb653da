"""Projections: read models (SQLAlchemy) built from the Kafka topics, with their positions."""
