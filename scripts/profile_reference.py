"""Print the shipped SNMP profiles (selection, measurements, tags, fields) as a Markdown table.

The profile table of docs/snmp.md is this output between its markers; a unit test fails
when the two drift apart. `--write` updates docs/snmp.md in place.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START, END = "<!-- profile-reference:start -->", "<!-- profile-reference:end -->"
DOC = "docs/snmp.md"


def _names(specs, kind: str) -> list[str]:
    seen: list[str] = []
    for spec in specs:
        name = getattr(spec, kind)
        if name and name not in seen and (kind == "tag" or spec.keep):
            seen.append(name)
    return seen


def reference() -> str:
    from probes.snmp import profiles as snmp_profiles

    profiles = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES])
    lines = ["| profile | selected by | measurement | tags | fields |", "| --- | --- | --- | --- | --- |"]
    for name in sorted(profiles, key=lambda n: (n != "system", n)):
        profile = profiles[name]
        selection = []
        if profile.match.classes:
            selection.append("class " + ", ".join(profile.match.classes))
        if profile.match.sysobjectid:
            selection.append("sysObjectID " + ", ".join(profile.match.sysobjectid))
        if profile.match.requires_oid:
            selection.append(f"if the agent has {profile.match.requires_oid}")
        if profile.match.replaces:
            selection.append("in place of " + ", ".join(f"`{other}`" for other in profile.match.replaces))
        parts = []
        if profile.scalars:
            fields = _names(profile.scalars, "field") + [d.field for d in profile.derived]
            parts.append((profile.measurement, _names(profile.scalars, "tag"), fields))
        rows: dict[str, tuple[list, list]] = {}
        for row in profile.scalar_rows:  # rows of one measurement share a line: their tags and fields merged
            tags, fields = rows.setdefault(row.measurement, ([], []))
            tags += [tag for tag in [*row.tags, *_names(row.scalars, "tag")] if tag not in tags]
            fields += [field for field in _names(row.scalars, "field") if field not in fields]
        parts += [(measurement, tags, fields) for measurement, (tags, fields) in rows.items()]
        for table in profile.tables:
            fields = _names(table.columns, "field") + [d.field for d in table.derived]
            # Rows merged by a tag carry only that tag (the per-row index and names are gone).
            tags = list(table.merge_by) or [table.index_tag] + _names(table.columns, "tag")
            parts.append((table.measurement, tags, fields))
        for index, (measurement, tags, fields) in enumerate(parts):
            first = index == 0
            lines.append(f"| {'`' + name + '`' if first else ''} | {'; '.join(selection) if first else ''} | "
                         f"`{measurement}` | {', '.join(tags) or '-'} | {', '.join(dict.fromkeys(fields))} |")
    return "\n".join(lines)


def main() -> int:
    from doc_section import write_or_print

    return write_or_print(DOC, START, END, reference(), sys.argv)


if __name__ == "__main__":
    sys.exit(main())
