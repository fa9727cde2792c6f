"""Every `newsclf ...` command line quoted in README.md and docs/*.md goes through the parser
(the parser only: nothing runs), so a doc cannot name a command or flag that does not exist.

Lines of fenced code blocks are parsed whole (continuation lines joined, comments and what
follows a pipe or redirection dropped). Inline `newsclf ...` spans in prose, which name a
command and its flags (`newsclf serve --api-key`) or are synopses (`[--port 8000]`), are
checked word by word: the command exists, and every flag it names."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from newsclf.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1"}
INLINE = re.compile(r"`((?:\.venv/bin/)?newsclf [^`\n]*)`")


def fenced_lines(text: str) -> list[str]:
    """Lines of the fenced code blocks that are not Python, continuation lines joined."""
    lines, block, language = [], False, ""
    for line in text.splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence:
            block, language = not block, fence.group(1)
            continue
        if block and language not in ("python", "py", "json", "yaml", "text"):
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + line.strip()
            else:
                lines.append(line.strip())
    return lines


def newsclf_args(line: str) -> list[str] | None:
    """The arguments after `newsclf` in a shell line (`.venv/bin/newsclf`, `python -m newsclf`,
    `accelerate launch ... -m newsclf`), up to the first shell operator; None for other lines."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return None
    for i, token in enumerate(tokens):
        env = all(re.match(r"\w+=", t) for t in tokens[:i])  # CUDA_VISIBLE_DEVICES=0 newsclf
        invoked = env or tokens[i - 1] == "-m" or "/" in token
        if token.split("/")[-1] == "newsclf" and invoked:
            rest = tokens[i + 1 :]
            cut = next((j for j, t in enumerate(rest) if t in SHELL_OPERATORS), len(rest))
            return rest[:cut]
    return None


def commands() -> list[tuple[str, str, bool]]:
    """(where, line, whole): every newsclf command line of the docs, and whether it is a whole
    command line (a code block's) or a span in prose."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        where = doc.relative_to(ROOT)
        found += [(f"{where}", line, True) for line in fenced_lines(text) if newsclf_args(line)]
        found += [(f"{where}", span, False) for span in INLINE.findall(text)]
    return found


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


COMMANDS = commands()


def test_the_docs_quote_commands():
    """The collector finds the README's commands (a collector that finds nothing checks nothing)."""
    readme = [line for where, line, _ in COMMANDS if where == "README.md"]
    assert any("newsclf train" in line for line in readme)
    assert any("newsclf predict" in line for line in readme)


@pytest.mark.parametrize("where,line,whole", COMMANDS, ids=[c[1][:60] for c in COMMANDS])
def test_doc_command_parses(where, line, whole, capsys):
    parser = build_parser()
    if not whole:
        check_flags(parser, where, line)
        return
    args = newsclf_args(line)
    try:
        parser.parse_args(args)
    except SystemExit as done:
        message = capsys.readouterr().err.strip()
        assert done.code == 0, f"{where}: `{line}` does not parse: {message}"


def check_flags(parser: argparse.ArgumentParser, where: str, line: str) -> None:
    """A command named in prose (`newsclf evaluate`, `newsclf serve --api-key`, a synopsis):
    the command exists (each of `plot/embed/report`), and so does each flag it names."""
    words = [w for w in re.split(r"[\s\[\]]+", line.split("newsclf", 1)[1]) if w]
    named = words[0] if words and re.fullmatch(r"[a-z][a-z/-]*", words[0]) else None
    parsers = [subparsers(parser).get(name) for name in named.split("/")] if named else [parser]
    assert None not in parsers, f"{where}: `{line}`: no command {named!r}"
    for flag in (w.split("=")[0].rstrip(",.:;)") for w in words if w.startswith("--")):
        missing = [p.prog for p in parsers if flag not in flags_of(p)]
        assert not missing, f"{where}: `{line}`: no flag {flag} in {missing}"


def test_a_wrong_flag_fails_the_check(capsys):
    """The check itself: a line naming a flag that does not exist fails."""
    with pytest.raises(AssertionError, match="does not parse"):
        test_doc_command_parses("x.md", "newsclf train --self-distill", True, capsys)
    with pytest.raises(AssertionError, match="no flag --self-distill"):
        test_doc_command_parses("x.md", "newsclf train [--self-distill]", False, capsys)
    with pytest.raises(AssertionError, match="no flag --json"):
        test_doc_command_parses("x.md", "newsclf plot/predict RUN --json", False, capsys)
    joined = fenced_lines("```bash\nnewsclf predict M \\\n  --json 'a b'\n```\n")
    assert newsclf_args(joined[0]) == ["predict", "M", "--json", "a b"]


def anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_links_between_docs_resolve(doc):
    """Every relative link of the docs names a file that exists, and an anchor it has."""
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name}: link to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{doc.name}: link to {target}: no such heading"
