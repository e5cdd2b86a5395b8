"""The embedded mode's disk broker, made safe against half-written messages.

kombu's filesystem transport writes a message straight into the queue folder.
A worker polling at the same moment can move and read the file before its
bytes are written, fail with JSONDecodeError and stop consuming (seen here at
a 10 ms poll). This transport writes to a hidden temporary name first, then
renames it into place; a rename within one folder is atomic, so a reader sees
a whole message or none.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps


class AtomicFilesystemChannel(filesystem.Channel):
    # kombu's own stubs disagree on this signature between its base classes.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final_path = os.path.join(self.data_folder_out, name)
        # No dot before "msg" in a form _get() matches, so readers skip it.
        partial_path = os.path.join(self.data_folder_out, f"partial-{uuid.uuid4().hex}")
        try:
            with open(partial_path, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.replace(partial_path, final_path)
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to {final_path!r}") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicFilesystemChannel
