"""Golden strings for every escaping rule and value type of monitor.lineproto."""

from __future__ import annotations

import pytest

from monitor import lineproto
from monitor.lineproto import (MAX_KEY_BYTES, MAX_LINE_BYTES, LineTooLong, describe, describe_line, encode,
                              encode_batch)
from probes.base import ResultCode, Sample

T = 1_700_000_000_123_456_789


def line(measurement="m", tags=None, fields=None, time_ns=T) -> str:
    return encode(Sample(measurement, tags or {}, fields if fields is not None else {"v": 1}, time_ns))


class _Count(int):
    """An int subclass (what IntEnum values are): the slower path must give the same text."""


class _Celsius(float):
    pass


class _Text(str):
    pass


@pytest.mark.parametrize("fields, expected", [
    ({"v": 5}, "v=5i"),
    ({"v": -9223372036854775808}, "v=-9223372036854775808i"),
    ({"v": 9223372036854775807}, "v=9223372036854775807i"),  # int64's largest still fits
    ({"v": _Count(7)}, "v=7i"),
    ({"v": _Count(-(2**63))}, "v=-9223372036854775808i"),
    ({"v": _Count(2**63 - 1)}, "v=9223372036854775807i"),
    ({"v": _Celsius(21.5)}, "v=21.5"),
    ({"v": _Text('say "hi"\n')}, r'v="say \"hi\"\n"'),  # a str subclass: same escaping
    ({"v": 1.5}, "v=1.5"),
    ({"v": 0.0}, "v=0.0"),  # stays a float (Point writes `0`)
    ({"v": 1e20}, "v=1e+20"),
    ({"v": -2.5e-7}, "v=-2.5e-07"),
    ({"v": True}, "v=true"),
    ({"v": False}, "v=false"),
    ({"v": ResultCode.TIMEOUT}, "v=1i"),  # IntEnum is an int
    ({"v": "ok"}, 'v="ok"'),
    ({"v": ""}, 'v=""'),
    ({"a": 1, "b": 2.0, "c": "x"}, 'a=1i,b=2.0,c="x"'),  # fields keep their given order
])
def test_field_types(fields, expected):
    assert line(fields=fields) == f"m {expected} {T}"


@pytest.mark.parametrize("value, expected", [
    ('say "hi"', r'"say \"hi\""'),
    ("C:\\temp\\", r'"C:\\temp\\"'),
    ('\\"', r'"\\\""'),
    ("a,b c=d", '"a,b c=d"'),  # separators are plain text inside quotes
    ("line1\nline2\r\n\tend", r'"line1\nline2\r\n\tend"'),
    ("温度", '"温度"'),
])
def test_string_field_escaping(value, expected):
    assert line(fields={"s": value}) == f"m s={expected} {T}"


@pytest.mark.parametrize("measurement, expected", [
    ("icmp", "icmp"),
    ("my measurement", r"my\ measurement"),
    ("a,b", r"a\,b"),
    ("a=b", "a=b"),  # `=` needs no escape in a measurement
    ("a\nb", r"a\nb"),
    ("trailing\\\\", "trailing"),  # trailing backslashes: no escaping of them parses in InfluxDB 1.x
    ("back\\slash", "back\\slash"),  # a backslash before an ordinary character stays as it is
    ("x\\ y", "x\\\\\\ y"),  # backslash then space: backslash doubled, space escaped
    ("BOX\\X", "BOX\\X"),  # only backslashes are trimmed from the end, never the letters before them
])
def test_measurement_escaping(measurement, expected):
    assert line(measurement=measurement) == f"{expected} v=1i {T}"


@pytest.mark.parametrize("tags, expected", [
    ({"device": "sw1"}, "device=sw1"),
    ({"site": "street 5"}, r"site=street\ 5"),
    ({"k": "a,b"}, r"k=a\,b"),
    ({"k": "a=b"}, r"k=a\=b"),
    ({"my key": "v"}, r"my\ key=v"),
    ({"a,b=c": "v"}, r"a\,b\=c=v"),
    ({"k": "two\nlines"}, r"k=two\nlines"),
    ({"k": "tab\there"}, r"k=tab\there"),
    ({"k": "ends\\"}, "k=ends"),  # trailing backslash removed
    ({"k": "a\\,b"}, "k=a\\\\\\,b"),  # backslash doubled, comma escaped
    ({"k": "a\\\\=b"}, "k=a\\\\\\\\\\=b"),  # a run of two doubled to four, then \=
    ({"k": "\\\\", "device": "sw1"}, "device=sw1"),  # nothing left of the value: tag left out
    ({"k": "a\\b"}, "k=a\\b"),
    ({"path": "D:\\BACKUP\\BOX"}, "path=D:\\BACKUP\\BOX"),  # a Windows path keeps its last letters
    ({"k": '"quoted"'}, 'k="quoted"'),  # quotes are ordinary in tags
    ({"site": "东城区"}, "site=东城区"),
    ({"b": "2", "a": "1", "c": "3"}, "a=1,b=2,c=3"),  # sorted by key
    ({"device": "sw1", "empty": ""}, "device=sw1"),  # empty value left out
    ({"": "orphan", "device": "sw1"}, "device=sw1"),  # empty key left out
])
def test_tag_escaping(tags, expected):
    assert line(tags=tags) == f"m,{expected} v=1i {T}"


