"""The README's Python examples work as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _indented_block_after(text: str, marker: str) -> str:
    """The first indented code block after `marker`, de-indented."""
    rest = text[text.index(marker):]
    match = re.search(r"\n\n((?:(?:    .*)?\n)+)", rest)
    return "\n".join(line[4:] for line in match.group(1).splitlines())


def test_the_users_own_loop_reaches_every_digit(capsys):
    code = _indented_block_after(README.read_text(), "Or drive a search from your own loop")
    assert "search.ask()" in code and "search.tell(pop, scores)" in code
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    search = namespace["search"]
    assert len(search.elites()) == 10
    assert min(e.confidence for e in search.elites()) >= 0.9999
    assert "evaluations:" in capsys.readouterr().out
