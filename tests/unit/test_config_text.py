"""probes/devconfig/text.py: volatile lines dropped, capture noise cleaned, every secret masked.

Expected masks are computed here with hmac directly, so a mistake in config_text's own mask
function cannot hide behind itself. Configuration snippets are laid out as the devices print
them; only names, addresses and secret values are invented.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re

import pytest

from probes.devconfig import text as config_text
from probes.devconfig import catalogue as secret_catalogue
from probes.devconfig.text import RULE_SETS, mask, normalise, prepare, rules_for
from probes.devconfig.catalogue import Block

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def expected_mask(value: str, key: bytes = KEY) -> str:
    return "<secret:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:8] + ">"


# (rule set, line before the secret, secret value, rest of the line after it)
SECRET_LINES = [
    # Huawei VRP
    ("huawei_vrp", " local-user admin password irreversible-cipher ", "$1a$Mk3(O3n/Q.$u;VQ4@#8d#$", ""),
    ("huawei_vrp", " local-user ops password cipher ", "%@%@x<7+K(fg]MEt1b;%@%@", ""),
    ("huawei_vrp", " local-user old password simple ", "Huawei@123", ""),
    ("huawei_vrp", "super password level 15 cipher ", "%^%#a8Vd;E<d{2PqY`N1$$#G4,H(ZqVx/!R^fu+vN%^%#", ""),
    ("huawei_vrp", "snmp-agent community read cipher ", '%^%#Y}!a1Q`v0V:a"q8.w@W5 x#k%^%#', " acl 2000"),
    ("huawei_vrp", "snmp-agent community write cipher ", "%$%$bb=Z6,4l$6!WI!wX%$%$", ""),
    ("huawei_vrp", "snmp-agent community read ", "PlainComm1", " acl 2001"),
    ("huawei_vrp", "snmp-agent usm-user v3 nms authentication-mode sha2-256 cipher ", "%^%#AuthK3y=%^%#", ""),
    ("huawei_vrp", "snmp-agent usm-user v3 nms privacy-mode aes256 cipher ", "%^%#PrivK3y=%^%#", ""),
    ("huawei_vrp", " radius-server shared-key cipher ", "%^%#RadS3cret%^%#", ""),
    ("huawei_vrp", " hwtacacs-server shared-key cipher ", "%^%#TacS3cret%^%#", ""),
    ("huawei_vrp", " pre-shared-key cipher ", "%^%#Ik3Psk%^%#", ""),
    ("huawei_vrp", " ospf authentication-mode md5 1 cipher ", "%^%#0spfK3y%^%#", ""),
    ("huawei_vrp", " peer 10.0.0.2 password cipher ", "%^%#BgpK3y%^%#", ""),
    ("huawei_vrp", " peer 10.0.0.3 password simple ", "BgpCl3ar", ""),
    ("huawei_vrp", " set authentication password cipher ", "%^%#VtyPw%^%#", ""),
    ("huawei_vrp", " ntp-service authentication-keyid 1 authentication-mode md5 cipher ", "%^%#NtpK%^%#", ""),
    ("huawei_vrp", " description uplink ", "%^%#blob in an odd place%^%#", " to core"),
    # H3C Comware 7
    ("h3c_comware", " super password role network-admin hash ", "$h$6$Cs0YvA9wN0fLRvw3$kfK6oAqh0Bl0h2m0b=", ""),
    ("h3c_comware", " password hash ", "$h$6$GZ3kL0q1$Q2xW9e8r7t6y5u4i3o2p1a==", ""),
    ("h3c_comware", " password simple ", "G0est!pw", ""),
    ("h3c_comware", " snmp-agent community read simple ", "publ1c", " acl 2000"),
    ("h3c_comware", " snmp-agent community write cipher ", "$c$3$hV0ERbKDPMTsJk2RWyXQ2MsdVbm4Gg==", " acl 2001"),
    ("h3c_comware", " key authentication cipher ", "$c$3$CCCCkeyA==", ""),
    ("h3c_comware", " key accounting simple ", "Acct!Key", ""),
    ("h3c_comware", " pre-shared-key address 203.0.113.9 255.255.255.255 key cipher ", "$c$3$DDDDpsk==", ""),
    # Cisco IOS
    ("cisco_ios", "enable secret 9 ", "$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM", ""),
    ("cisco_ios", "enable secret 5 ", "$1$mERr$hx5rVt7rPNoS4wqbXKX7m0", ""),
    ("cisco_ios", "enable password 7 ", "0822455D0A16", ""),
    ("cisco_ios", "enable password ", "Cl3arEnable", ""),
    ("cisco_ios", "username admin privilege 15 secret 9 ", "$9$abcdefghijk$lmnopqrstuvwxyz", ""),
    ("cisco_ios", "username ops password 7 ", "104D000A0618", ""),
    ("cisco_ios", "username tech password 0 ", "Cl3arUser", ""),
    ("cisco_ios", "snmp-server community ", "N3tM0n", " RO 10"),
    ("cisco_ios", "snmp-server community ", "Wr1teC0mm", " RW SNMP-ACL"),
    ("cisco_ios", "snmp-server host 10.0.0.9 version 2c ", "TrapC0mm", ""),
    ("cisco_ios", "  key-string 7 ", "045802150C2E", ""),
    ("cisco_ios", "  key-string ", "Cl3arKeyString", ""),
    ("cisco_ios", "tacacs-server key 7 ", "0835495D1D", ""),
    ("cisco_ios", "radius-server key ", "Rad1usKey", ""),
    ("cisco_ios", " key 7 ", "1511021F0725", ""),  # under `radius server NAME`
    ("cisco_ios", "crypto isakmp key ", "Sup3rPsk", " address 203.0.113.7"),
    ("cisco_ios", " ppp chap password 7 ", "0214117F0A5E", ""),
    ("cisco_ios", " ip ospf message-digest-key 1 md5 7 ", "13061E010803", ""),
    ("cisco_ios", " ip ospf authentication-key 7 ", "070C285F4D06", ""),
    ("cisco_ios", " neighbor 10.0.0.2 password 7 ", "02050D480809", ""),
    ("cisco_ios", "ntp authentication-key 1 md5 ", "121A0C041104", " 7"),
    ("cisco_ios", " wpa-psk ascii 7 ", "070C285F4D06", ""),
    ("cisco_ios", " password 7 ", "060506324F41", ""),  # under `line vty 0 4`
    # Linux files
    ("linux", "wpa_passphrase=", "Wifi pass phrase", ""),
    ("linux", "PrivateKey = ", "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", ""),
    ("linux", "rocommunity ", "S3cretRo", " 10.0.0.0/8"),
    ("linux", "    auth_pass ", "Vrrp1234", ""),
    # generic: any vendor's keyword followed by a value
    ("generic", "password ", "AnyPass1", ""),
    ("generic", "secret ", "AnySecret1", ""),
    ("generic", "community ", "AnyComm1", ""),
    ("generic", "key ", "AnyKey1", ""),
]


@pytest.mark.parametrize("rule_set, before, value, after", SECRET_LINES)
def test_each_secret_form_is_masked_and_the_rest_of_the_line_kept(rule_set, before, value, after):
    rules = rules_for(rule_set)
    line = before + value + after
    masked = prepare(line + "\n", rules, KEY)
    assert masked == (before + expected_mask(value) + after).rstrip() + "\n"
    assert value not in masked


@pytest.mark.parametrize("mode", ["simple", "cipher"])
def test_comware_usm_user_line_masks_both_pass_phrases(mode):
    auth, priv = ("Auth12345678", "Priv12345678") if mode == "simple" else ("$c$3$AAAAauth==", "$c$3$BBBBpriv==")
    line = f" snmp-agent usm-user v3 nms nmsgroup {mode} authentication-mode sha {auth} privacy-mode aes128 {priv}"
    assert mask(line, rules_for("h3c_comware"), KEY) == (
        f" snmp-agent usm-user v3 nms nmsgroup {mode} authentication-mode sha {expected_mask(auth)} "
        f"privacy-mode aes128 {expected_mask(priv)}")


def test_cisco_snmp_v3_user_masks_both_pass_phrases():
    line = "snmp-server user nms NMS-GROUP v3 auth sha AuthPass99 priv aes 128 PrivPass99"
    assert mask(line, rules_for("cisco_ios"), KEY) == (
        f"snmp-server user nms NMS-GROUP v3 auth sha {expected_mask('AuthPass99')} priv aes 128 "
        f"{expected_mask('PrivPass99')}")


HUAWEI_CONFIG = """\
!Software Version V200R019C10SPC500
!Last configuration was updated at 2026-11-20 10:15:00+08:00 by admin
!Last configuration was saved at 2026-11-19 18:00:02+08:00 by admin
#
sysname SW-CORE-01
#
vlan batch 10 20 100
#
super password level 15 cipher %^%#a8Vd;E<d{2PqY`N1$$#G4,H(ZqVx/!R^fu+vN%^%#
#
aaa
 authentication-scheme default
 local-user admin password irreversible-cipher $1a$Mk3(O3n/Q.$u;VQ4@#8d#$
 local-user admin privilege level 15
 local-user admin service-type ssh
#
interface Vlanif100
 ip address 10.10.100.1 255.255.255.0
 ospf authentication-mode md5 1 cipher %^%#0spfK3y%^%#
#
bgp 65001
 peer 10.0.0.2 as-number 65002
 peer 10.0.0.2 password cipher %^%#BgpK3y%^%#
#
route-policy RP-OUT permit node 10
 apply community 65001:100
#
snmp-agent
snmp-agent community read cipher %^%#Y}!a1Q`v0V:a"q8.w@W5 x#k%^%# acl 2000
snmp-agent community complexity-check disable
snmp-agent sys-info version v2c v3
#
stelnet server enable
ssh server cipher aes256_ctr aes128_ctr
#
user-interface vty 0 4
 authentication-mode aaa
 protocol inbound ssh
#
return
"""
HUAWEI_SECRETS = ["%^%#a8Vd;E<d{2PqY`N1$$#G4,H(ZqVx/!R^fu+vN%^%#", "$1a$Mk3(O3n/Q.$u;VQ4@#8d#$", "%^%#0spfK3y%^%#",
                  "%^%#BgpK3y%^%#", '%^%#Y}!a1Q`v0V:a"q8.w@W5 x#k%^%#']

CISCO_CONFIG = """\
Building configuration...

Current configuration : 4512 bytes
!
! Last configuration change at 10:15:00 UTC Thu Nov 20 2026 by admin
! NVRAM config last updated at 10:16:00 UTC Thu Nov 20 2026 by admin
!
version 15.2
service password-encryption
!
hostname R1-BRANCH
!
enable secret 9 $9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM
!
username admin privilege 15 secret 9 $9$abcdefghijk$lmnopqrstuvwxyz
password encryption aes
!
key chain OSPF-KEYS
 key 1
  key-string 7 045802150C2E
!
crypto isakmp key Sup3rPsk address 203.0.113.7
!
interface Tunnel0
 ip address 172.16.0.1 255.255.255.252
 tunnel key 100
!
router bgp 65000
 neighbor 10.0.0.2 remote-as 65002
 neighbor 10.0.0.2 password 7 02050D480809
!
route-map RM-OUT permit 10
 set community 65000:100 additive
!
snmp-server community N3tM0n RO 10
ntp clock-period 17179869
ntp server 10.0.0.123
!
line vty 0 4
 password 7 060506324F41
 transport input ssh
!
end
"""
CISCO_SECRETS = ["$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM", "$9$abcdefghijk$lmnopqrstuvwxyz",
                 "045802150C2E", "Sup3rPsk", "02050D480809", "N3tM0n", "060506324F41"]


@pytest.mark.parametrize("rule_set, config, secrets", [("huawei_vrp", HUAWEI_CONFIG, HUAWEI_SECRETS),
                                                        ("cisco_ios", CISCO_CONFIG, CISCO_SECRETS)])
def test_whole_configuration_reveals_no_secret_and_keeps_other_lines(rule_set, config, secrets):
    prepared = prepare(config, rules_for(rule_set), KEY)
    for secret in secrets:
        assert secret not in prepared
        assert expected_mask(secret) in prepared
    secret_free = [line for line in normalise(config, rules_for(rule_set)).splitlines()
                   if not any(secret in line for secret in secrets)]
    assert secret_free == [line for line in prepared.splitlines() if "<secret:" not in line]


@pytest.mark.parametrize("rule_set, line", [
    ("cisco_ios", " set community 65000:100 additive"),  # BGP community of a route map: not a secret
    ("huawei_vrp", " apply community 65001:100"),
    ("cisco_ios", "key chain OSPF-KEYS"),
    ("cisco_ios", " key 1"),  # key id inside a key chain
    ("cisco_ios", " tunnel key 100"),
    ("cisco_ios", "password encryption aes"),
    ("cisco_ios", "service password-encryption"),
    ("huawei_vrp", "ssh server cipher aes256_ctr aes128_ctr"),
    ("h3c_comware", " ssh2 algorithm cipher aes128-ctr aes256-ctr"),
    ("huawei_vrp", "snmp-agent community complexity-check disable"),
    ("huawei_vrp", " authentication-mode aaa"),
    ("linux", "PasswordAuthentication no"),
])
def test_setting_lines_that_only_look_like_secrets_stay_readable(rule_set, line):
    assert mask(line, rules_for(rule_set), KEY) == line


def test_masks_are_stable_per_value_and_key_and_differ_otherwise():
    rules = rules_for("cisco_ios")
    text = "snmp-server community AlphaC RO\nsnmp-server community BravoC RO\nsnmp-server community AlphaC RW\n"
    lines = mask(text, rules, KEY).splitlines()
    first, second, third = (line.split()[2] for line in lines)
    assert first == third  # same value, same key
    assert first != second  # different values
    assert mask(text, rules, KEY) == mask(text, rules, KEY)
    other = mask(text, rules, OTHER_KEY).splitlines()[0].split()[2]
    assert other != first and other == expected_mask("AlphaC", OTHER_KEY)


def test_a_changed_password_is_still_a_changed_line():
    rules = rules_for("huawei_vrp")
    before = prepare(" local-user admin password irreversible-cipher $1a$OldOldOld$\n", rules, KEY)
    after = prepare(" local-user admin password irreversible-cipher $1a$NewNewNew$\n", rules, KEY)
    assert before != after
    assert before.rsplit(" ", 1)[0] == after.rsplit(" ", 1)[0]


def test_prepare_is_idempotent_so_masks_are_never_masked_again():
    rules = rules_for("h3c_comware")
    once = prepare(" password simple G0est!pw\n snmp-agent community read simple publ1c acl 2000\n", rules, KEY)
    assert prepare(once, rules, KEY) == once


def test_mask_refuses_an_empty_key():
    with pytest.raises(ValueError, match="key is empty"):
        mask("password x\n", rules_for("generic"), b"")


# -- volatile lines ---------------------------------------------------------------------------

def test_huawei_header_lines_are_dropped_but_the_software_version_is_a_real_change():
    text = normalise(HUAWEI_CONFIG, rules_for("huawei_vrp"))
    assert "Last configuration" not in text
    assert text.startswith("!Software Version V200R019C10SPC500\n#\nsysname SW-CORE-01\n")


def test_huawei_vrp8_headers_and_timestamp_lines_are_dropped():
    raw = ("2026-11-20 10:15:00.123 +08:00\n!Software Version V800R021C10SPC600\n!Time: 2026-11-20 10:15:00\n"
           "!Create configuration: 2026-11-20 10:15:00\n!Last configuration was updated at 2026-11-20 09:00:00+08:00\n"
           "#\nsysname PE-01\n#\nreturn\n")
    assert normalise(raw, rules_for("huawei_vrp")) == "!Software Version V800R021C10SPC600\n#\nsysname PE-01\n#\nreturn\n"


def test_cisco_preamble_headers_and_clock_period_are_dropped():
    text = normalise(CISCO_CONFIG, rules_for("cisco_ios"))
    for gone in ("Building configuration", "Current configuration", "Last configuration change", "NVRAM config",
                 "ntp clock-period"):
        assert gone not in text
    assert text.startswith("!\n!\nversion 15.2\n")
    assert "ntp server 10.0.0.123\n" in text


def test_h3c_version_line_is_kept_and_session_log_messages_dropped():
    raw = ("#\n version 7.1.070, Release 6555P01\n#\n sysname SW-ACC-07\n"
           "%Nov 20 10:15:00:123 2026 SW-ACC-07 SHELL/5/SHELL_LOGIN: admin logged in from 10.0.0.5.\n#\nreturn\n")
    assert normalise(raw, rules_for("h3c_comware")) == "#\n version 7.1.070, Release 6555P01\n#\n sysname SW-ACC-07\n#\nreturn\n"


@pytest.mark.parametrize("rule_set, first, second", [
    ("huawei_vrp",
     "!Software Version V200R019C10SPC500\n!Last configuration was updated at 2026-11-20 10:15:00+08:00 by admin\n"
     "!Last configuration was saved at 2026-11-19 18:00:02+08:00 by admin\n#\nsysname SW-CORE-01\n#\nreturn\n",
     "!Software Version V200R019C10SPC500\n!Last configuration was updated at 2026-11-21 08:00:00+08:00 by ops\n"
     "!Last configuration was saved at 2026-11-21 08:01:00+08:00 by ops\n#\nsysname SW-CORE-01\n#\nreturn\n"),
    ("cisco_ios",
     "Building configuration...\n\nCurrent configuration : 1024 bytes\n!\n! Last configuration change at 10:15:00 UTC "
     "Thu Nov 20 2026 by admin\n!\nhostname R1\nntp clock-period 17179869\nend\n",
     "Building configuration...\n\nCurrent configuration : 1031 bytes\n!\n! No configuration change since last "
     "restart\n!\nhostname R1\nntp clock-period 17179873\nend\n"),
])
def test_fetches_differing_only_in_volatile_lines_prepare_identically(rule_set, first, second):
    rules = rules_for(rule_set)
    assert first != second
    assert prepare(first, rules, KEY) == prepare(second, rules, KEY)


def test_linux_has_no_volatile_lines_by_default():
    text = "# generated\n2026-11-20 10:15:00\nnameserver 10.0.0.53\n"
    assert normalise(text, rules_for("linux")) == text
    assert RULE_SETS["linux"].volatile == ()


def test_a_profile_pattern_with_alternatives_finds_each_of_them_anywhere_on_the_line():
    # `^token X|site-apikey Y`: the `^` anchors the first alternative only; the second may start
    # anywhere, so the pattern must be searched along the line, not only tried at its start.
    rules = rules_for("linux", extra_secrets=[r"^token (?P<secret>\S+)|site-apikey (?P<secret2>\S+)"])
    assert mask("token Tok3n\nexport site-apikey Ap1Key", rules, KEY) == (
        f"token {expected_mask('Tok3n')}\nexport site-apikey {expected_mask('Ap1Key')}")


def test_extra_patterns_of_a_profile_apply():
    rules = rules_for("linux", extra_volatile=[r"^# Generated by NetworkManager"], extra_secrets=[r"^token (\S+)"])
    text = prepare("# Generated by NetworkManager\nsearch example.org\ntoken 9f8e7d\n", rules, KEY)
    assert text == "search example.org\ntoken " + expected_mask("9f8e7d") + "\n"


# -- cleaning the capture ---------------------------------------------------------------------

def test_crlf_and_lone_cr_become_lf_and_trailing_blanks_go():
    assert normalise("#\r\n sysname SW1   \r\n#\rreturn\t\r\n", rules_for("generic")) == "#\n sysname SW1\n#\nreturn\n"


def test_huawei_pager_and_its_escape_codes_leave_the_next_line_intact():
    raw = ("interface GigabitEthernet0/0/1\r\n"
           "  ---- More ----\x1b[42D                                          \x1b[42D port link-type trunk\r\n"
           " port trunk allow-pass vlan 10 20\r\n  ---- More ----\r\n#\r\n")
    assert normalise(raw, rules_for("huawei_vrp")) == ("interface GigabitEthernet0/0/1\n port link-type trunk\n"
                                                       " port trunk allow-pass vlan 10 20\n#\n")


def test_cisco_more_prompt_erased_with_backspaces_and_h3c_1d_codes():
    raw = ("interface Vlan10\n --More-- \b\b\b\b\b\b\b\b\b\b          \b\b\b\b\b\b\b\b\b\b ip address 10.0.10.1 "
           "255.255.255.0\n descriptionn\x1b[1D \x1b[1D uplink\n\x07\x00!\n")
    assert normalise(raw, rules_for("cisco_ios")) == ("interface Vlan10\n ip address 10.0.10.1 255.255.255.0\n"
                                                      " description uplink\n!\n")


@pytest.mark.parametrize("raw, shown", [
    ("abc\bX", "abX"),  # backspace: one cell back
    ("\b\bab", "ab"),  # never before the first column
    ("abc\x1b[DX", "abX"),  # cursor back, no count: one cell
    ("abcdef\x1b[3DX", "abcXef"),
    ("a\x1b[3Cb", "a   b"),  # cursor forward past the text: blanks in between
    ("ab\x1b[Cc", "ab c"),
    ("abcdef\x1b[3GX", "abXdef"),  # cursor to column 3 (columns count from 1)
    ("abc\x1b[GX", "Xbc"),  # no column: the first
    ("abc\x1b[0GX", "Xbc"),
    ("abcdef\x1b[3D\x1b[KXY", "abcXY"),  # erase to the end of the line
    ("abcdef\x1b[3D\x1b[0KX", "abcX"),
    ("abcdef\x1b[3D\x1b[1KX", "   Xef"),  # erase to its start: blanks stay, the line keeps its columns
    ("abc\x1b[2KX", "   X"),  # erase the whole line; the cursor stays where it was
    ("ab\x1b[5C\x1b[1KX", "       X"),  # erase to the start from beyond the text
])
def test_cursor_movements_and_erasures_are_replayed_as_a_terminal_shows_them(raw, shown):
    # Pagers and line editors erase with whatever their terminal type offers (VRP and Comware
    # `ESC [ n D`, some releases `ESC [ K`, Cisco backspaces); replaying them keeps the line
    # the device meant, where deleting the codes would leave the erased text in it.
    assert normalise(raw + "\n", rules_for("generic")) == shown + "\n"


def test_a_pager_prompt_left_in_front_of_a_line_goes_and_the_line_stays():
    raw = "interface Vlan10\n --More-- ip address 10.0.10.1 255.255.255.0\n  ---- More ----#\nend\n"
    assert normalise(raw, rules_for("cisco_ios")) == "interface Vlan10\nip address 10.0.10.1 255.255.255.0\n#\nend\n"


def test_colour_codes_are_removed():
    assert normalise("\x1b[1;32m sysname SW1\x1b[0m\n", rules_for("generic")) == " sysname SW1\n"


def test_leading_and_trailing_blank_lines_go_and_exactly_one_newline_ends_the_text():
    assert normalise("\n\n  \n#\n\nsysname SW1\n\n\n", rules_for("generic")) == "#\n\nsysname SW1\n"
    assert normalise("sysname SW1", rules_for("generic")) == "sysname SW1\n"
    assert normalise("", rules_for("generic")) == ""
    assert normalise("\r\n \n", rules_for("generic")) == ""


# -- errors -----------------------------------------------------------------------------------

def test_unknown_rule_set_names_the_known_ones():
    with pytest.raises(ValueError) as refused:
        rules_for("huawei")
    assert str(refused.value) == ("unknown configuration rule set 'huawei'; known sets: all, cisco_ios, generic, "
                                  "h3c_comware, huawei_vrp, linux")
    with pytest.raises(KeyError) as missing:
        RULE_SETS["huawei"]
    assert missing.value.args == ("huawei",)


def test_the_rule_sets_are_listed_by_name():
    assert list(RULE_SETS) == ["generic", "huawei_vrp", "h3c_comware", "cisco_ios", "linux", "all"]
    assert len(RULE_SETS) == 6 and RULE_SETS["linux"].name == "linux"


@pytest.mark.parametrize("extras", [dict(extra_volatile="^# generated"), dict(extra_secrets="token (\\S+)")])
def test_one_pattern_given_as_a_string_instead_of_a_list_is_refused(extras):
    # A string is a sequence of one-character patterns: each would be compiled on its own.
    with pytest.raises(ValueError) as refused:
        rules_for("linux", **extras)
    assert str(refused.value) == "extra_volatile and extra_secrets are lists of regular expressions, not one string"


def test_bad_regex_says_which_and_why():
    with pytest.raises(ValueError, match=r"secret regex 'password \(\?P<secret>\\\\S\+' is not a valid.*missing \)"):
        rules_for("generic", extra_secrets=[r"password (?P<secret>\S+"])
    with pytest.raises(ValueError, match=r"volatile regex '\[unclosed' is not a valid"):
        rules_for("linux", extra_volatile=["[unclosed"])


def test_secret_regex_needs_a_group_and_volatile_regex_must_not_match_everything():
    with pytest.raises(ValueError) as refused:
        rules_for("linux", extra_secrets=[r"token \S+"])
    assert str(refused.value) == ("secret regex 'token \\\\S+' has no group to mask: put the value in a named group, "
                                  "e.g. 'password (?P<secret>\\S+)'")
    with pytest.raises(ValueError) as refused:
        rules_for("linux", extra_volatile=[r".*"])
    assert str(refused.value) == ("volatile regex '.*' matches every line: it would drop the whole configuration "
                                  "and hide every change")
    assert rules_for("linux", extra_secrets=[r"token (\S+)"]).secrets[0].groups == (1,)  # any group will do


def test_a_vendor_rule_set_holds_its_own_catalogue_and_all_holds_every_one():
    # Another vendor's forms could read one of this vendor's settings as a secret.
    def vendors(name: str) -> set[str]:
        return {rule.source.split(":")[0] for rule in rules_for(name).secrets}

    for name in ("huawei_vrp", "h3c_comware", "cisco_ios", "linux"):
        assert vendors(name) == {name, "generic"}
    assert vendors("generic") == {"generic"}
    assert vendors("all") == {"huawei_vrp", "h3c_comware", "cisco_ios", "linux", "generic"}


def test_the_all_set_holds_the_blocks_of_every_catalogue(monkeypatch):
    # No catalogue has a block entry today; the first two to get one must both reach `all`.
    real = secret_catalogue.load

    def with_a_block(vendor: str):
        catalogue = real(vendor)
        block = Block(vendor, f"{vendor} key store", re.compile(f"-----BEGIN {vendor}"), re.compile("-----END"), ())
        return dataclasses.replace(catalogue, blocks=(block,))

    monkeypatch.setattr(secret_catalogue, "load", with_a_block)
    refs = [block.ref for block in config_text._compose("all").masker.blocks]
    assert refs[:4] == [f"{vendor} key store" for vendor in secret_catalogue.VENDORS] and len(refs) == 6


def test_a_profile_with_patterns_of_its_own_keeps_the_rest_of_its_rule_set():
    # its name (the store's log line shows it), its volatile lines, the catalogue and the
    # private-key blocks
    rules = rules_for("huawei_vrp", extra_volatile=[r"^!\s*Exported by"], extra_secrets=[r"site-token (?P<secret>\S+)"])
    assert rules.name == "huawei_vrp"
    raw = ("!Exported by ops\n!Time: 2026-11-20 10:15:00\nsite-token Tok1\n snmp-agent community read Comm1\n"
           "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n")
    assert prepare(raw, rules, KEY) == (f"site-token {expected_mask('Tok1')}\n snmp-agent community read "
                                        f"{expected_mask('Comm1')}\n-----BEGIN RSA PRIVATE KEY-----\n"
                                        f"{expected_mask('MIIEowIBAAKCAQEA')}\n-----END RSA PRIVATE KEY-----\n")


def test_every_named_set_includes_the_generic_net():
    for name in ("huawei_vrp", "h3c_comware", "cisco_ios", "linux"):
        rules = rules_for(name)
        assert set(RULE_SETS["generic"].secrets) <= set(rules.secrets)
        assert set(RULE_SETS[name].secrets) <= set(rules.secrets)
