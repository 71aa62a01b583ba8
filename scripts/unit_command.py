"""Print the command line a systemd unit of deploy/systemd/ runs, so CI starts exactly that.

    python3 scripts/unit_command.py deploy/systemd/fleetportal-web.service \
        --replace /opt/fleetportal/venv="$VENV" --replace 127.0.0.1:8000=127.0.0.1:"$PORT"

prints, NUL-separated (for bash `mapfile -d ''`), the unit's `Environment=` assignments and
then its `ExecStart=` words: `env -i … "${words[@]}"` runs the unit's process. Only what the
units use is understood (one ExecStart, double or single quotes, backslash escapes, the
specifiers %% %i %H); anything else stops with an error rather than a guess. Each
`--replace OLD=NEW` must match: a unit that no longer holds OLD fails CI instead of being
started with the wrong path.
Stdlib only: CI runs it before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

SPECIFIERS = {"%": "%"}


def service_entries(text: str) -> list[tuple[str, str]]:
    """(key, value) of the [Service] section, continuation lines joined."""
    entries: list[tuple[str, str]] = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            entries.append((key.strip(), value.strip()))
    return entries


def split_words(value: str, specifiers: dict[str, str]) -> list[str]:
    """systemd's word splitting: quotes group, backslash escapes, %x expands."""
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            i += 1
            if i == len(value):
                raise ValueError("a trailing backslash")
            word = (word or []) + [value[i]]
        elif char == "%":
            i += 1
            name = value[i : i + 1]
            if name not in specifiers:
                raise ValueError(f"the specifier %{name} is not supported here")
            word = (word or []) + [specifiers[name]]
        elif quote:
            if char == quote:
                quote = ""
            else:
                word.append(char)
        elif char in "\"'":
            quote = char
            word = word or []
        elif char.isspace():
            if word is not None:
                words.append("".join(word))
            word = None
        else:
            word = (word or []) + [char]
        i += 1
    if quote:
        raise ValueError("an unclosed quote")
    if word is not None:
        words.append("".join(word))
    return words


def unit_command(
    path: Path, *, instance: str, host: str, replacements: list[tuple[str, str]]
) -> list[str]:
    specifiers = dict(SPECIFIERS, i=instance, H=host)
    entries = service_entries(path.read_text())
    starts = [value for key, value in entries if key == "ExecStart"]
    if len(starts) != 1:
        raise ValueError(f"{path.name} must have exactly one ExecStart, not {len(starts)}")
    if starts[0][:1] in "-@+!:|":
        raise ValueError(f"{path.name}: ExecStart prefixes are not supported")
    words = []
    for key, value in entries:
        if key == "Environment":
            words += split_words(value, specifiers)
    words += split_words(starts[0], specifiers)
    for old, new in replacements:
        if not any(old in word for word in words):
            raise ValueError(f"{path.name} no longer contains {old!r}")
        words = [word.replace(old, new) for word in words]
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("unit", type=Path)
    parser.add_argument("--instance", default="", help="the value of %%i (template units)")
    parser.add_argument("--host", default=socket.gethostname(), help="the value of %%H")
    parser.add_argument("--replace", action="append", default=[], metavar="OLD=NEW")
    args = parser.parse_args()
    replacements = [tuple(item.split("=", 1)) for item in args.replace]
    try:
        words = unit_command(
            args.unit, instance=args.instance, host=args.host, replacements=replacements
        )
    except ValueError as exc:
        sys.exit(f"unit_command: {exc}")
    sys.stdout.write("".join(word + "\0" for word in words))


if __name__ == "__main__":
    main()
