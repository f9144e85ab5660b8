"""The reference tables in docs/ are generated from the code; keep them true. The README's
quick start is the test command CI runs."""

import importlib
import subprocess
import sys

import pytest

from lab.support import REPO

sys.path.insert(0, str(REPO / "scripts"))
from doc_section import section  # noqa: E402


@pytest.mark.parametrize("script, doc, marker, must_have", [
    ("config_reference.py", "docs/configuration.md", "config-reference",
     ["`probes.icmp.count`", "`probes.snmp.credentials.<name>.community`"]),
    ("profile_reference.py", "docs/snmp.md", "profile-reference", ["`ups`", "`snmp_if`", "`h3c_entity`"]),
    ("rules_reference.py", "docs/faults.md", "rules-reference",
     ["`device_unreachable`", "`packet_loss_video`", "`for_samples`"]),
    ("secret_reference.py", "docs/ssh.md", "secret-reference",
     ["`snmp-agent target-host`", "`md5-password`", "`createUser`"]),
])
def test_reference_tables_in_docs_match_the_code(script, doc, marker, must_have):
    generated = subprocess.run([sys.executable, str(REPO / "scripts" / script)],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert section(doc, f"<!-- {marker}:start -->", f"<!-- {marker}:end -->") == generated, \
        f"run: .venv/bin/python scripts/{script} --write"
    assert all(text in generated for text in must_have)
    # `--write` puts the table into the file this test reads
    assert importlib.import_module(script.removesuffix(".py")).DOC == doc


def test_readme_quick_start_has_exactly_the_two_commands_ci_and_tests_use():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick.splitlines() if line.startswith("bash ")]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
