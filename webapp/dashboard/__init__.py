"""The staff dashboard: use, latency, errors, quota, cost, queues and provider health."""