def test_field_key_escaping():
    assert line(fields={"rtt ms": 1, "a,b=c": 2, "x\ny": 3}) == f"m rtt\\ ms=1i,a\\,b\\=c=2i,x\\ny=3i {T}"
    assert line(fields={"key\\": 1}) == f"m key=1i {T}"  # trailing backslash removed
    assert line(fields={"\\": 1, "ok": 2}) == f"m ok=2i {T}"  # nothing left of the key: field left out


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), 2**63, -(2**63) - 1, None, b"x", [1],
                                 _Count(2**63), _Count(-(2**63) - 1), _Celsius("nan"), _Celsius("inf")])
def test_unrepresentable_field_is_left_out(bad):
    assert line(fields={"bad": bad, "ok": 1}) == f"m ok=1i {T}"


def test_sample_with_no_field_left_is_dropped():
    assert line(fields={"rtt_ms": float("nan")}) == ""
    assert line(fields={}) == ""
    assert line(measurement="", fields={"v": 1}) == ""
    assert line(measurement="\\\\", fields={"v": 1}) == ""  # nothing left of the name
    assert line(measurement="", tags={"device": "sw1"}) == ""  # tags alone make no line


def test_all_tags_empty_gives_bare_measurement():
    assert line(tags={"a": "", "b": ""}) == f"m v=1i {T}"


def test_timestamp_is_nanoseconds_as_given():
    assert line(time_ns=0) == "m v=1i 0"
    assert line(time_ns=1).endswith(" 1")


def test_full_sample():
    sample = Sample("icmp", {"device": "sw-core 1", "site": "街道,5", "class": "switch"},
                    {"rtt_ms": 1.25, "loss_pct": 0.0, "up": True, "result_code": 0, "detail": 'no "reply"'}, T)
    assert encode(sample) == (
        r'icmp,class=switch,device=sw-core\ 1,site=街道\,5 '
        r'rtt_ms=1.25,loss_pct=0.0,up=true,result_code=0i,detail="no \"reply\"" ' + str(T))


def test_memoised_heads_do_not_leak_between_tag_sets():
    # Same tag values in a different order, and a changed value: heads must follow the data.
    first = Sample("m", {"a": "1", "b": "2"}, {"v": 1}, T)
    reordered = Sample("m", {"b": "2", "a": "1"}, {"v": 1}, T)
    changed = Sample("m", {"a": "1", "b": "3"}, {"v": 1}, T)
    assert encode(first) == encode(reordered) == f"m,a=1,b=2 v=1i {T}"
    assert encode(changed) == f"m,a=1,b=3 v=1i {T}"


def test_encode_batch_joins_with_newlines_and_skips_dropped():
    samples = [
        Sample("a", {"d": "1"}, {"v": 1}, 1),
        Sample("b", {}, {"v": float("nan")}, 2),  # dropped
        Sample("c", {"d": "x\ny"}, {"s": "p\nq"}, 3),
    ]
    body = encode_batch(samples)
    assert body == b'a,d=1 v=1i 1\nc,d=x\\ny s="p\\nq" 3'
    assert body.count(b"\n") == 1  # the newlines inside the data did not become line breaks


def test_encode_batch_is_utf8():
    assert encode_batch([Sample("温度", {"site": "机房"}, {"c": 21.5}, 1)]) == "温度,site=机房 c=21.5 1".encode()


def test_encode_batch_empty():
    assert encode_batch([]) == b""


def test_a_series_key_over_65535_bytes_is_refused_and_named_without_fields():
    # influxd 1.6.7: "max key length exceeded"; InfluxDB 2.x refuses the whole request.
    name = "x" * 300_000  # the 300 KB device name that once cost other devices' points
    with pytest.raises(LineTooLong) as refused:
        encode(Sample("icmp", {"device": name}, {"secret_text": "hunter2"}, T))
    assert refused.value.describe == "icmp device=" + "x" * 60 + "... (300000 characters)"
    assert "hunter2" not in str(refused.value) + refused.value.describe


