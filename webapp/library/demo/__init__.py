"""The demo library: scikit-image's sample pictures with sidecars this project wrote.

scikit-image ships these files inside its wheel (skimage/data/), so the demo
needs no network. The sidecars here (``<folder>/<name>.txt``, English with a
``zh=`` translation) name the picture of the same name; the folders become tags.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SIDECARS = Path(__file__).parent


def skimage_data_folder() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def demo_images() -> dict[str, Path]:
    """Sidecar-relative name (``animals/chelsea``) → the sample picture it describes."""
    data = skimage_data_folder()
    found: dict[str, Path] = {}
    for sidecar in sorted(SIDECARS.rglob("*.txt")):
        key = sidecar.relative_to(SIDECARS).with_suffix("").as_posix()
        for extension in (".png", ".jpg"):
            picture = data / f"{sidecar.stem}{extension}"
            if picture.is_file():
                found[key] = picture
                break
    return found


def build_demo_folder(target: Path) -> int:
    """Lay the pictures out beside their sidecars under ``target``; return how many."""
    images = demo_images()
    for key, picture in images.items():
        destination = target / f"{key}{picture.suffix}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, destination)
        shutil.copyfile(SIDECARS / f"{key}.txt", destination.with_suffix(".txt"))
    return len(images)
