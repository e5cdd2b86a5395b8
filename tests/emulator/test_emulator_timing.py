"""Realistic timing: IQS latency, image-search streams spread over seconds, set while serving.

Timings are checked from below only (at least 0.9 of what was set, the jitter's
floor): a loaded machine may be slower, never faster.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from webapp.emulator import EmulatorHandle, Timing, start_emulator
from webapp.emulator.__main__ import main
from webapp.emulator.responses import SEARCH_SHARE, _spread

IQS = "/search/multimodal"
RESPONSES = "/compatible-mode/v1/responses"
AUTH = {"Authorization": "Bearer test-key"}
IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
FLOOR = 0.9  # the jitter takes at most 10% off


def search_iqs(emulator: EmulatorHandle, query: str = "lion") -> httpx.Response:
    return httpx.post(f"{emulator.url}{IQS}", json={"query": query}, headers=AUTH, timeout=30)


def image_search_body() -> dict[str, object]:
    content = [{"type": "input_text", "text": "landscapes"}]
    content.append({"type": "input_image", "image_url": IMAGE})
    return {
        "model": "qwen3.7-plus",
        "input": [{"role": "user", "content": content}],
        "tools": [{"type": "image_search"}],
        "stream": True,
    }


def stream_arrivals(emulator: EmulatorHandle) -> list[tuple[float, str]]:
    """(seconds since the request was sent, event type) for every event, as it arrives."""
    arrivals = []
    started = time.perf_counter()
    url = f"{emulator.url}{RESPONSES}"
    with httpx.stream("POST", url, json=image_search_body(), headers=AUTH, timeout=30) as answer:
        for line in answer.iter_lines():
            if line.startswith("event: "):
                arrivals.append((time.perf_counter() - started, line.removeprefix("event: ")))
    return arrivals


# --- IQS latency ----------------------------------------------------------------------------------


def test_iqs_answers_at_once_by_default(emulator: EmulatorHandle) -> None:
    assert emulator.state.timing == Timing()
    assert search_iqs(emulator).status_code == 200


def test_iqs_waits_the_latency_it_is_set_to(emulator: EmulatorHandle) -> None:
    emulator.set_timing(iqs_latency=0.3)

    started = time.perf_counter()
    answer = search_iqs(emulator)
    took = time.perf_counter() - started

    assert answer.status_code == 200
    assert took >= FLOOR * 0.3
    # searchTime says how long the emulated search took, as the real service's does.
    assert answer.json()["searchInformation"]["searchTime"] >= FLOOR * 300


def test_a_bad_key_is_refused_without_the_wait(emulator: EmulatorHandle) -> None:
    emulator.set_timing(iqs_latency=600)  # a wait this long would time the request out

    answer = httpx.post(f"{emulator.url}{IQS}", json={"query": "lion"}, timeout=30)

    assert answer.status_code == 404


def test_hundreds_of_slow_requests_are_served_at_once(emulator: EmulatorHandle) -> None:
    emulator.set_timing(iqs_latency=0.5)

    with ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(lambda n: search_iqs(emulator, f"q{n}").status_code, range(200)))

    assert statuses == [200] * 200


# --- image-search streams -------------------------------------------------------------------------


def test_the_stream_lasts_the_seconds_it_is_set_to(emulator: EmulatorHandle) -> None:
    emulator.set_pacing(0)  # stream_seconds wins over pacing
    emulator.set_timing(stream_seconds=0.5)

    arrivals = stream_arrivals(emulator)

    kinds = [kind for _, kind in arrivals]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert arrivals[-1][0] - arrivals[0][0] >= FLOOR * 0.5


def test_the_images_come_part_way_and_the_text_until_the_end(emulator: EmulatorHandle) -> None:
    emulator.set_timing(stream_seconds=0.5)

    arrivals = stream_arrivals(emulator)

    at = {kind: seconds for seconds, kind in reversed(arrivals)}  # first arrival of each kind
    first, last = arrivals[0][0], arrivals[-1][0]
    # The search itself takes its share before the images (response.output_item.done)...
    assert at["response.output_item.done"] - first >= FLOOR * SEARCH_SHARE * FLOOR * 0.5
    # ...and the text deltas keep coming after them, spread over the rest.
    assert last - at["response.output_text.delta"] >= 0.1
    kinds = [kind for _, kind in arrivals]
    assert kinds.index("response.output_item.done") < kinds.index("response.output_text.delta")


def test_spread_keeps_the_order_and_shares_the_time() -> None:
    frames = [f"event: {kind}\ndata: {{}}\n\n".encode() for kind in SAMPLE_KINDS]

    pauses = _spread(frames, 10.0)

    assert len(pauses) == len(frames)
    assert pauses[0] == 0  # the first event goes out at once
    assert sum(pauses) == pytest.approx(10.0)
    search = SAMPLE_KINDS.index("response.image_search_call.completed")
    assert pauses[search] == pytest.approx(10.0 * SEARCH_SHARE)
    others = [pause for n, pause in enumerate(pauses[1:], 1) if n != search]
    assert min(others) == max(others) > 0  # every other gap alike: deltas spread evenly


def test_spread_without_a_search_shares_all_the_time_evenly() -> None:
    frames = [b"event: response.created\n\n"] + [b"event: response.output_text.delta\n\n"] * 4

    assert _spread(frames, 2.0) == [0.0, 0.5, 0.5, 0.5, 0.5]


SAMPLE_KINDS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.image_search_call.in_progress",
    "response.image_search_call.searching",
    "response.image_search_call.completed",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 6,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


# --- the control API ------------------------------------------------------------------------------


def test_the_control_api_sets_and_shows_the_timing(emulator: EmulatorHandle) -> None:
    control = f"{emulator.url}/_emulator/timing"

    changed = httpx.post(control, json={"iqs_latency": 0.25})
    shown = httpx.get(control)

    assert changed.status_code == 200
    assert shown.json() == {"timing": {"iqs_latency": 0.25, "stream_seconds": 0.0}}
    started = time.perf_counter()
    search_iqs(emulator)
    assert time.perf_counter() - started >= FLOOR * 0.25


def test_a_field_left_out_keeps_its_value(emulator: EmulatorHandle) -> None:
    control = f"{emulator.url}/_emulator/timing"
    httpx.post(control, json={"iqs_latency": 1, "stream_seconds": 15})

    answer = httpx.post(control, json={"stream_seconds": 2})

    assert answer.json() == {"timing": {"iqs_latency": 1, "stream_seconds": 2}}
    assert emulator.state.timing == Timing(iqs_latency=1, stream_seconds=2)


@pytest.mark.parametrize(
    "payload",
    [{"iqs_latency": -1}, {"stream_seconds": 601}, {"iqs_latency": "1"}, {"pace": 1}, [1], None],
)
def test_the_control_api_refuses_bad_timing(emulator: EmulatorHandle, payload: object) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/timing", content=json.dumps(payload))

    assert answer.status_code == 400
    assert "bad timing request" in answer.json()["error"]
    assert emulator.state.timing == Timing()


def test_delete_and_reset_restore_the_timing_it_started_with(emulator: EmulatorHandle) -> None:
    emulator.set_timing(iqs_latency=3, stream_seconds=4)

    answer = httpx.delete(f"{emulator.url}/_emulator/timing")

    assert answer.json() == {"timing": {"iqs_latency": 0.0, "stream_seconds": 0.0}}
    emulator.set_timing(stream_seconds=4)
    emulator.reset()
    assert emulator.state.timing == Timing()


# --- the command line and stopping ----------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--iqs-latency", "--stream-seconds"])
@pytest.mark.parametrize("value", ["-1", "601", "soon"])
def test_the_command_line_refuses_bad_seconds(flag: str, value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([flag, value])

    assert exit_.value.code == 2


def test_a_bad_environment_value_fails_as_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_STREAM_SECONDS", "fifteen")

    with pytest.raises(SystemExit) as exit_:
        main([])

    assert exit_.value.code == 2


def test_stopping_wakes_the_requests_still_waiting() -> None:
    handle = start_emulator(port=0, timing=Timing(iqs_latency=600))
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append(search_iqs(handle).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    time.sleep(0.2)  # let the request reach its wait
    handle.stop()
    asker.join(60)  # far below the 600 s it would otherwise wait

    assert not asker.is_alive()
    assert outcome