def test_the_limits_count_utf8_bytes_of_the_escaped_key():
    fits = "m,d=" + "x" * (MAX_KEY_BYTES - 4)  # exactly 65,535 bytes of key
    assert encode(Sample("m", {"d": "x" * (MAX_KEY_BYTES - 4)}, {"v": 1}, T)) == f"{fits} v=1i {T}"
    # 3-byte characters: 21,846 of them are 65,538 bytes, over the limit.
    with pytest.raises(LineTooLong, match="series key"):
        encode(Sample("m", {"d": "机" * 21_846}, {"v": 1}, T))
    # Escaping counts: 40,000 spaces are 80,000 bytes once escaped.
    with pytest.raises(LineTooLong, match="series key"):
        encode(Sample("m", {"d": " " * 40_000}, {"v": 1}, T))


def test_a_refused_line_says_what_was_too_long_how_long_and_the_limit():
    with pytest.raises(LineTooLong) as refused:
        encode(Sample("m", {"d": "x" * 70_000}, {"v": 1}, T))
    assert str(refused.value) == "series key (measurement and tags) of 70004 bytes is over the servers' limit of 65535"
    with pytest.raises(LineTooLong) as refused:
        encode(Sample("m", {}, {"s": "y" * 270_000}, T))
    assert str(refused.value) == "line of 270026 bytes is over the servers' limit of 262144"


def test_a_name_is_shown_whole_up_to_60_characters():
    assert describe("icmp", "d" * 60) == "icmp device=" + "d" * 60
    assert describe("m" * 61, None) == "m" * 60 + "... (61 characters)"


def test_a_line_over_262144_bytes_is_refused():
    # VictoriaMetrics' -influx.maxLineSize: it answered 400 and lost the lines after it.
    assert len(encode(Sample("ssh", {"device": "r1"}, {"out": "y" * 200_000}, T))) < MAX_LINE_BYTES
    with pytest.raises(LineTooLong, match="line of 300040 bytes") as refused:
        encode(Sample("ssh", {"device": "r1"}, {"out": "y" * 300_000}, T))
    assert refused.value.describe == "ssh device=r1"


@pytest.mark.parametrize("line, expected", [
    (b"icmp,address=10.0.0.1,device=sw-1,site=a up=1i 1", "icmp device=sw-1"),
    (b"icmp,device=sw\\ 1,site=x secret=\"a b\" 1", "icmp device=sw\\ 1"),
    ("my\\,m,d=1 v=1 1", "my\\,m"),  # no device tag: the measurement alone
    (b'ssh detail="hunter2 x" 1', "ssh"),  # no tags at all: still never a field
    (b"icmp,device=sw\xff1 up=1i 1", "icmp device=sw\ufffd1"),  # bytes that are no UTF-8: replaced, no error
])
def test_describe_line_names_measurement_and_device_only(line, expected):
    assert describe_line(line) == expected


def test_memo_grows_when_the_fleet_does_not_fit_and_clears_otherwise(monkeypatch):
    monkeypatch.setattr(lineproto, "_CACHE_START", 4)
    monkeypatch.setattr(lineproto, "_CACHE_CEILING", 16)
    memo = lineproto._Memo()
    memo.update((i, i) for i in range(4))
    memo.full()  # filled at once: the series do not fit
    assert memo.limit == 8 and len(memo) == 4
    memo.since -= lineproto._GROW_WITHIN_S + 1  # filled slowly: churn, not a larger fleet
    memo.full()
    assert memo.limit == 8 and len(memo) == 0
    memo.full()
    memo.full()
    assert memo.limit == 16  # the ceiling
    memo.update((i, i) for i in range(16))
    memo.full()
    assert memo.limit == 16 and len(memo) == 0


def test_lines_stay_the_same_while_the_memos_grow_and_clear(monkeypatch):
    monkeypatch.setattr(lineproto, "_CACHE_START", 8)
    monkeypatch.setattr(lineproto, "_CACHE_CEILING", 32)
    monkeypatch.setattr(lineproto, "_key_cache", lineproto._Memo())
    monkeypatch.setattr(lineproto, "_head_cache", lineproto._Memo())
    samples = [Sample("snmp_if", {"device": f"sw {i % 50}", "ifName": f"Gi1/0/{i % 7}"}, {"in_octets": i}, i)
               for i in range(400)]
    first = [lineproto.encode(s) for s in samples]
    assert lineproto._head_cache.limit == 32 and len(lineproto._head_cache) <= 32
    assert [lineproto.encode(s) for s in samples] == first
    assert first[57] == "snmp_if,device=sw\\ 7,ifName=Gi1/0/1 in_octets=57i 57"


def test_tag_sets_with_the_same_words_in_other_places_get_their_own_heads():
    # The memo's key lists the tag keys, then the values: these share every word.
    assert line(tags={"a": "c", "b": "d"}) == f"m,a=c,b=d v=1i {T}"
    assert line(tags={"a": "b", "c": "d"}) == f"m,a=b,c=d v=1i {T}"
    assert line(tags={"a": "b", "c": "d", "b": "x"}) == f"m,a=b,b=x,c=d v=1i {T}"
    assert line(tags={"c": "d", "a": "b"}) == f"m,a=b,c=d v=1i {T}"
