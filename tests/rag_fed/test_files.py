"""Crash-safe small-file replacement: whole old or whole new content, secret modes from the start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rag_fed.files import create_text_once, replace_text

pytestmark = pytest.mark.unit


def test_replaces_the_content_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "pointer.json"
    target.write_text("old")
    replace_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pointer.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "catalogue.json"
    target.write_text("old complete content")

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        replace_text(target, "new content that never lands")
    assert target.read_text() == "old complete content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalogue.json"]


def test_mode_is_applied_to_the_new_file(tmp_path: Path) -> None:
    target = tmp_path / "private.key"
    replace_text(target, "secret", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_create_text_once_keeps_an_existing_file_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "secret.key"
    assert create_text_once(target, "first", mode=0o600) is True
    assert create_text_once(target, "second", mode=0o600) is False
    assert target.read_text() == "first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["secret.key"]
