"""Citations a reader of the repository can follow.

Tesla facts are cited as "§N.N", a section of docs/tesla-api-notes.md, which names Tesla's
public page for each fact. A citation of a document outside the repository, or of a section
the notes do not have, is a dead end for a reader.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTES = "docs/tesla-api-notes.md"

# The old citation forms: the word "spec" followed by a section number (or "section N", or
# "§N"), and any path to the protocol file that lived outside the repository.
OUTSIDE = re.compile(
    r"\b[Ss]pec (?:sections? )?[1-9]\b|\b[Ss]pec ?§|shared/spe[c]\b|\bspec/[\w-]+\.md"
)
# "§4.2", "§2.1a", "§1.2-1.4", "§6": the section numbers at both ends of a range.
CITATION = re.compile(r"§([1-9]\d*(?:\.\d+)?)[a-d]?(?:-([1-9]\d*(?:\.\d+)?))?")
HEADING = re.compile(r"^#{2,3} ([1-9]\d*(?:\.\d+)?) ", re.MULTILINE)


def _tracked_texts() -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    texts = {}
    for name in filter(None, names.split("\0")):
        if name.startswith("locale/") or "/locale/" in name:
            continue
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binaries cite nothing
    return texts


def test_no_tracked_file_cites_a_document_outside_the_repository():
    offenders = [
        f"{name}:{lineno}: {line.strip()}"
        for name, text in _tracked_texts().items()
        for lineno, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], "cite docs/tesla-api-notes.md as §N.N instead:\n" + "\n".join(offenders)


def test_every_cited_section_exists_in_the_tesla_api_notes():
    texts = _tracked_texts()
    assert NOTES in texts, f"{NOTES} must be tracked"
    sections = set(HEADING.findall(texts[NOTES]))
    missing = sorted(
        f"{name}: §{number}"
        for name, text in texts.items()
        for match in CITATION.finditer(text)
        for number in filter(None, match.groups())
        if number not in sections
    )
    assert missing == [], f"sections missing from {NOTES}:\n" + "\n".join(missing)


def test_every_section_of_the_notes_names_a_source_or_says_whose_word_it_is():
    text = (ROOT / NOTES).read_text(encoding="utf-8")
    bodies = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    labels = ("https://", "[Tesla", "[3P]", "UNKNOWN", "Our choice", "CONFLICT")
    unsourced = [body.splitlines()[0] for body in bodies if not any(x in body for x in labels)]
    assert unsourced == []
