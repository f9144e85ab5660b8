"""Every secret-bearing statement of the vendor catalogues (probes/devconfig/catalogues/*.yaml) is
masked, exactly: the planted secrets and nothing else.

Each catalogue example marks its secrets «like this». The test plants the example, masks it
with the vendor's rules, and requires the line with exactly those values replaced by their
masks (computed here with hmac, so a mistake in the masker cannot hide behind itself): no
secret survives, and the structure change control reads stays. This file only uses the
public functions of probes/devconfig/text.py and reads the catalogue files as plain YAML, so it
runs unchanged against an older masker: against the one before the catalogue it failed
(trap-host `securityname`, `md5-password plain PEER PASSWORD` and some 60 other forms).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest
import yaml

from probes.devconfig.text import mask, normalise, prepare, rules_for

KEY = bytes(range(32))
CATALOGUES = Path(__file__).resolve().parents[2] / "probes" / "devconfig" / "catalogues"
VENDORS = ("huawei_vrp", "h3c_comware", "cisco_ios", "linux")
PLANTED = re.compile(r"«(.*?)»")


def expected_mask(value: str, key: bytes = KEY) -> str:
    return "<secret:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:8] + ">"


def _examples() -> list:
    found = []
    for vendor in VENDORS:
        data = yaml.safe_load((CATALOGUES / f"{vendor}.yaml").read_text(encoding="utf-8"))
        for index, entry in enumerate(data["statements"]):
            for number, example in enumerate(entry["examples"]):
                found.append(pytest.param(vendor, example, id=f"{vendor}-{index}-{number}"))
    return found


EXAMPLES = _examples()


def test_the_catalogues_cover_what_the_issue_names():
    assert len(EXAMPLES) >= 200
    text = "\n".join(example.values[1] for example in EXAMPLES)
    for statement in ("securityname «", "md5-password plain 10.0.0.2 «", "snmp-server host", "usm-user",
                      "local-user", "shared-key cipher", "irreversible-cipher", "authentication-keyid",
                      "vrrp vrid", "pre-shared-key", "pass-phrase", "enable secret", "key-string",
                      "message-digest-key", "neighbor", "crypto isakmp key", "wpa-psk", "ppp chap password",
                      "ntp authentication-key", "rocommunity", "com2sec", "createUser", "psk=", "auth_pass"):
        assert statement in text, statement


@pytest.mark.parametrize("all_vendors", [False, True], ids=["own", "all"])
@pytest.mark.parametrize("vendor, example", EXAMPLES)
def test_every_catalogue_statement_masks_exactly_its_planted_secrets(vendor, example, all_vendors):
    # `all` (a device whose vendor no profile names) must not over-mask one vendor's statement
    # with another vendor's form either.
    line = PLANTED.sub(lambda m: m.group(1), example)
    secrets = PLANTED.findall(example)
    masked = mask(line, rules_for("all" if all_vendors else vendor), KEY)
    assert masked == PLANTED.sub(lambda m: expected_mask(m.group(1)), example)
    for secret in secrets:
        assert secret not in masked
    assert mask(masked, rules_for(vendor), KEY) == masked  # stable: masking a stored text changes nothing


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_whole_planted_configuration_leaks_nothing_through_prepare(vendor):
    examples = [example.values[1] for example in EXAMPLES if example.values[0] == vendor]
    raw = "\r\n".join(PLANTED.sub(lambda m: m.group(1), example) for example in examples) + "\r\n"
    prepared = prepare(raw, rules_for(vendor), KEY)
    for example in examples:
        for secret in PLANTED.findall(example):
            assert secret not in prepared
    # Lines stay lines, in order: every prepared line is its example with the secrets masked.
    assert prepared.splitlines() == [PLANTED.sub(lambda m: expected_mask(m.group(1)), example).rstrip()
                                     for example in examples]


def _with_separators(example: str, separator: str) -> str:
    """The example with every blank between words replaced, except inside the planted secrets."""
    return re.sub(r"(?<=\S) (?=\S)(?![^«]*»)", separator, example)


@pytest.mark.parametrize("separator", ["\t", "  "], ids=["tab", "two-spaces"])
@pytest.mark.parametrize("vendor, example", EXAMPLES)
def test_a_statement_is_masked_the_same_whatever_blanks_separate_its_words(vendor, example, separator):
    # Linux files are written by hand (tabs in ntp.keys, aligned columns in snmpd.conf); the form
    # language takes any run of blanks, so every statement, form or regex, must do the same.
    spaced = _with_separators(example, separator)
    line = PLANTED.sub(lambda m: m.group(1), spaced)
    assert mask(line, rules_for(vendor), KEY) == PLANTED.sub(lambda m: expected_mask(m.group(1)), spaced)


def _plain_word_examples() -> list:
    """Examples whose secrets could as well be digits (not cipher blobs, hashes or hex keys)."""
    return [example for example in EXAMPLES
            if all(re.fullmatch(r"[A-Za-z0-9!@#._+=/-]+", secret) and not secret.startswith(("$", "%", "0x", "{"))
                   for secret in PLANTED.findall(example.values[1]))]


@pytest.mark.parametrize("number", ["123456", "20240601"])
@pytest.mark.parametrize("vendor, example", _plain_word_examples())
def test_a_numeric_secret_is_masked_wherever_a_word_would_be(vendor, example, number):
    # "123456" is the most common password there is. A digit slot before the value (a type digit,
    # a key id) must never take it, and an all-digit value is a value, not a key chain's key id.
    line = PLANTED.sub(number, example)
    for rule_set in (vendor, "all"):
        assert mask(line, rules_for(rule_set), KEY) == PLANTED.sub(expected_mask(number), example)


# -- the two statements of the report, by name -------------------------------------------------------

@pytest.mark.parametrize("rule_set", ["huawei_vrp", "h3c_comware"])
def test_trap_host_securityname_in_clear_is_masked(rule_set):
    line = "snmp-agent target-host trap address udp-domain 10.20.0.30 params securityname NocTrapComm v2c"
    assert mask(line, rules_for(rule_set), KEY) == (
        "snmp-agent target-host trap address udp-domain 10.20.0.30 params securityname "
        f"{expected_mask('NocTrapComm')} v2c")


@pytest.mark.parametrize("rule_set", ["huawei_vrp", "h3c_comware", "generic"])
def test_md5_password_masks_the_password_and_keeps_the_peer(rule_set):
    line = " md5-password plain 10.0.0.2 LdpS3cret"
    assert mask(line, rules_for(rule_set), KEY) == f" md5-password plain 10.0.0.2 {expected_mask('LdpS3cret')}"


# -- truncated cipher blobs ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule_set", ["huawei_vrp", "h3c_comware", "generic"])
@pytest.mark.parametrize("marker", ["%^%#", "%@%#", "%$%$", "%@%@"])
def test_a_blob_cut_off_before_its_terminator_is_masked_to_the_end_of_line_and_file(rule_set, marker):
    # A capture cut short (pager, flooding session) ends a blob without its terminator; the text
    # after the marker may hold spaces, so one token is not enough.
    cut_in_line = f"{marker}Qx7 Lm2#rest of it"
    cut_at_end = f"{marker}Zz9 tail without end"
    raw = (f"snmp-agent community read cipher {cut_in_line}\n"
           f" description uplink {cut_in_line}\n"
           f"#\n radius-server shared-key cipher {cut_at_end}")  # the file ends inside the blob
    prepared = prepare(raw, rules_for(rule_set), KEY)
    assert prepared == (f"snmp-agent community read cipher {expected_mask(cut_in_line)}\n"
                        f" description uplink {expected_mask(cut_in_line)}\n"
                        f"#\n radius-server shared-key cipher {expected_mask(cut_at_end)}\n")
    for fragment in ("Qx7", "Lm2#", "rest of it", "Zz9", "tail without end"):
        assert fragment not in prepared


def test_a_terminated_blob_keeps_what_follows_it():
    line = "snmp-agent community read cipher %^%#a1 B2%^%# acl 2000"
    assert mask(line, rules_for("huawei_vrp"), KEY) == (
        f"snmp-agent community read cipher {expected_mask('%^%#a1 B2%^%#')} acl 2000")


# -- the generic net ----------------------------------------------------------------------------------

@pytest.mark.parametrize("before, value, after", [
    # statements no catalogue lists, from any vendor: a value after one of the net's words
    ("some-feature password ", "NetPw1", ""),
    ("x-vendor login cipher ", "NetCipher2", " level 3"),
    ("radius-profile key ", "NetKey3", ""),
    ("trap-receiver 10.0.0.9 community ", "NetComm4", " version 2c"),
    ("notify host 10.0.0.9 securityname ", "NetSecName5", ""),
    ("foo secret 5 ", "NetSecret6", ""),
    ("ospf-like authentication md5 3 ", "NetAuth7", ""),
    ("link authentication-mode hmac-sha256 cipher ", "NetAuthMode8", ""),
    ("peer-md5 md5-password plain 10.9.9.9 ", "NetMd5Pw9", ""),
    ("backup url ftp://noc:", "UrlPassw0rd", "@10.0.0.5/configs"),
    ("mysterious_password = ", "EqualsPw10", ""),
    ("wireless psk pass-phrase ", "NetPhrase11", " aes"),
    # all-digit values: a value, not a key id, when nothing follows or when something does
    ("some-feature password ", "123456", ""),
    ("trap-receiver 10.0.0.9 community ", "123456", " version 2c"),
    ("radius-profile key ", "998877", " retransmit 3"),
    ("ntp-like authentication-key 1 md5 ", "12345678", " 7"),
    ("foo secret 5 ", "20240601", " level 3"),
    ("DB_PASSWORD = ", "EnvPw12", ""),  # keywords in any case: environment files shout
])
def test_the_generic_net_masks_values_after_its_words(before, value, after):
    masked = mask(before + value + after, rules_for("generic"), KEY)
    assert masked == before + expected_mask(value) + after


@pytest.mark.parametrize("stored", ["%^%#Blob1%^%#", "$1$saltsalt$HashHashHash"])
def test_the_generic_net_masks_a_stored_secret_and_a_clear_one_on_the_same_line(stored):
    # Finding a cipher text or a hash does not make the keyword net stay out: only a profile or
    # catalogue statement does, because it knows where the line's secrets are.
    line = f"vpn-profile p1 pre-shared-key cipher {stored} xauth password Pw2"
    assert mask(line, rules_for("generic"), KEY) == (
        f"vpn-profile p1 pre-shared-key cipher {expected_mask(stored)} xauth password {expected_mask('Pw2')}")


def test_a_pem_private_key_block_is_masked_line_by_line_and_its_frame_kept():
    raw = ("ssl key\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
           "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onL\n-----END RSA PRIVATE KEY-----\nend\n")
    masked = mask(raw, rules_for("generic"), KEY)
    assert masked.splitlines() == ["ssl key", "-----BEGIN RSA PRIVATE KEY-----",
                                   expected_mask("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo"),
                                   expected_mask("4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onL"),
                                   "-----END RSA PRIVATE KEY-----", "end"]


@pytest.mark.parametrize("rule_set", ["huawei_vrp", "h3c_comware", "cisco_ios", "linux", "generic", "all"])
@pytest.mark.parametrize("line", [
    " authentication-mode aaa", "authentication-scheme default", "snmp-agent community complexity-check disable",
    "ssh server cipher aes256_ctr aes128_ctr", " ssh2 algorithm cipher aes128-ctr aes256-ctr",
    "aaa authentication login default group tacacs+ local", " ip ospf authentication message-digest",
    "key chain OSPF-KEYS", " key 1", " key 7", " tunnel key 100", "password encryption aes",
    "service password-encryption", " set community 65000:100 additive", " apply community 65001:100",
    " neighbor 10.0.0.2 send-community both", " ppp authentication chap",
    "ssh user netvigil authentication-type password", " authentication-mode password", "PasswordAuthentication no",
    "passwd:         files systemd", "snmp-agent sys-info version v2c v3",
    "snmp-server host 10.0.0.13 version 3 priv nmsuser", " pre-shared-key address 203.0.113.9 255.255.255.255",
    "password-control length 10", "ntp-service authentication enable",
    "snmp-server enable traps snmp authentication linkdown linkup", " rsa peer-public-key core-2",
])
def test_setting_lines_that_only_look_like_secrets_stay_readable(rule_set, line):
    assert mask(line, rules_for(rule_set), KEY) == line


def test_the_composed_vrp_capture_keeps_every_line_without_a_secret():
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "ssh" / "huawei_vrp"
    raw = (fixtures / "display_current-configuration.txt").read_text()
    rules = rules_for("huawei_vrp")
    normal = normalise(raw, rules).splitlines()
    prepared = prepare(raw, rules, KEY).splitlines()
    changed = [(a, b) for a, b in zip(normal, prepared) if a != b]
    assert len(normal) == len(prepared)
    assert len(changed) == 7  # RADIUS and HWTACACS keys, two users, community, trap host, console
    for before, after in changed:
        assert "<secret:" in after and after.split("<secret:")[0] == before[:len(after.split("<secret:")[0])]
