"""Thumbnail throughput: the app's pipeline against two plain-Pillow baselines.

Twenty photo-like JPEGs (1.2 to 3 MP, fixed seed) are made in a temporary folder.
Each variant turns the same twenty files into ~320 px JPEGs on disk:

* pipeline: what a worker does. Fetch each file over HTTP from a local server
  (allowlisted, since it is on 127.0.0.1) with `fetch_url`, `make_thumbnail`,
  write the file; 8 threads share one `make_fetch_client()`. Pillow releases
  the GIL while decoding, so threads use every core.
* plain Pillow loop: one thread reads each file from disk, `im.thumbnail`, save.
* full decode: one thread, `im.load()` at full size, resize, save; once with
  Pillow's plain resize, and for reference once with reducing_gap=2.0 (a
  cheap box reduction first), the fastest full-decode variant.

Each total is the median of `samples` repetitions.
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFilter

from webapp.imaging.safe_fetch import fetch_url, make_fetch_client
from webapp.imaging.thumbnails import fit_within, make_thumbnail

IMAGES = 20
SEED = 20240611
MAX_SIDE = 320
WORKERS = 8
SIZES = [(1280, 960), (1600, 1200), (1920, 1080), (2000, 1500), (1440, 1080), (1800, 1200)]


# --- test images ------------------------------------------------------------


def make_photo(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Gradients + shapes + blur + grain: compresses like a photograph, not like noise."""
    width, height = size
    channels = [
        Image.linear_gradient("L").rotate(rng.uniform(0, 360)).resize(size) for _ in range(3)
    ]
    image = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(20, width // 3), rng.randrange(20, height // 3)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(3))
    grain = Image.effect_noise(size, 18).convert("RGB")
    return Image.blend(image, grain, 0.12)


def write_photos(folder: Path) -> list[Path]:
    rng = random.Random(SEED)
    paths = []
    for index in range(IMAGES):
        path = folder / f"photo-{index:02d}.jpg"
        make_photo(SIZES[index % len(SIZES)], rng).save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


# --- the three variants -----------------------------------------------------


def pipeline(urls: list[str], out: Path, allowlist: frozenset[tuple[str, int]]) -> None:
    with make_fetch_client() as client, ThreadPoolExecutor(WORKERS) as pool:
        jobs = [
            pool.submit(_fetch_and_thumbnail, url, out / f"{index}.jpg", client, allowlist)
            for index, url in enumerate(urls)
        ]
        for job in jobs:
            job.result()  # re-raises a failure instead of timing a broken run


def _fetch_and_thumbnail(
    url: str, target: Path, client: httpx.Client, allowlist: frozenset[tuple[str, int]]
) -> None:
    fetched = fetch_url(
        url, max_bytes=20 * 1024 * 1024, timeout=30, allowlist=allowlist, client=client
    )
    target.write_bytes(make_thumbnail(fetched.content, max_side=MAX_SIDE).data)


def plain_loop(paths: list[Path], out: Path) -> None:
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            image.save(out / f"{index}.jpg", "JPEG")


def full_decode(paths: list[Path], out: Path, *, reducing_gap: float | None = None) -> None:
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image.load()
            # Pillow's default filter (BICUBIC), the one make_thumbnail uses too.
            small = image.resize(fit_within(image.size, MAX_SIDE), reducing_gap=reducing_gap)
            small.save(out / f"{index}.jpg", "JPEG")


# --- plumbing ---------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real image host would
    # Headers and body go out in separate writes; with Nagle on, the body
    # waits for the client's delayed ACK (40 ms on Linux) now and then. Real
    # image hosts (nginx, CDNs) set TCP_NODELAY, so this one does too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(folder: str, port_out: Connection) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=folder))
    port_out.send(httpd.server_address[1])
    httpd.serve_forever()


@contextmanager
def serving(folder: Path) -> Iterator[int]:
    """The image host runs in its own process, as a remote host would.

    In-process, its Python request handling would take the GIL from the
    pipeline's threads; it still shares this machine's cores, which is the
    pessimistic side of the comparison.
    """
    receive, send = multiprocessing.get_context("spawn").Pipe(duplex=False)
    host = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(str(folder), send), daemon=True
    )
    host.start()
    try:
        if not receive.poll(30):
            raise RuntimeError("the benchmark's image host did not start")
        yield int(receive.recv())
    finally:
        host.terminate()
        host.join()


def timed(work: Callable[[Path], None], scratch: Path, name: str) -> float:
    out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    started = time.perf_counter()
    work(out)
    elapsed = time.perf_counter() - started
    _check_outputs(out)
    return elapsed


def _check_outputs(out: Path) -> None:
    """All variants must make the same thing: IMAGES JPEGs about MAX_SIDE wide."""
    files = sorted(out.iterdir())
    assert len(files) == IMAGES, f"{out} holds {len(files)} thumbnails"
    for file in files:
        with Image.open(file) as image:
            assert image.format == "JPEG"
            assert MAX_SIDE * 0.9 <= max(image.size) <= MAX_SIDE, (file, image.size)


def run(samples: int = 5) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="loupe-bench-") as tmp:
        scratch = Path(tmp)
        source = scratch / "source"
        source.mkdir()
        paths = write_photos(source)
        megapixels = sum(w * h for w, h in (Image.open(p).size for p in paths)) / 1e6
        with serving(source) as port:
            urls = [f"http://127.0.0.1:{port}/{path.name}" for path in paths]
            allowlist = frozenset({("127.0.0.1", port)})
            variants: dict[str, Callable[[Path], None]] = {
                "pipeline": partial(pipeline, urls, allowlist=allowlist),
                "plain": partial(plain_loop, paths),
                "full": partial(full_decode, paths),
                "full_gap": partial(full_decode, paths, reducing_gap=2.0),
            }
            timings: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(samples):  # interleaved, so drift hits every variant alike
                for name, work in variants.items():
                    timings[name].append(timed(work, scratch, name))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return _rows(medians, megapixels, samples)


def _rows(medians: dict[str, float], megapixels: float, samples: int) -> list[tuple[str, str]]:
    def total(name: str) -> str:
        seconds = medians[name]
        return f"{seconds * 1000:.0f} ms ({seconds * 1000 / IMAGES:.1f} ms/image)"

    return [
        ("images", f"{IMAGES} JPEGs, {megapixels:.1f} MP in all, median of {samples} runs"),
        (f"pipeline (HTTP fetch + thumbnail + write, {WORKERS} threads)", total("pipeline")),
        ("plain Pillow loop (open, thumbnail, save; 1 thread)", total("plain")),
        ("full decode without draft (load, resize, save; 1 thread)", total("full")),
        ("plain / pipeline (target >= 1)", f"{medians['plain'] / medians['pipeline']:.2f}x"),
        ("full decode / pipeline (target >= 3)", f"{medians['full'] / medians['pipeline']:.2f}x"),
        ("for reference: full decode + resize(reducing_gap=2.0)", total("full_gap")),
        ("that / pipeline", f"{medians['full_gap'] / medians['pipeline']:.2f}x"),
    ]


if __name__ == "__main__":
    for label, value in run():
        print(f"- {label}: {value}", flush=True)
