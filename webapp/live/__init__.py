"""Live pages: searches pushed to open pages as they change (Server-Sent Events)."""
