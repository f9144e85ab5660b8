"""The README's reference tables are generated from the code; keep them true."""

import subprocess
import sys

import pytest

from lab.support import REPO

sys.path.insert(0, str(REPO / "scripts"))
from readme_section import section  # noqa: E402


@pytest.mark.parametrize("script, marker, must_have", [
    ("config_reference.py", "config-reference", ["`probes.icmp.count`", "`probes.snmp.credentials.<name>.community`"]),
    ("profile_reference.py", "profile-reference", ["`ups`", "`snmp_if`", "`h3c_entity`"]),
    ("rules_reference.py", "rules-reference", ["`device_unreachable`", "`packet_loss_video`", "`for_samples`"]),
    ("secret_reference.py", "secret-reference", ["`snmp-agent target-host`", "`md5-password`", "`createUser`"]),
])
def test_readme_reference_tables_match_the_code(script, marker, must_have):
    generated = subprocess.run([sys.executable, str(REPO / "scripts" / script)],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert section(f"<!-- {marker}:start -->", f"<!-- {marker}:end -->") == generated, \
        f"run: .venv/bin/python scripts/{script} --write"
    assert all(text in generated for text in must_have)


def test_readme_quick_start_has_exactly_the_two_commands_ci_and_tests_use():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick.splitlines() if line.startswith("bash ")]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
