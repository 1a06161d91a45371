"""Label names in Chinese in the report's figures: a CJK font installed after matplotlib built its font cache is
found without deleting the cache, and without one, a single line says which font to install instead of a warning per
character. The user's cache is never touched: a stale one is simulated by hiding the installed font from matplotlib's
font list for the test."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import textrnn.figures as figures
from textrnn.figures import plot_confusion

REPORT = {"confusion_matrix": [[3, 1], [0, 4]], "label_names": ["正面评价", "负面评价"], "num_examples": 8}


def cjk_font_files() -> set[str]:
    """The CJK font files matplotlib knows, and those on the system it may not know yet: this machine's own cache
    may be stale already (the font installed after matplotlib first ran), the very case under test."""
    from matplotlib import font_manager

    known = {font.fname for font in font_manager.fontManager.ttflist if "WenQuanYi" in font.name or "CJK" in font.name}
    on_disk = {path for path in font_manager.findSystemFonts() if re.search(r"wqy|cjk", Path(path).name, re.I)}
    return known | on_disk


@pytest.fixture
def stale_font_cache(monkeypatch):
    """matplotlib's font list as it was before the CJK font was installed, and a fresh process's font search."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    hidden = cjk_font_files()
    if not hidden:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")
    monkeypatch.setattr(figures, "FONTS", figures.FontSearch())
    listed = manager.ttflist
    manager.ttflist = [font for font in listed if font.fname not in hidden]
    manager._findfont_cached.cache_clear()
    yield hidden
    manager.ttflist = listed
    manager._findfont_cached.cache_clear()


def draw(path):
    """plot_confusion, with every warning it lets through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_confusion(REPORT, path, "测试")
    return [str(warning.message) for warning in caught]


def dark_pixels(path) -> int:
    import matplotlib.image

    image = matplotlib.image.imread(path)
    return int((image[..., :3].mean(axis=2) < 0.5).sum())


def test_a_cjk_font_installed_after_the_font_cache_was_built_is_found(stale_font_cache, tmp_path, capsys):
    from matplotlib import font_manager

    assert draw(tmp_path / "found.png") == []  # no 'Glyph ... missing' warnings
    assert capsys.readouterr().err == ""
    assert stale_font_cache <= {font.fname for font in font_manager.fontManager.ttflist}  # added once found
    # drawn as the installed font draws it, not as boxes
    font_manager.fontManager.ttflist = [font for font in font_manager.fontManager.ttflist
                                        if font.fname not in stale_font_cache]
    font_manager.fontManager._findfont_cached.cache_clear()
    figures.FONTS.searched = figures.FONTS.warned = True  # no search this time: the boxes are drawn
    draw(tmp_path / "boxes.png")
    assert dark_pixels(tmp_path / "found.png") != dark_pixels(tmp_path / "boxes.png")


def test_without_a_cjk_font_one_line_says_which_to_install(stale_font_cache, tmp_path, capsys, monkeypatch):
    from matplotlib import font_manager

    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: [])  # none installed since either
    assert not any("missing from font" in message for message in draw(tmp_path / "a.png"))
    assert not any("missing from font" in message for message in draw(tmp_path / "b.png"))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1  # one line for the process, not one per character or per figure
    assert lines[0].startswith("warning: figures: no installed font has the characters")
    assert "apt-get install fonts-wqy-microhei" in lines[0] and "fonts-noto-cjk" in lines[0]


def test_other_warnings_of_a_figure_still_reach_the_user(tmp_path, monkeypatch):
    real = figures.plot_confusion.__wrapped__

    def warning_plot(report, path, title):
        warnings.warn("something else", RuntimeWarning)
        return real(report, path, title)

    wrapped = figures.with_fonts(warning_plot)
    with pytest.warns(RuntimeWarning, match="something else"):
        wrapped({"confusion_matrix": np.eye(2, dtype=int).tolist(), "label_names": ["a", "b"], "num_examples": 2},
                tmp_path / "x.png", "t")
