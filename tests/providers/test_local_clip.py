"""The local CLIP backend, loading a tiny random model through the real path (ONNX Runtime).

No weights can be downloaded here: build_tiny_clip writes a randomly initialised
export in the same layout as a real one, and LocalClipBackend loads it from disk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.providers.embedding_helpers import encoded, plain_jpeg
from webapp.providers.errors import ProviderError
from webapp.providers.local_clip import BATCH, LocalClipBackend
from webapp.providers.tiny_clip import build_tiny_clip

RED, BLUE, GREEN = (220, 30, 30), (30, 60, 220), (30, 170, 50)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip"
    return build_tiny_clip(folder, aligned={"red": RED, "blue": BLUE})


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> LocalClipBackend:
    return LocalClipBackend(model_dir)


def copy_of(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


def test_it_reads_the_size_and_names_itself_by_folder_and_weights(
    backend: LocalClipBackend,
) -> None:
    assert backend.dimensions == 32
    prefix, folder, fingerprint = backend.name.split("/")
    assert (prefix, folder) == ("local", "tiny-clip")
    assert len(fingerprint) == 12


def test_new_weights_in_the_same_folder_get_a_new_name(model_dir: Path, tmp_path: Path) -> None:
    other = build_tiny_clip(tmp_path / "tiny-clip", seed=1)

    assert LocalClipBackend(other).name != LocalClipBackend(model_dir).name


def test_image_vectors_are_unit_length_and_deterministic(backend: LocalClipBackend) -> None:
    first = backend.embed_images([plain_jpeg(RED), plain_jpeg(BLUE)])

    assert [len(v) for v in first] == [32, 32]
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert backend.embed_images([plain_jpeg(RED)])[0] == pytest.approx(first[0], abs=1e-6)


def test_a_near_copy_is_near_and_another_picture_is_not(backend: LocalClipBackend) -> None:
    red, resized_png, blue = backend.embed_images(
        [plain_jpeg(RED), encoded(plain_jpeg(RED, (200, 150)), "PNG"), plain_jpeg(BLUE)]
    )

    assert float(np.dot(red, resized_png)) > 0.99
    assert float(np.dot(red, blue)) < 0.5


def test_more_images_than_a_batch_give_the_same_vectors_as_one_by_one(
    backend: LocalClipBackend,
) -> None:
    colours = [(n * 12 % 256, n * 37 % 256, n * 71 % 256) for n in range(BATCH + 4)]
    pictures = [plain_jpeg(colour) for colour in colours]

    together = backend.embed_images(pictures)
    alone = [backend.embed_images([picture])[0] for picture in pictures]

    assert np.allclose(together, alone, atol=1e-5)


def test_text_finds_the_image_it_was_aligned_with(backend: LocalClipBackend) -> None:
    red, blue = backend.embed_images([plain_jpeg(RED), plain_jpeg(BLUE)])
    text_red, text_blue, other = backend.embed_texts(["red", "a blue photo", "cat"])

    assert float(np.dot(text_red, red)) > float(np.dot(text_red, blue)) + 0.5
    assert float(np.dot(text_blue, blue)) > float(np.dot(text_blue, red)) + 0.5
    assert len(other) == 32


def test_texts_longer_than_the_context_are_truncated_not_refused(
    backend: LocalClipBackend,
) -> None:
    [vector] = backend.embed_texts(["red " * 100])

    assert len(vector) == 32


def test_blank_texts_are_refused(backend: LocalClipBackend) -> None:
    with pytest.raises(ValueError, match="blank"):
        backend.embed_texts([" "])


def test_an_unreadable_image_is_an_invalid_image(backend: LocalClipBackend) -> None:
    with pytest.raises(ProviderError) as caught:
        backend.embed_images([b"not a picture"])

    assert caught.value.code == "InvalidImage"


@pytest.mark.parametrize(
    "missing", ["visual/model.onnx", "textual/tokenizer.json", "visual/preprocess_cfg.json"]
)
def test_a_missing_file_is_named(model_dir: Path, tmp_path: Path, missing: str) -> None:
    folder = copy_of(model_dir, tmp_path)
    (folder / missing).unlink()

    with pytest.raises(ProviderError) as caught:
        LocalClipBackend(folder)

    assert missing in caught.value.message
    assert caught.value.code == "LocalModel"


def test_a_folder_that_is_not_a_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as caught:
        LocalClipBackend(tmp_path)

    assert "config.json is missing" in caught.value.message


def test_a_config_without_a_size_says_so(model_dir: Path, tmp_path: Path) -> None:
    folder = copy_of(model_dir, tmp_path)
    (folder / "config.json").write_text(json.dumps({"text_cfg": {}}))

    with pytest.raises(ProviderError) as caught:
        LocalClipBackend(folder)

    assert "no valid embed_dim" in caught.value.message


def test_damaged_weights_fail_with_a_sentence_on_first_use(model_dir: Path, tmp_path: Path) -> None:
    folder = copy_of(model_dir, tmp_path)
    (folder / "visual/model.onnx").write_bytes(b"\x00garbage")
    backend = LocalClipBackend(folder)  # lazy: nothing is loaded yet

    with pytest.raises(ProviderError) as caught:
        backend.embed_images([plain_jpeg(GREEN)])

    assert caught.value.message.startswith("ONNX Runtime could not load the model")


def test_a_model_whose_output_size_differs_from_its_config_is_refused(
    model_dir: Path, tmp_path: Path
) -> None:
    folder = copy_of(model_dir, tmp_path)
    (folder / "config.json").write_text(
        json.dumps({"embed_dim": 64, "text_cfg": {"context_length": 8}})
    )

    with pytest.raises(ProviderError) as caught:
        LocalClipBackend(folder).embed_texts(["red"])

    assert "vectors of 32 values, not 64" in caught.value.message
