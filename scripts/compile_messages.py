"""Compile every gettext catalogue of the portal, without GNU gettext.

The `.po` files are the single source of translations: the project's own strings in
`locale/<lang>/LC_MESSAGES/django.po` (LOCALE_PATHS), each app's in `<app>/locale/...`.
`make messages` extracts new strings into them (`manage.py makemessages`, which needs GNU
gettext), then runs this script, which for each catalogue:

1. fills a string that has no translation yet with the translation the same English has in
   any catalogue of the project, obsolete entries included, so a string that moved from one
   app to another keeps its translation (the test still fails on what is left untranslated);
2. drops the obsolete entries (strings no longer in the code);
3. writes the `.mo` beside the `.po`, which is committed, so a fresh clone needs no gettext.

`python scripts/compile_messages.py --check` changes nothing and exits 1 when a `.mo` does not
match its `.po` (the test suite checks the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", "var", "sandbox", "staticfiles", "node_modules", ".git"}


def catalogues() -> list[Path]:
    return sorted(
        path
        for path in ROOT.glob("**/locale/*/LC_MESSAGES/django.po")
        if not SKIP.intersection(path.relative_to(ROOT).parts)
    )


def translated(entry: polib.POEntry) -> bool:
    if entry.fuzzy:
        return False
    if entry.msgid_plural:
        return bool(entry.msgstr_plural) and all(entry.msgstr_plural.values())
    return bool(entry.msgstr)


def compiled_matches(po: polib.POFile, mo_path: Path) -> bool:
    """Whether the .mo holds exactly the current translations of the .po."""
    if not mo_path.exists():
        return False

    def key(entry):
        plural = tuple(sorted(entry.msgstr_plural.items())) if entry.msgid_plural else ()
        return (entry.msgctxt, entry.msgid, entry.msgid_plural, entry.msgstr, plural)

    wanted = {key(e) for e in po if e.msgid and not e.obsolete and translated(e)}
    have = {key(e) for e in polib.mofile(str(mo_path)) if e.msgid}
    return wanted == have


def _memory(pos: list[polib.POFile]) -> dict[tuple, polib.POEntry]:
    memory: dict[tuple, polib.POEntry] = {}
    for po in pos:
        for entry in po:
            if entry.msgid and translated(entry):
                memory.setdefault((entry.msgctxt, entry.msgid, entry.msgid_plural), entry)
    return memory


def _header(po: polib.POFile, path: Path) -> None:
    """Headers a translation tool (Poedit, Weblate) takes as they are."""
    po.metadata_is_fuzzy = False
    po.header = "Fleet Portal translations. Edit the msgstr lines; see README, Translations."
    po.metadata["Project-Id-Version"] = "fleetportal"
    po.metadata["Language"] = path.parts[-3]
    po.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    po.metadata["Content-Transfer-Encoding"] = "8bit"
    if path.parts[-3] == "zh_Hans":
        po.metadata["Plural-Forms"] = "nplurals=1; plural=0;"
    for placeholder in ("PO-Revision-Date", "Last-Translator", "Language-Team"):
        if any(
            word in po.metadata.get(placeholder, "") for word in ("YEAR", "FULL NAME", "LANGUAGE")
        ):
            del po.metadata[placeholder]


def main(argv: list[str]) -> int:
    paths = catalogues()
    pos = [polib.pofile(str(path), wrapwidth=79) for path in paths]
    if "--check" in argv:
        stale = [
            p
            for p, po in zip(paths, pos, strict=True)
            if not compiled_matches(po, p.with_suffix(".mo"))
        ]
        for path in stale:
            print(f"not compiled: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    memory = _memory(pos)
    for path, po in zip(paths, pos, strict=True):
        for entry in po.obsolete_entries():
            po.remove(entry)
        for entry in po:
            if translated(entry):
                continue
            known = memory.get((entry.msgctxt, entry.msgid, entry.msgid_plural))
            if known is not None:  # better than msgmerge's fuzzy guess, if any
                entry.msgstr = known.msgstr
                entry.msgstr_plural = dict(known.msgstr_plural)
                if "fuzzy" in entry.flags:
                    entry.flags.remove("fuzzy")
                entry.previous_msgid = entry.previous_msgid_plural = None
        _header(po, path)
        po.save(str(path))
        po.save_as_mofile(str(path.with_suffix(".mo")))
        untranslated = [e.msgid for e in po if not translated(e)]
        for msgid in untranslated:
            print(f"untranslated in {path.relative_to(ROOT)}: {msgid!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
