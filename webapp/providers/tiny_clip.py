"""Build a tiny, randomly initialised CLIP export in the layout local_clip.py loads.

No weights can be downloaded here, so the tests and the bench make one of
these and load it through the real path (``LocalClipBackend``). It needs the
``onnx`` package (a dev dependency) only to write the graphs:

* visual: image (N, 3, S, S) -> Flatten -> MatMul(random) -> (N, dims): every
  pixel counts, so different pictures give different vectors and a picture
  and a slightly changed copy give close ones;
* textual: text ids (N, L) -> Gather(random table) -> ReduceMean over L ->
  (N, dims): the same words give the same vector, shared words close ones;
* tokenizer: a word-level Hugging Face tokenizer over ``vocabulary``.

``aligned`` pairs words with colours, to make a model in which text finds
images: the word's row of the text table is set to the visual vector of a
plain image of that colour, so "red" lands next to red pictures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

PAD = "<|endoftext|>"
UNKNOWN = "[UNK]"


def build_tiny_clip(
    folder: Path,
    *,
    dims: int = 32,
    image_size: int = 16,
    context_length: int = 8,
    vocabulary: tuple[str, ...] = ("cat", "dog", "red", "blue", "green", "photo", "of", "a"),
    aligned: dict[str, tuple[int, int, int]] | None = None,
    seed: int = 0,
) -> Path:
    """Write the model into ``folder`` (created) and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    rng = np.random.default_rng(seed)
    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
    std = np.array([0.26862954, 0.2613026, 0.2757771], np.float32)
    pixels = 3 * image_size * image_size
    projection = (rng.standard_normal((pixels, dims)) / np.sqrt(pixels)).astype(np.float32)
    words = [PAD, UNKNOWN, *vocabulary]
    table = rng.standard_normal((len(words), dims)).astype(np.float32)
    table[0] = 0.0  # padding adds nothing to the mean's direction
    for word, colour in (aligned or {}).items():
        plain = _normalised_plain(colour, image_size, mean, std)
        # Mean over context_length positions: scale so the word dominates its padding.
        table[words.index(word)] = (plain.reshape(-1) @ projection) * context_length

    (folder / "visual").mkdir(parents=True, exist_ok=True)
    (folder / "textual").mkdir(parents=True, exist_ok=True)
    visual = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "projection"], ["embedding"]),
        ],
        "tiny_clip_visual",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.FLOAT, ["batch", 3, image_size, image_size]
            )
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dims])],
        [numpy_helper.from_array(projection, "projection")],
    )
    textual = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "text"], ["rows"], axis=0),
            helper.make_node("ReduceMean", ["rows", "axes"], ["embedding"], keepdims=0),
        ],
        "tiny_clip_textual",
        [helper.make_tensor_value_info("text", TensorProto.INT32, ["batch", context_length])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dims])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    opset = [helper.make_opsetid("", 18)]
    for graph, path in ((visual, "visual/model.onnx"), (textual, "textual/model.onnx")):
        model = helper.make_model(graph, opset_imports=opset, ir_version=8)
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / path))

    tokenizer = Tokenizer(
        models.WordLevel({word: index for index, word in enumerate(words)}, unk_token=UNKNOWN)
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "textual/tokenizer.json"))
    _write(folder / "textual/tokenizer_config.json", {"pad_token": PAD})
    _write(
        folder / "visual/preprocess_cfg.json",
        {
            "size": [image_size, image_size],
            "mode": "RGB",
            "mean": mean.tolist(),
            "std": std.tolist(),
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    )
    _write(
        folder / "config.json", {"embed_dim": dims, "text_cfg": {"context_length": context_length}}
    )
    return folder


def _normalised_plain(
    colour: tuple[int, int, int],
    size: int,
    mean: npt.NDArray[np.float32],
    std: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """A plain image of ``colour`` as the visual model sees it: (3, size, size)."""
    rgb = np.asarray(colour, np.float32) / 255.0
    channel = (rgb - mean) / std
    return np.broadcast_to(channel[:, None, None], (3, size, size)).astype(np.float32)


def _write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
