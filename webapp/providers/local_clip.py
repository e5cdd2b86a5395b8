"""A CLIP-family model on this machine's CPU, through ONNX Runtime. No Django, no network.

Why ONNX and not open_clip: open_clip_torch requires torchvision, and PyPI's
torchvision does not load beside the CPU build of torch this machine installs
(the only torch with torchvision that does is a CUDA build of several GB).
ONNX Runtime's CPU wheel is ~70 MB, has no such coupling, and runs the same
exported encoders. Torch is not needed at all: ``pip install -e '.[clip]'``
adds onnxruntime and tokenizers.

``LOCAL_CLIP_MODEL`` is a folder in the layout of Immich's CLIP exports (for
example an ``immich-app/ViT-B-32__openai`` folder copied onto this machine),
which open_clip's ONNX export also produces:

    config.json                     {"embed_dim": 512, "text_cfg": {"context_length": 77}}
    visual/model.onnx               input "image": float32 (N, 3, H, W) -> (N, embed_dim)
    visual/preprocess_cfg.json      {"size": [224, 224], "mean": [...], "std": [...],
                                     "interpolation": "bicubic", "resize_mode": "shortest"}
    textual/model.onnx              input "text": int32/int64 (N, context_length) -> (N, embed_dim)
                                    (or "input_ids" + "attention_mask", as multilingual CLIPs)
    textual/tokenizer.json          a Hugging Face tokenizers file
    textual/tokenizer_config.json   {"pad_token": "<|endoftext|>"} (optional)

Nothing is downloaded: a missing file is an error naming it. Loading is lazy
(the first embed call), so a web process that never embeds never pays for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from webapp.providers.errors import ProviderError

_RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
_MAX_PIXELS = 50_000_000
BATCH = 16  # images per inference call: bounds memory at ~10 MB of input for 224 px


def model_error(message: str) -> ProviderError:
    return ProviderError("LocalModel", message)


class LocalClipBackend:
    """Embeds images and texts with an exported CLIP model in ``folder``."""

    def __init__(self, folder: str | Path, *, threads: int = 0) -> None:
        self.folder = Path(folder)
        self._threads = threads  # 0: ONNX Runtime's default (one per core)
        config = _read_json(self.folder / "config.json")
        dims = config.get("embed_dim")
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise model_error(
                f"{self.folder / 'config.json'} has no valid embed_dim; is LOCAL_CLIP_MODEL "
                "a CLIP export?"
            )
        self.dimensions = dims
        raw_text_cfg = config.get("text_cfg")
        text_cfg: dict[str, Any] = raw_text_cfg if isinstance(raw_text_cfg, dict) else {}
        self._context_length = int(text_cfg.get("context_length", 77))
        for required in (
            "visual/model.onnx",
            "visual/preprocess_cfg.json",
            "textual/model.onnx",
            "textual/tokenizer.json",
        ):
            if not (self.folder / required).is_file():
                raise model_error(
                    f"LOCAL_CLIP_MODEL ({self.folder}) has no {required}; it must hold a CLIP "
                    "export in the layout described in the README."
                )
        self.name = f"local/{self.folder.name}/{self._fingerprint()}"
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def __repr__(self) -> str:
        return f"LocalClipBackend(folder={str(self.folder)!r}, dimensions={self.dimensions})"

    def _fingerprint(self) -> str:
        """A short hash of the weights' size, head and tail: new weights in the same folder
        get a new name, so vectors of the old ones are never mixed with the new."""
        digest = hashlib.sha256()
        for part in ("visual/model.onnx", "textual/model.onnx"):
            path = self.folder / part
            size = path.stat().st_size
            digest.update(str(size).encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, size - (1 << 20)))
                digest.update(handle.read(1 << 20))
        return digest.hexdigest()[:12]

    # --- the public interface ---------------------------------------------------------

    def embed_images(self, images: list[bytes]) -> list[list[float]]:
        if not images:
            return []
        loaded = self._load()
        pixels = np.stack([loaded.preprocess(data) for data in images])
        vectors = [loaded.run_visual(pixels[i : i + BATCH]) for i in range(0, len(pixels), BATCH)]
        return _unit_rows(np.concatenate(vectors), self.dimensions)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        if any(not text.strip() for text in texts):
            raise ValueError("texts to embed must not be blank")
        if not texts:
            return []
        loaded = self._load()
        return _unit_rows(loaded.run_textual(texts), self.dimensions)

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = _Loaded(self.folder, self._context_length, self._threads)
            return self._loaded


class _Loaded:
    """The two ONNX sessions, the tokenizer and the preprocessing, ready to run."""

    def __init__(self, folder: Path, context_length: int, threads: int) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise model_error(
                "Local CLIP models need ONNX Runtime and tokenizers: pip install -e '.[clip]'."
            ) from exc
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        try:
            self.visual = ort.InferenceSession(
                str(folder / "visual/model.onnx"), options, providers=providers
            )
            self.textual = ort.InferenceSession(
                str(folder / "textual/model.onnx"), options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise model_error(f"ONNX Runtime could not load the model in {folder}: {exc}") from exc
        self._visual_input = self.visual.get_inputs()[0]
        self._visual_batch = _fixed_batch(self._visual_input.shape)
        text_inputs = {i.name: i for i in self.textual.get_inputs()}
        self._text_names = list(text_inputs)
        first = self.textual.get_inputs()[0]
        self._text_dtype = np.int64 if "int64" in first.type else np.int32
        self._text_batch = _fixed_batch(first.shape)
        preprocess = _read_json(folder / "visual/preprocess_cfg.json")
        size = preprocess.get("size", 224)
        self.size = int(size[0] if isinstance(size, list) else size)
        self.mean = np.asarray(preprocess.get("mean", [0.5, 0.5, 0.5]), np.float32)
        self.std = np.asarray(preprocess.get("std", [0.5, 0.5, 0.5]), np.float32)
        self.resample = _RESAMPLING.get(str(preprocess.get("interpolation", "bicubic")))
        self.resize_mode = str(preprocess.get("resize_mode", "shortest"))
        if self.resample is None or self.resize_mode not in ("shortest", "squash"):
            raise model_error(f"{folder}/visual/preprocess_cfg.json asks for an unknown resize.")
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "textual/tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise model_error(f"The tokenizer in {folder} could not be read: {exc}") from exc
        pad_token = _read_json(folder / "textual/tokenizer_config.json", missing_ok=True).get(
            "pad_token", "<|endoftext|>"
        )
        pad_id = self.tokenizer.token_to_id(str(pad_token))
        self.tokenizer.enable_padding(
            length=context_length, pad_id=pad_id or 0, pad_token=str(pad_token)
        )
        self.tokenizer.enable_truncation(max_length=context_length)

    # --- images -----------------------------------------------------------------------

    def preprocess(self, data: bytes) -> npt.NDArray[np.float32]:
        """Decode (safely), resize and crop as the model was trained, normalise: (3, H, W)."""
        try:
            with Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > _MAX_PIXELS:
                    raise model_error("An image has too many pixels to embed.")
                opened.draft("RGB", (self.size * 2, self.size * 2))
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except ProviderError:
            raise
        except Exception as exc:  # Pillow raises many types for a damaged file
            raise ProviderError("InvalidImage", "An image could not be read to embed it.") from exc
        if self.resize_mode == "squash":
            image = image.resize((self.size, self.size), self.resample)
        else:  # shortest side to size, then the centre square
            scale = self.size / min(image.size)
            width = max(self.size, round(image.width * scale))
            height = max(self.size, round(image.height * scale))
            image = image.resize((width, height), self.resample)
            left, top = (width - self.size) // 2, (height - self.size) // 2
            image = image.crop((left, top, left + self.size, top + self.size))
        array = np.asarray(image, dtype=np.float32) / 255.0
        return ((array - self.mean) / self.std).transpose(2, 0, 1).astype(np.float32)

    def run_visual(self, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return self._run(self.visual, {self._visual_input.name: pixels}, self._visual_batch)

    # --- texts ------------------------------------------------------------------------

    def run_textual(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=self._text_dtype)
        feeds: dict[str, npt.NDArray[Any]] = {}
        for name in self._text_names:
            if name == "attention_mask":
                feeds[name] = np.asarray([e.attention_mask for e in encodings], self._text_dtype)
            else:
                feeds[name] = ids
        return self._run(self.textual, feeds, self._text_batch)

    # --- both -------------------------------------------------------------------------

    @staticmethod
    def _run(
        session: Any, feeds: dict[str, npt.NDArray[Any]], fixed_batch: int | None
    ) -> npt.NDArray[np.float32]:
        """Run in one call, or row by row when the export fixed its batch size at 1."""
        count = len(next(iter(feeds.values())))
        step = fixed_batch or count
        outputs = []
        for start in range(0, count, step):
            part = {name: value[start : start + step] for name, value in feeds.items()}
            try:
                outputs.append(np.asarray(session.run(None, part)[0], dtype=np.float32))
            except Exception as exc:  # onnxruntime's own error types
                raise model_error(f"The local model failed to run: {exc}") from exc
        return np.concatenate(outputs)


def _fixed_batch(shape: list[Any]) -> int | None:
    first = shape[0] if shape else None
    return first if isinstance(first, int) and first > 0 else None


def _unit_rows(matrix: npt.NDArray[np.float32], dims: int) -> list[list[float]]:
    matrix = matrix.reshape(len(matrix), -1)
    if matrix.shape[1] != dims:
        raise model_error(f"The local model gave vectors of {matrix.shape[1]} values, not {dims}.")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise model_error("The local model gave an empty or non-finite vector.")
    rows: list[list[float]] = (matrix / norms).astype(np.float32).tolist()
    return rows


def _read_json(path: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise model_error(
            f"{path} is missing; LOCAL_CLIP_MODEL must point at a CLIP export folder."
        ) from None
    except (OSError, ValueError) as exc:
        raise model_error(f"{path} could not be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise model_error(f"{path} should hold a JSON object.")
    return data
