"""Chaos: broken settings, inventory and CSV files against `netvigil check` and `inventory import`.

Run from the repository root:  .venv/bin/python -m bench.chaos_config [--seed 11] [--files 150]

A careless operator's files, made from the shipped examples (config/netvigil.yaml,
config/inventory.yaml) and the test equipment lists (tests/data/csv/): cut off at random
points, bytes flipped, NUL and escape bytes, invalid UTF-8 and GB18030, values of the wrong
type (lists, mappings, huge and negative numbers, true/false, 300 KB strings), keys misspelt
or doubled, YAML alias bombs ("billion laughs"), 10 MB lines, deep nesting, a directory where
a file belongs. Every file is checked in its own process with a 60 s limit.

What must hold: exit code 2 (a configuration error) or 0 (the damage happened to be harmless),
never a traceback, an "internal error" or a hang; and a problem is one line naming the file.
Prints the counts; exit 1 if anything broke.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETVIGIL = str(Path(sys.executable).parent / "netvigil")
LIMIT_S = 60

WRONG_VALUES = ["[1, 2]", "{a: 1}", "99999999999999999999999", "-5", "true", "false", "''", "~", "0x7fffffffffff",
                "1e400", "nan", "!!binary aGVsbG8=", "'" + "x" * 300_000 + "'", "\"\\x00\\x1b[31m\"", "2026-13-45"]


def _mutate_yaml(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    kind = rng.randrange(10)
    if kind == 0:  # cut off mid-file
        return text[:rng.randrange(len(text))]
    if kind == 1:  # flipped bytes
        data = bytearray(text.encode())
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return data.decode("utf-8", "surrogateescape")
    if kind == 2:  # a value of the wrong type
        candidates = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")
                      and line.split(":", 1)[1].strip()]
        index = rng.choice(candidates)
        key = lines[index].split(":", 1)[0]
        lines[index] = f"{key}: {rng.choice(WRONG_VALUES)}"
        return "\n".join(lines) + "\n"
    if kind == 3:  # a misspelt key
        candidates = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
        index = rng.choice(candidates)
        key, rest = lines[index].split(":", 1)
        position = rng.randrange(len(key.strip())) + len(key) - len(key.strip())
        lines[index] = key[:position] + key[position + 1:] + key[position:position + 1] + ":" + rest
        return "\n".join(lines) + "\n"
    if kind == 4:  # a doubled line (duplicate key or item)
        index = rng.randrange(len(lines))
        lines.insert(index, lines[index])
        return "\n".join(lines) + "\n"
    if kind == 5:  # an alias bomb
        bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
        return bomb + text
    if kind == 6:  # control characters and NUL in the middle
        position = rng.randrange(len(text))
        return text[:position] + rng.choice(["\x00", "\x1b[31m", "\r", "\t\t", "\ufeff", "\u202e"]) + text[position:]
    if kind == 7:  # a 10 MB line
        return text + "# " + "y" * 10_000_000 + "\n"
    if kind == 8:  # deep nesting
        return text + "extra: " + "[" * 5_000 + "]" * 5_000 + "\n"
    return text.encode("gb18030", "replace").decode("latin-1")  # another encoding altogether


def _mutate_csv(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return data[:rng.randrange(max(len(data), 1))]
    if kind == 1:
        mutable = bytearray(data)
        for _ in range(rng.randrange(1, 20)):
            if mutable:
                mutable[rng.randrange(len(mutable))] = rng.randrange(256)
        return bytes(mutable)
    if kind == 2:
        return data + b'"unterminated,quote\n' + b",,,,,,,,\n" * 3
    if kind == 3:
        return data + ("x" * 300_000 + ",127.0.0.1,switch,room\n").encode()
    if kind == 4:
        return data.replace(b",", b";", rng.randrange(1, 10))
    return b"\x00" * rng.randrange(1, 100) + data


def _run(argv: list[str], cwd: Path) -> dict:
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=LIMIT_S,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"hang": True, "code": None, "stderr": ""}
    return {"hang": False, "code": result.returncode, "stderr": result.stderr}


def _judge(outcome: dict) -> str:
    if outcome["hang"]:
        return "hang"
    stderr = outcome["stderr"]
    if "Traceback" in stderr or "internal error" in stderr:
        return "traceback"
    if outcome["code"] not in (0, 2):
        return f"exit {outcome['code']}"
    return "ok"


def cases(seed: int, count: int, workdir: Path) -> list[tuple[str, list[str], Path]]:
    """(description, argv, cwd) of every broken input, written under `workdir`."""
    rng = random.Random(seed)
    settings_text = (REPO / "config" / "netvigil.yaml").read_text()
    inventory_text = (REPO / "config" / "inventory.yaml").read_text()
    csv_files = sorted((REPO / "tests" / "data" / "csv").glob("*.csv"))
    made = []
    for number in range(count):
        case = workdir / f"case{number:03d}"
        case.mkdir()
        shutil.copy(REPO / "config" / "inventory.yaml", case / "inventory.yaml")
        (case / "netvigil.yaml").write_text(settings_text.replace("/etc/netvigil/", "./"))
        which = number % 4
        if which == 0:
            (case / "netvigil.yaml").write_bytes(
                _mutate_yaml(settings_text, rng).encode("utf-8", "surrogateescape"))
            made.append((f"settings #{number}", [NETVIGIL, "check", "-c", "netvigil.yaml"], case))
        elif which == 1:
            (case / "inventory.yaml").write_bytes(_mutate_yaml(inventory_text, rng).encode("utf-8", "surrogateescape"))
            made.append((f"inventory #{number}", [NETVIGIL, "check", "-c", "netvigil.yaml"], case))
        elif which == 2:
            source = rng.choice(csv_files)
            (case / "list.csv").write_bytes(_mutate_csv(source.read_bytes(), rng))
            made.append((f"csv #{number} from {source.name}", [NETVIGIL, "inventory", "import", "list.csv"], case))
        else:  # structural: a directory where a file belongs, an unreadable file, an empty file
            damage = rng.choice(["dir", "empty", "missing", "unreadable"])
            target = case / rng.choice(["netvigil.yaml", "inventory.yaml"])
            target.unlink()
            if damage == "dir":
                target.mkdir()
            elif damage == "empty":
                target.write_text("")
            elif damage == "unreadable":
                target.write_bytes(b"\xff\xfe\x00broken")
            made.append((f"{damage} {target.name} #{number}", [NETVIGIL, "check", "-c", "netvigil.yaml"], case))
    return made


def run(seed: int = 11, count: int = 150) -> dict:
    """Run every case; the counts by outcome and the cases that broke."""
    workdir = Path(tempfile.mkdtemp(prefix="nvchaos-config-"))
    try:
        made = cases(seed, count, workdir)
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            outcomes = list(pool.map(lambda case: _run(case[1], case[2]), made))
        counts: dict[str, int] = {}
        broken = []
        for (description, _, _), outcome in zip(made, outcomes):
            verdict = _judge(outcome)
            counts[verdict] = counts.get(verdict, 0) + 1
            if verdict != "ok":
                broken.append((description, verdict, outcome["stderr"][-2000:]))
        kinds = {"settings": 0, "inventory": 0, "csv": 0, "structural": 0}
        for description, _, _ in made:
            key = description.split()[0]
            kinds[key if key in kinds else "structural"] += 1
        return {"files": len(made), "kinds": kinds, "outcomes": counts, "broken": broken}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--files", type=int, default=150)
    args = parser.parse_args()
    result = run(args.seed, args.files)
    print(f"{result['files']} broken files ({', '.join(f'{n} {k}' for k, n in result['kinds'].items())}): "
          f"{result['outcomes'].get('ok', 0)} answered with a sentence, "
          f"{result['outcomes'].get('traceback', 0)} tracebacks, {result['outcomes'].get('hang', 0)} hangs")
    for description, verdict, stderr in result["broken"]:
        print(f"\n--- {description}: {verdict}\n{stderr}")
    return 0 if not result["broken"] else 1


if __name__ == "__main__":
    sys.exit(main())
