"""The stream consumer: fleet-telemetry's MQTT output (§10.1) into the stream models.

parse.py reads topics and payloads (pure functions), ingest.py coalesces messages in memory
and writes them in one transaction per flush, client.py is the MQTT client that acknowledges
a message only after the flush that stored it has committed.
"""
