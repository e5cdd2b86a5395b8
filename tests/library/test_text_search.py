from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.library.conftest import import_paths, write_image
from webapp.library.models import LibraryImage
from webapp.library.selectors import LibraryFilters, library_search_text

# title, description, zh translation, folder, size
MADE_UP = {
    "cat_sofa": (
        "Cat on a sofa",
        "A grey cat asleep on a red sofa.",
        "一只灰猫睡在红色沙发上",
        "pets",
        (300, 200),
    ),
    "kitten": ("Kitten", "A small kitten playing with wool.", "小猫在玩毛线", "pets", (200, 300)),
    "dog_beach": (
        "Dog on the beach",
        "A dog running on the sand by the sea.",
        "海滩上奔跑的狗",
        "pets",
        (400, 400),
    ),
    "rocket": (
        "Rocket launch",
        "A rocket lifting off at night.",
        "夜间发射的火箭",
        "space",
        (300, 200),
    ),
    "sofa_ad": (
        "Red sofa",
        "A red sofa in a showroom.",
        "展厅里的红色沙发",
        "furniture",
        (300, 200),
    ),
    "coffee": ("Coffee cup", "A cup of coffee on a table.", "桌上的一杯咖啡", "food", (300, 200)),
    "catalogue": (
        "Catalogue cover",
        "The cover of a furniture catalogue.",
        "家具目录封面",
        "furniture",
        (300, 200),
    ),
}


def _library(tmp_path: Path) -> dict[str, int]:
    root = tmp_path / "made-up"
    for index, (name, (title, description, zh, folder, size)) in enumerate(MADE_UP.items()):
        write_image(root / folder / f"{name}.png", (index * 30, 90, 160), size)
        (root / folder / f"{name}.txt").write_text(f"{title}\n{description}\nzh={zh}\n", "utf-8")
    import_paths(root)
    return {Path(i.file_name).stem: i.pk for i in LibraryImage.objects.all()}


def _top(query: str, **filters: object) -> list[int]:
    results = library_search_text(query=query, limit=10, filters=LibraryFilters(**filters))  # type: ignore[arg-type]
    return [hit.image_id for hit in results.hits]


def test_english_words_rank_the_title_match_first(db: None, tmp_path: Path) -> None:
    ids = _library(tmp_path)
    assert _top("cat")[:1] == [ids["cat_sofa"]]
    assert _top("cats")[:1] == [ids["cat_sofa"]]  # the plural finds the singular
    assert _top("rocket") == [ids["rocket"]]
    assert _top("red sofa")[:2] == [ids["sofa_ad"], ids["cat_sofa"]]
    assert ids["catalogue"] not in _top("cat")  # a word, not a prefix


def test_chinese_words_find_translations(db: None, tmp_path: Path) -> None:
    ids = _library(tmp_path)
    assert _top("火箭") == [ids["rocket"]]
    assert _top("咖啡") == [ids["coffee"]]
    assert set(_top("沙发")) == {ids["sofa_ad"], ids["cat_sofa"]}
    assert _top("海滩 狗")[:1] == [ids["dog_beach"]]
    # jieba keeps 小猫 and 灰猫 as whole words; the character terms still find both.
    assert set(_top("猫")) == {ids["kitten"], ids["cat_sofa"]}
    assert set(_top("小猫")[:1]) == {ids["kitten"]}  # the whole word ranks first


def test_tags_and_file_names_are_searched(db: None, tmp_path: Path) -> None:
    ids = _library(tmp_path)
    assert set(_top("furniture")) == {ids["sofa_ad"], ids["catalogue"]}
    assert _top("dog_beach")[:1] == [ids["dog_beach"]]


def test_scores_are_between_0_and_1_and_the_irrelevant_tail_is_cut(
    db: None, tmp_path: Path
) -> None:
    _library(tmp_path)
    results = library_search_text(query="grey cat sofa", limit=10)
    scores = [hit.score for hit in results.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    # "Cat on a sofa" matches all three words; a catalogue or a dog matches none.
    assert results.hits[0].title == "Cat on a sofa"
    assert {hit.title for hit in results.hits} <= {"Cat on a sofa", "Red sofa", "Kitten"}
    assert library_search_text(query="zebra", limit=10).hits == []


def test_filters_and_paging(db: None, tmp_path: Path) -> None:
    ids = _library(tmp_path)
    assert _top("pets", orientation="portrait") == [ids["kitten"]]
    assert _top("pets", orientation="square") == [ids["dog_beach"]]
    assert _top("pets", min_side=300) == [ids["dog_beach"]]
    assert _top("pets", taken_after=date(2020, 1, 1)) == []  # no EXIF dates here
    first = library_search_text(query="pets", limit=2, offset=0)
    second = library_search_text(query="pets", limit=2, offset=2)
    assert (first.total, len(first.hits), first.has_next) == (3, 2, True)
    assert (len(second.hits), second.has_next) == (1, False)
    assert {h.image_id for h in first.hits + second.hits} == {
        ids["cat_sofa"],
        ids["kitten"],
        ids["dog_beach"],
    }


def test_a_later_import_is_searchable_at_once(db: None, tmp_path: Path) -> None:
    _library(tmp_path)
    assert _top("giraffe") == []
    write_image(tmp_path / "later" / "giraffe.png")
    import_paths(tmp_path / "later")
    assert len(_top("giraffe")) == 1
