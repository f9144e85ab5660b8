"""How the writer reads a server's error answer: classification, and no field values shown.

The messages are the real answers of influxd 1.6.7 and VictoriaMetrics 1.79.5 (recorded on
loopback; the integration tests get them from the servers themselves).
"""

from __future__ import annotations

from monitor.outputs.writer import ErrorKind, error_for_status, without_quoted_lines

INFLUXD_PARSE = ('partial write: unable to parse \'m,device=b v= 2\': missing field value\n'
                 'unable to parse \'m,device=d secret="hunter2",v=x 4\': invalid boolean dropped=0')
INFLUXD_CONFLICT = ('partial write: field type conflict: input field "rtt_ms" on measurement "c" is type string, '
                    'already exists as type float dropped=1')
VM_TOO_LONG = ('remoteAddr: "127.0.0.1:42934"; requestURI: /api/v2/write?bucket=x; cannot read influx line '
               'protocol data: too long line: more than 262144 bytes')


def classify(status: int, message: str):
    return error_for_status(status, message, None, auth_hint="a", not_found_hint="n")


def test_quoted_lines_are_named_not_shown():
    assert without_quoted_lines(INFLUXD_PARSE) == (
        "partial write: unable to parse a line of m device=b: missing field value\n"
        "unable to parse a line of m device=d: invalid boolean dropped=0")
    # Cut inside the quote (a long answer shortened by the transport): still no field value.
    assert without_quoted_lines("unable to parse 'icmp,device=x secret=\"hun") == "unable to parse a line of icmp device=x"
    assert without_quoted_lines(VM_TOO_LONG) == VM_TOO_LONG


def test_parse_errors_give_no_count_so_the_writer_splits():
    error = classify(400, INFLUXD_PARSE)
    assert error.kind is ErrorKind.REJECTED
    assert error.dropped_points is None  # influxd said dropped=0 for two lines it did not store
    assert "hunter2" not in error.message and "m device=d" in error.message


def test_a_partial_write_with_a_real_count_is_trusted():
    error = classify(400, INFLUXD_CONFLICT)
    assert (error.kind, error.dropped_points) == (ErrorKind.REJECTED, 1)
    assert classify(400, VM_TOO_LONG).dropped_points is None


def test_long_answers_are_cut_after_the_quotes_are_gone():
    message = "unable to parse '" + "icmp,device=" + "x" * 5000 + " v=1 1': bad" + " tail" * 200
    error = classify(400, message)
    assert len(error.message) <= len("HTTP 400: ") + 300
    assert error.message.startswith("HTTP 400: unable to parse a line of icmp device=xxx")
