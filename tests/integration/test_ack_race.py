"""Many people acknowledging one fault at once, through the HTTP API and through `netvigil ack`
in other processes writing the same fault store: exactly one acknowledgement is recorded, every
other one is told who was first."""

from __future__ import annotations

import asyncio
import os

import pytest

from monitor.faults.store import FaultStore
from tests.integration.test_api import AUTH, TOKEN, open_fault, start_api, store  # noqa: F401,F811 - fixtures
from lab.support import VENV_BIN

pytestmark = pytest.mark.integration


async def test_fifty_concurrent_acknowledgements_record_exactly_one(store, start_api, tmp_path):  # noqa: F811
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN)
    path = f"/api/v1/faults/{fault_id}/ack"
    (tmp_path / "inventory.yaml").write_text("sites:\n  - {name: district}\ndevices: []\n")
    (tmp_path / "netvigil.yaml").write_text(f"inventory: [inventory.yaml]\nstate_dir: {store.path.parent}\n")

    async def by_cli(name: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "netvigil"), "ack", str(fault_id), "--by", name, "-c", str(tmp_path / "netvigil.yaml"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ})
        out, err = await process.communicate()
        return process.returncode, (out + err).decode()

    async def by_api(name: str) -> tuple[int, str]:
        status, answer, _ = await api.call("POST", path, body={"by": name}, headers=AUTH)
        return status, str(answer)

    answers = await asyncio.gather(*[by_api(f"api-{n}") for n in range(40)],
                                   *[by_cli(f"cli-{n}") for n in range(10)])
    api_ok = [n for n, (status, _) in enumerate(answers[:40]) if status == 200]
    cli_ok = [n for n, (code, _) in enumerate(answers[40:]) if code == 0]
    assert len(api_ok) + len(cli_ok) == 1, answers
    winner = f"api-{api_ok[0]}" if api_ok else f"cli-{cli_ok[0]}"
    refused = [text for status, text in answers if status not in (0, 200)]
    assert len(refused) == 49 and all(winner in text for text in refused), refused[:3]
    assert {status for status, _ in answers[:40]} <= {200, 409}
    with FaultStore(store.path) as reread:
        fault = reread.get(fault_id)
    assert fault.acknowledged_by == winner
