"""The fleet's memory: ``collect`` writes every stop's events, status changes and telemetry to a
database (SQLite or PostgreSQL, through SQLAlchemy Core); ``history`` turns them into each stop's
day in figures.

- ``schema``: the tables, the schema version and its upgrades
- ``store``: writing batches (events unique on (stop, seq)), retention, the report's queries
- ``collector``: the MQTT 5 shared-subscription consumer (acknowledges after the commit)
- ``daily``: pure arithmetic from a stop's rows to its figures per day
- ``report``: table, JSON, CSV and the chart
"""

DEFAULT_URL = "sqlite:///stopsafe-history.db"  # nothing to install; a fleet uses postgresql://
