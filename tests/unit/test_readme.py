"""The README's configuration reference is generated from the settings models; keep it true."""

import subprocess
import sys

from tests.support import REPO


def test_readme_configuration_reference_matches_the_settings_models():
    generated = subprocess.run([sys.executable, str(REPO / "scripts" / "config_reference.py")],
                               capture_output=True, text=True, check=True).stdout.strip()
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- config-reference:start -->", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    assert section.strip() == generated, "run: .venv/bin/python scripts/config_reference.py --write"
    assert generated.count("\n") > 30  # every key, not just a header


def test_readme_quick_start_has_exactly_the_two_commands_ci_and_tests_use():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick.splitlines() if line.startswith("bash ")]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_readme_snmp_profile_table_matches_the_shipped_profiles():
    generated = subprocess.run([sys.executable, str(REPO / "scripts" / "profile_reference.py")],
                               capture_output=True, text=True, check=True).stdout.strip()
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- profile-reference:start -->", 1)[1].split("<!-- profile-reference:end -->", 1)[0]
    assert section.strip() == generated, "run: .venv/bin/python scripts/profile_reference.py --write"
    assert "`ups`" in generated and "`snmp_if`" in generated
