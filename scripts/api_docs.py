#!/usr/bin/env python3
"""Writes docs/api/<header>.md for every public header in include/l2o/ (and an index),
from the headers themselves: the header's opening comment as the page's introduction, then
its declarations with their comments. The headers are the source; these pages are their
readable form, and `--check` (a test) fails when a page is out of date.

    python3 scripts/api_docs.py [--check]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include" / "l2o"
OUT = ROOT / "docs" / "api"
GENERATED = ["version.hpp", "build.hpp"]  # from cmake/*.hpp.in


def split_header(text):
    """(opening comment, body without include guards and includes)."""
    lines = text.splitlines()
    intro = []
    i = 0
    while i < len(lines) and lines[i].startswith("//"):
        intro.append(lines[i][2:].strip())
        i += 1
    body = []
    for line in lines[i:]:
        if line.startswith("#pragma once") or line.startswith("#include"):
            continue
        body.append(line)
    code = "\n".join(body).strip("\n")
    code = re.sub(r"\n{3,}", "\n\n", code)
    return " ".join(intro).strip(), code


def page(name, text, source):
    intro, code = split_header(text)
    return (f"# `l2o/{name}`\n\n{intro}\n\n"
            f"Source: [{source}](../../{source}). Include it alone or through `l2o/l2o.hpp`.\n\n"
            f"```cpp\n{code}\n```\n")


def pages():
    out = {}
    for h in sorted(INCLUDE.glob("*.hpp")):
        out[h.stem + ".md"] = page(h.name, h.read_text(), f"include/l2o/{h.name}")
    for g in GENERATED:
        src = ROOT / "cmake" / (g + ".in")
        out[pathlib.Path(g).stem + ".md"] = page(g, src.read_text(), f"cmake/{g}.in")
    index = ["# l2o API reference\n",
             "One page per public header, made from the headers by `scripts/api_docs.py`.",
             "`#include <l2o/l2o.hpp>` includes them all.\n"]
    for name in sorted(out):
        first = re.split(r"(?<! al)\. ", out[name].split("\n\n")[1])[0].rstrip(".")
        index.append(f"- [`l2o/{name[:-3]}.hpp`]({name}) — {first}.")
    out["README.md"] = "\n".join(index) + "\n"
    return out


def main():
    check = "--check" in sys.argv
    stale = []
    for name, text in pages().items():
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    known = set(pages())
    extra = [p.name for p in OUT.glob("*.md") if p.name not in known]
    if check and (stale or extra):
        print("docs/api is out of date (run python3 scripts/api_docs.py):",
              ", ".join(stale + extra))
        return 1
    if not check:
        for name in extra:
            (OUT / name).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
