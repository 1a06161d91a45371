"""Write a benchmark's table into a Markdown file between its markers, keeping the hand-written rest."""

from pathlib import Path


def publish(lines: list[str], path, name: str, write: bool, title: str = "Speed benchmarks") -> None:
    """Print a benchmark's lines and, when `write` (not a --quick run), put them in their block of `path`."""
    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        replace_block(Path(path), name, text, title)


def replace_block(path: Path, name: str, block: str, title: str) -> None:
    """Put `block` between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `path` (appended when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n\n{block.strip()}\n\n{end}"
    text = path.read_text() if path.exists() else f"# {title}\n\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
