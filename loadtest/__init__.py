"""``make loadtest``: a bounded Locust scenario against a running Loupe (scripts/loadtest.sh).

locustfile.py is what Locust runs; the pure helpers it uses (SSE parsing,
the report) live beside it so tests can run them without Locust or a server.
"""
