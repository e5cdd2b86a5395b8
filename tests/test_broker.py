from __future__ import annotations

import json
from pathlib import Path

import pytest
from kombu import Connection

from webapp.broker import AtomicFilesystemTransport


@pytest.fixture
def connection(tmp_path: Path) -> Connection:
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    return Connection(
        "filesystem://", transport=AtomicFilesystemTransport, transport_options=options
    )


def test_a_message_goes_through(connection: Connection) -> None:
    queue = connection.SimpleQueue("searches")
    queue.put({"search_id": 7})
    message = queue.get(timeout=2)
    assert message.payload == {"search_id": 7}
    message.ack()


def test_a_half_written_message_is_never_read(connection: Connection, tmp_path: Path) -> None:
    """A writer caught mid-write leaves only a temporary name, which readers skip."""
    queue = connection.SimpleQueue("searches")
    (tmp_path / "queue" / "partial-deadbeef").write_bytes(b'{"trunc')
    queue.put({"search_id": 8})
    message = queue.get(timeout=2)
    assert message.payload == {"search_id": 8}
    message.ack()
    with pytest.raises(queue.Empty):
        queue.get(timeout=0.2)


def test_messages_are_whole_json_files(connection: Connection, tmp_path: Path) -> None:
    connection.SimpleQueue("searches").put({"search_id": 9})
    files = [p for p in (tmp_path / "queue").iterdir() if p.name.endswith(".searches.msg")]
    assert len(files) == 1
    assert json.loads(files[0].read_text())["body"]
