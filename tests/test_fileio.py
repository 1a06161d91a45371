import os

import pytest

from textrnn import fileio
from textrnn.fileio import atomic_write, remove_temporaries


def test_a_write_that_fails_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = atomic_write(tmp_path / "model.safetensors", b"old weights")

    def disk_error(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", disk_error)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, b"new weights, half written")
    assert path.read_bytes() == b"old weights"
    assert os.listdir(tmp_path) == ["model.safetensors"]  # the temporary file is gone too


def test_temporary_files_of_killed_writes_are_removed_and_nothing_else(tmp_path):
    atomic_write(tmp_path / "config.json", b"{}")
    left_by_a_kill = tmp_path / ".training_state.safetensors.k2j4x8.tmp"
    left_by_a_kill.write_bytes(b"half")
    (tmp_path / "notes.tmp").write_text("the user's")
    assert remove_temporaries(tmp_path) == [left_by_a_kill]
    assert sorted(os.listdir(tmp_path)) == ["config.json", "notes.tmp"]
