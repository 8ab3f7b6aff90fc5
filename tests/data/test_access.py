"""resolve_data_folder: nothing outside the data root can be opened."""

from __future__ import annotations

import os

import pytest

from glaucoma_core.data.access import UserFacingError, resolve_data_folder
from glaucoma_core.errors import UserError


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    (root / "acrima" / "normal").mkdir(parents=True)
    (root / "notes.txt").parent.mkdir(exist_ok=True)
    (root / "notes.txt").write_text("x")
    outside = tmp_path / "secret"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "inner-link").symlink_to(root / "acrima")
    return root, outside


def test_inside_root_relative_absolute_and_internal_symlink(tree):
    root, _ = tree
    real_root = root.resolve()
    assert resolve_data_folder("acrima", root) == real_root / "acrima"
    assert resolve_data_folder("acrima/normal/", root) == real_root / "acrima" / "normal"
    assert resolve_data_folder(str(root / "acrima"), root) == real_root / "acrima"
    assert resolve_data_folder("", root) == real_root
    assert resolve_data_folder("inner-link", root) == real_root / "acrima"


@pytest.mark.parametrize("candidate", ["..", "../secret", "acrima/../../secret", "acrima/.."])
def test_dot_dot_refused(tree, candidate):
    root, _ = tree
    with pytest.raises(UserFacingError, match=r"'\.\.'"):
        resolve_data_folder(candidate, root)


def test_absolute_path_outside_refused(tree):
    root, outside = tree
    for candidate in (str(outside), "/", "/etc"):
        with pytest.raises(UserFacingError, match="outside the allowed data root"):
            resolve_data_folder(candidate, root)


def test_symlink_escaping_refused(tree):
    root, _ = tree
    with pytest.raises(UserFacingError, match="outside"):
        resolve_data_folder("escape", root)
    with pytest.raises(UserFacingError, match="outside"):
        resolve_data_folder(str(root / "escape"), root)


def test_environment_variable_is_the_default_root(tree, monkeypatch):
    root, outside = tree
    monkeypatch.setenv("GLAUCOMA_DATA_ROOT", str(root))
    assert resolve_data_folder("acrima") == root.resolve() / "acrima"
    with pytest.raises(UserFacingError):
        resolve_data_folder(str(outside))


def test_without_root_any_existing_folder(tree, monkeypatch):
    _, outside = tree
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    assert resolve_data_folder(outside) == outside.resolve()


@pytest.mark.parametrize("candidate, words", [("missing", "no such folder"), ("notes.txt", "not a folder"),
                                              ("acr\x00ima", "NUL")])
def test_missing_or_not_a_folder(tree, candidate, words):
    root, _ = tree
    with pytest.raises(UserFacingError, match=words) as caught:
        resolve_data_folder(candidate, root)
    assert isinstance(caught.value, UserError)  # the CLI prints it without a traceback


def test_scan_confined_to_allowed_root_reads_nothing_outside(tmp_path):
    from glaucoma_core.data.index import scan_dataset
    from tests.data.synthetic import make_flat_dataset, write_image

    root = make_flat_dataset(tmp_path / "data" / "set", 2, 2)
    secret = write_image(tmp_path / "secret" / "private.png", 99)
    (root / "normal" / "link.png").symlink_to(secret)
    (root / "abnormal" / "linked-folder").symlink_to(secret.parent)
    index = scan_dataset(root, use_cache=False, allowed_root=tmp_path / "data").set_index("relpath")
    outside = index[index["problem"].str.contains("outside the allowed data root")]
    assert sorted(outside.index) == ["abnormal/linked-folder/private.png", "normal/link.png"]
    assert (outside["sha256"] == "").all()  # never read
    assert (index.drop(outside.index)["problem"] == "").all()
    unconfined = scan_dataset(root, use_cache=False)
    assert (unconfined["problem"] == "").all() and len(unconfined) == 6


def test_a_folder_name_that_is_not_utf8_is_shown_escaped(tmp_path):
    name = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    with pytest.raises(UserFacingError, match=r"caf\\xe9: no such folder") as caught:
        resolve_data_folder(name)
    str(caught.value).encode("utf-8")  # printable by the CLI and Streamlit
