"""Sentences about secrets a credential lacks, the same for every probe kind.

A missing secret is not a validation error (see probes/snmp/settings.py): `status` and
`check` run from a shell without the unit's $CREDENTIALS_DIRECTORY. The daemon refuses to
start on these sentences, and `check` prints them as warnings.
"""

from __future__ import annotations

from typing import Mapping


def missing_secret_sentences(kind: str, credentials: Mapping, used: set[str]) -> list[str]:
    """One sentence per secret that the credentials in `used` lack: key name and where to put it."""
    sentences = []
    for name in sorted(used):
        credential = credentials.get(name)
        for key in credential.missing() if credential is not None else ():
            sentences.append(f"probes.{kind}.credentials.{name}.{key}: not set; put it in a secret file named "
                             f"probes__{kind}__credentials__{name}__{key} ($CREDENTIALS_DIRECTORY via the unit's "
                             f"LoadCredential=, or secrets_dir) or in NETVIGIL_PROBES__{kind.upper()}__CREDENTIALS__"
                             f"{name.upper()}__{key.upper()}")
    return sentences
