"""Arrivals: which bus is near this stop, from a transit feed (optional).

Two adapters turn a feed into :class:`~edge.decision.feed.Snapshot` values, one per moment the
feed describes: GTFS-realtime (``gtfs_rt``: VehiclePositions and TripUpdates, protobuf or its
JSON rendering), the Korean national TAGO bus-arrival JSON (``tago``) and Seoul's bus-arrival
service (``seoul``). ``source`` reads them from a URL polled or a folder replayed; ``build``
makes the configured one. What a snapshot means for the stop (an arrival that stopped or
passed) is decided in the pure core, ``edge/decision/buses.py``.
"""
