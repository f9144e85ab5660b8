"""Settings of the rule engine (key `rules:` of the settings file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SITE_RULES = Path("/etc/netvigil/rules.d")


class RulesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dirs: list[Path] = Field(
        [SITE_RULES],
        description="directories of site rule files (every *.yaml, *.yml); a rule named like a shipped one "
                    "replaces it; relative to the settings file; a missing /etc/netvigil/rules.d is not an error")
    disable: list[str] = Field([], description="rule names to turn off (shipped or site rules)")
    flap_changes: int = Field(
        6, ge=2, description="open/clear changes of one rule on one device (and instance) within flap_window_s "
                             "that make it one `flapping` fault instead of a stream of alerts; a rule's own "
                             "`flap:` overrides it")
    flap_window_s: float = Field(1800, gt=0, description="the window flap_changes are counted in, seconds; "
                                                         "flapping ends after a whole window without a change")
