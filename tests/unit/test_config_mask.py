"""probes/devconfig/mask.py, the masking engine on its own: precedence between rules that claim
overlapping stretches of a line, the fallback net, blocks, masks already in the text, and the
fingerprint that decides when stored versions are masked again.

Rules here are small hand-made ones, so each test shows one behaviour of the engine; what the
real catalogues and the generic net mask is tested in test_config_masking.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from probes.devconfig.mask import MASKER_SCHEME, Masker, SecretRule, secret_mask
from probes.devconfig.text import mask, rules_for
from probes.devconfig.catalogue import Block

KEY = bytes(range(32))


def m(value: str) -> str:
    return "<secret:" + hmac.new(KEY, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8] + ">"


def rule(regex: str, source: str = "profile", **options) -> SecretRule:
    pattern = re.compile(regex)
    groups = tuple(name for name in pattern.groupindex if name.startswith("secret")) or (1,)
    return SecretRule(source, pattern, groups, **options)


def masker(*rules: SecretRule, blocks: tuple[Block, ...] = ()) -> Masker:
    return Masker(tuple(rules), blocks)


# -- overlapping claims -----------------------------------------------------------------------

def test_a_later_wider_match_masks_only_what_is_left_of_it():
    line = "k1 AAA BBB"
    engine = masker(rule(r"k1 (?P<secret>\S+)"), rule(r"k1 (?P<secret>.*)"))
    assert engine.mask_line(line, KEY) == f"k1 {m('AAA')} {m('BBB')}"


def test_a_claim_starting_inside_an_earlier_one_takes_only_its_own_end():
    engine = masker(rule(r"x (?P<secret>ABCDEF)"), rule(r"x ABC(?P<secret>DEF GHI)"))
    assert engine.mask_line("x ABCDEF GHI", KEY) == f"x {m('ABCDEF')} {m('GHI')}"


def test_a_claim_starting_inside_an_earlier_one_with_others_around_it_takes_only_its_own_end():
    # The earlier claim it starts in is found among several, before and after it.
    after = masker(rule(r"x (?P<secret>ABCDEF)"), rule(r"(?P<secret>JK)$"), rule(r"x ABC(?P<secret>DEF GHI)"))
    assert after.mask_line("x ABCDEF GHI JK", KEY) == f"x {m('ABCDEF')} {m('GHI')} {m('JK')}"
    before = masker(rule(r"k (?P<secret>a1)"), rule(r"k a1 (?P<secret>BCDEF)"), rule(r"k a1 BC(?P<secret>DEF GH)"))
    assert before.mask_line("k a1 BCDEF GH", KEY) == f"k {m('a1')} {m('BCDEF')} {m('GH')}"


def test_a_claim_of_blanks_alone_masks_nothing_even_at_the_end_of_the_line():
    engine = masker(rule(r'psk="(?P<secret>[^"]*)"?'))
    assert engine.mask_line('psk="   ', KEY) == 'psk="   '
    assert engine.mask_line('psk=""', KEY) == 'psk=""'


def test_a_wide_claim_over_several_earlier_ones_masks_each_gap_alone():
    engine = masker(rule(r"k (?P<secret>a1) "), rule(r"b (?P<secret>c2) "), rule(r"k (?P<secret>.*)"))
    assert engine.mask_line("k a1 b c2 d e", KEY) == f"k {m('a1')} {m('b')} {m('c2')} {m('d e')}"


def test_claims_side_by_side_are_masked_separately():
    engine = masker(rule(r"k (?P<secret>ABC)"), rule(r"k ABC(?P<secret>DEF)"))
    assert engine.mask_line("k ABCDEF", KEY) == f"k {m('ABC')}{m('DEF')}"


def test_blanks_at_the_edges_of_a_claim_stay_blanks():
    engine = masker(rule(r"k(?P<secret>\s+v a l\s+)end"))
    assert engine.mask_line("k  v a l  end", KEY) == f"k  {m('v a l')}  end"


def test_masks_already_in_a_line_are_kept_and_what_surrounds_them_masked():
    engine = masker(rule(r"k (?P<secret>.*)"))
    assert engine.mask_line("k AB<secret:0123abcd>CD <secret:89abcdef>", KEY) == (
        f"k {m('AB')}<secret:0123abcd>{m('CD')} <secret:89abcdef>")


def test_masking_twice_changes_nothing():
    engine = masker(rule(r"k1 (?P<secret>\S+)"), rule(r"k1 (?P<secret>.*)"), rule(r"x (?P<secret>ABCDEF)"),
                    rule(r"x ABC(?P<secret>DEF GHI)"))
    text = "k1 AAA BBB\nx ABCDEF GHI\nnothing here"
    once = engine.mask(text, KEY)
    assert once != text and engine.mask(once, KEY) == once


# -- precise rules and the fallback net -------------------------------------------------------

def test_the_fallback_net_stays_out_of_a_line_a_precise_rule_found_a_secret_in():
    engine = masker(rule(r"^user \S+ (?P<secret>\S+)"),
                    rule(r"role (?P<secret>\S+)", source="generic: test", fallback=True),
                    rule(r"ftp://[^:\s]+:(?P<secret>[^@\s]+)@", source="generic: url"))
    # a precise rule found the password: the net's guess (`admin`) stays out, the rules after
    # the net (URL passwords) still apply
    assert engine.mask_line("user bob Pw1 role admin ftp://u:UrlPw@h/", KEY) == (
        f"user bob {m('Pw1')} role admin ftp://u:{m('UrlPw')}@h/")
    # nothing precise on the line: the net does its work
    assert engine.mask_line("guest role admin", KEY) == f"guest role {m('admin')}"


def test_the_keyword_net_is_a_fallback_behind_a_profile_secret_rule():
    # A site's profile knows this statement: its token is the secret, and the key file path
    # after it stays readable in diffs. Without the profile rule the net guesses the path.
    line = "app-auth T0KEN-1 key /etc/app/app.key"
    assert mask(line, rules_for("huawei_vrp", extra_secrets=[r"^app-auth (?P<secret>\S+)"]), KEY) == (
        f"app-auth {m('T0KEN-1')} key /etc/app/app.key")
    assert mask(line, rules_for("huawei_vrp"), KEY) == f"app-auth T0KEN-1 key {m('/etc/app/app.key')}"


def test_cipher_texts_and_url_passwords_are_masked_on_a_line_a_catalogue_statement_masked():
    # The net's "anywhere" rules are no fallback: a blob or a URL password elsewhere on a line
    # is a secret whatever else the line holds.
    line = " local-user admin password cipher %^%#AbC1%^%# ftp://u:UrlPw1@10.0.0.5/ %^%#dEf2%^%#"
    assert mask(line, rules_for("huawei_vrp"), KEY) == (
        f" local-user admin password cipher {m('%^%#AbC1%^%#')} ftp://u:{m('UrlPw1')}@10.0.0.5/ "
        f"{m('%^%#dEf2%^%#')}")


# -- blocks -----------------------------------------------------------------------------------

PEM = Block("test", "PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
            re.compile(r"-----END [A-Z ]*PRIVATE KEY-----"), ())


def test_a_block_keeps_its_frame_its_blank_lines_and_its_indentation():
    text = "key\n  -----BEGIN EC PRIVATE KEY-----\n  MHcCAQEE\n\n  oAoGCCqG\n  -----END EC PRIVATE KEY-----\nafter"
    assert masker(blocks=(PEM,)).mask(text, KEY).split("\n") == [
        "key", "  -----BEGIN EC PRIVATE KEY-----", f"  {m('MHcCAQEE')}", "", f"  {m('oAoGCCqG')}",
        "  -----END EC PRIVATE KEY-----", "after"]


def test_an_openvpn_static_key_keeps_its_frame():
    text = ("<tls-auth>\n-----BEGIN OpenVPN Static key V1-----\nf00dcafe\n-----END OpenVPN Static key V1-----\n"
            "</tls-auth>")
    assert mask(text, rules_for("generic"), KEY).split("\n") == [
        "<tls-auth>", "-----BEGIN OpenVPN Static key V1-----", m("f00dcafe"), "-----END OpenVPN Static key V1-----",
        "</tls-auth>"]


def test_a_masked_block_masked_again_is_unchanged():
    text = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKC\n-----END RSA PRIVATE KEY-----"
    engine = masker(blocks=(PEM,))
    once = engine.mask(text, KEY)
    assert "MIIEow" not in once and engine.mask(once, KEY) == once


def test_a_public_certificate_is_no_block_and_its_lines_are_masked_as_lines():
    engine = masker(rule(r"password (?P<secret>\S+)"), blocks=(PEM,))
    text = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----\npassword Pw9"
    assert engine.mask(text, KEY) == ("-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n"
                                      f"-----END CERTIFICATE-----\npassword {m('Pw9')}")


def test_an_unterminated_block_masks_to_the_end_of_the_text():
    text = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\nIBADAN"
    assert masker(blocks=(PEM,)).mask(text, KEY) == f"-----BEGIN PRIVATE KEY-----\n{m('MIIEvQ')}\n{m('IBADAN')}"


def test_a_private_key_on_the_line_of_its_begin_is_masked_and_the_lines_after_it_are_not():
    # A JSON key file holds the whole PEM text on one line, newlines escaped; a paste can put the
    # key on the BEGIN line. The key leaked, and the block, never ended, masked every later line.
    json = ('{\n  "type": "service_account",\n'
            '  "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\n-----END PRIVATE KEY-----\\n",\n'
            '  "client_email": "backup@example.org"\n}')
    masked = mask(json, rules_for("linux"), KEY)
    key_text = m("\\nMIIEvQIBADANBgkq\\n")
    assert masked == ('{\n  "type": "service_account",\n'
                      f'  "private_key": "-----BEGIN PRIVATE KEY-----{key_text}-----END PRIVATE KEY-----\\n",\n'
                      '  "client_email": "backup@example.org"\n}')
    assert mask(masked, rules_for("linux"), KEY) == masked
    pasted = ("ssl key -----BEGIN RSA PRIVATE KEY----- MIIEowIBAAK\n"
              "CQEAu1SU1LfV -----END RSA PRIVATE KEY-----\nhostname x")
    assert masker(blocks=(PEM,)).mask(pasted, KEY) == (f"ssl key -----BEGIN RSA PRIVATE KEY----- {m('MIIEowIBAAK')}\n"
                                                       f"{m('CQEAu1SU1LfV')} -----END RSA PRIVATE KEY-----\nhostname x")


def test_a_key_beginning_on_the_line_where_the_previous_one_ends_is_masked():
    # `cat a.key b.key` when a.key lacks its last newline: "-----END ...----------BEGIN ...".
    text = ("-----BEGIN RSA PRIVATE KEY-----\nAAAAfirst\n-----END RSA PRIVATE KEY----------BEGIN EC PRIVATE KEY-----\n"
            "BBBBsecond\n-----END EC PRIVATE KEY-----\nafter")
    joined = "-----END RSA PRIVATE KEY----------BEGIN EC PRIVATE KEY-----"
    assert masker(blocks=(PEM,)).mask(text, KEY).split("\n") == [
        "-----BEGIN RSA PRIVATE KEY-----", m("AAAAfirst"), joined, m("BBBBsecond"), "-----END EC PRIVATE KEY-----",
        "after"]
    # the second key's text may start on that line too
    same_line = ("-----BEGIN RSA PRIVATE KEY-----\nAAAAfirst\n"
                 "-----END RSA PRIVATE KEY----------BEGIN EC PRIVATE KEY-----B2")
    assert masker(blocks=(PEM,)).mask(same_line, KEY).split("\n")[2] == (
        f"-----END RSA PRIVATE KEY----------BEGIN EC PRIVATE KEY-----{m('B2')}")


def test_every_key_of_a_minified_json_line_is_masked():
    # Minified JSON puts a whole file on one line: here an OpenVPN static key, then a PEM key.
    line = ('{"tls_auth":"-----BEGIN OpenVPN Static key V1-----\\nf00d\\n-----END OpenVPN Static key V1-----",'
            '"key":"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----","port":1194}')
    static_key, private_key = m("\\nf00d\\n"), m("\\nMIIE\\n")
    assert mask(line, rules_for("generic"), KEY) == (
        f'{{"tls_auth":"-----BEGIN OpenVPN Static key V1-----{static_key}-----END OpenVPN Static key V1-----",'
        f'"key":"-----BEGIN PRIVATE KEY-----{private_key}-----END PRIVATE KEY-----","port":1194}}')


def test_text_around_a_one_line_key_goes_through_the_rules():
    engine = masker(rule(r"password (?P<secret>\S+)"), blocks=(PEM,))
    line = "password Pw1 -----BEGIN PRIVATE KEY----- MIIE -----END PRIVATE KEY----- password Pw2"
    assert engine.mask(line, KEY) == (f"password {m('Pw1')} -----BEGIN PRIVATE KEY----- {m('MIIE')} -----END PRIVATE "
                                      f"KEY----- password {m('Pw2')}")


# -- the mask itself --------------------------------------------------------------------------

def test_a_value_that_is_no_valid_unicode_is_masked_all_the_same():
    # Text decoded with surrogateescape keeps undecodable bytes as lone surrogates: they are
    # part of the secret and must neither leak nor stop the masking with an exception.
    value = "Pw\udcff\udcfe9"
    assert secret_mask(value, KEY) == m(value)
    assert masker(rule(r"password (?P<secret>\S+)")).mask_line(f"password {value}", KEY) == f"password {m(value)}"


def test_masking_without_a_key_is_refused_and_says_why():
    with pytest.raises(ValueError) as refused:
        masker(rule(r"password (?P<secret>\S+)")).mask("password x", b"")
    assert str(refused.value) == ("the mask key is empty: masks made with an empty key could be checked against "
                                  "guessed passwords")


# -- the fingerprint --------------------------------------------------------------------------

def _variants() -> dict[str, Masker]:
    base = dict(first_words=None, needs=(), needs_any=(), fallback=False)

    def one(regex=r"a (?P<secret>\S+)", source="s", flags=0, groups=("secret",), blocks=(), **changed):
        options = {**base, **changed}
        return Masker((SecretRule(source, re.compile(regex, flags), groups, **options),), blocks)

    other_end = Block("test", "PEM private key", PEM.begin, re.compile(r"-----END-----"), ())
    other_ref = Block("test", "another name", PEM.begin, PEM.end, ())
    return {
        "base": one(), "source": one(source="t"), "pattern": one(regex=r"b (?P<secret>\S+)"),
        "flags": one(flags=re.IGNORECASE), "groups": one(groups=(1,)), "first words": one(first_words=("a",)),
        "needs": one(needs=("a",)), "needs any": one(needs_any=("a",)), "fallback": one(fallback=True),
        "a block": one(blocks=(PEM,)), "a block's end": one(blocks=(other_end,)),
        "a block's name": one(blocks=(other_ref,)),
    }


def test_the_fingerprint_is_the_same_for_the_same_rules_and_names_the_scheme():
    first, second = _variants()["base"], _variants()["base"]
    assert first.fingerprint == second.fingerprint
    assert re.fullmatch(rf"{MASKER_SCHEME}-[0-9a-f]{{16}}", first.fingerprint)
    assert rules_for("huawei_vrp").fingerprint == rules_for("huawei_vrp").fingerprint


def test_the_fingerprint_changes_with_everything_that_decides_what_is_masked():
    # A change the fingerprint misses leaves stored versions masked by the older rules, leaked
    # secrets and all (monitor/config_store.py masks them again only when it changes). The
    # pre-checks count: a line they turn away is never searched.
    fingerprints = {name: engine.fingerprint for name, engine in _variants().items()}
    assert len(set(fingerprints.values())) == len(fingerprints), fingerprints


def test_each_rule_set_and_each_profile_pattern_has_its_own_fingerprint():
    names = ("generic", "huawei_vrp", "h3c_comware", "cisco_ios", "linux", "all")
    fingerprints = {rules_for(name).fingerprint for name in names}
    fingerprints.add(rules_for("linux", extra_secrets=[r"token (?P<secret>\S+)"]).fingerprint)
    assert len(fingerprints) == len(names) + 1
