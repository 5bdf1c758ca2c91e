"""The sandbox's new bounds, fuzzed (hypothesis): the numbers of the `sandbox` section, the read cap (the host's
`read_capped`, the command server's wire for the file tools) and the timeout a graph may pass. The attacks
themselves, against the real engine, are tests/integration/test_attacks.py."""

from __future__ import annotations

import errno
import math
import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentbench.config.loader import ConfigError, validate
from agentbench.config.schema import SandboxConfig
from agentbench.protocols import FileTooLargeError
from agentbench.sandbox import exec_server
from agentbench.sandbox.base import MAX_TIMEOUT_S, read_capped, request_timeout
from agentbench.sandbox.docker_wire import Frame, file_failure, read_request, write_request

#: field -> (lowest, highest) accepted
RANGES = {"command_timeout_s": (0.0, 86_400.0), "max_output_bytes": (0, 64 << 20), "max_read_bytes": (1, 256 << 20),
          "cpus": (0.01, 1024.0), "pids_limit": (16, 4_194_304), "nofile": (64, 1 << 20)}
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10 ** 30),
                                                                                 max_value=10 ** 30))


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(RANGES)), value=NUMBERS)
def test_a_sandbox_number_is_in_range_or_refused_naming_the_field(field, value):
    low, high = RANGES[field]
    try:
        cfg = validate({"sandbox": {field: value}}, "fuzz.yaml")
    except ConfigError as exc:
        assert f"sandbox.{field}:" in str(exc) and "fuzz.yaml" in str(exc)
        return
    got = getattr(cfg.sandbox, field)
    assert math.isfinite(got) and low <= got <= high and got > 0 or field == "max_output_bytes" and got == 0


@settings(max_examples=200, deadline=None)
@given(text=st.from_regex(r"\A[0-9]{1,16}(\.[0-9]{1,3})?[kmgtKMGT]?\Z"))
def test_a_size_is_in_range_or_refused(text):
    try:
        SandboxConfig(tmp_size=text)
    except ValueError as exc:
        assert "tmp_size" in str(exc)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 5000), cap=st.integers(1, 5000))
def test_read_capped_returns_the_file_or_refuses_past_the_cap(size, cap):
    data = os.urandom(size)
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        if size <= cap:
            assert read_capped(f.name, cap) == data
        else:
            with pytest.raises(FileTooLargeError) as raised:
                read_capped(f.name, cap)
            assert raised.value.errno == errno.EFBIG and raised.value.size == size and raised.value.limit == cap


def test_read_capped_stops_a_device_at_the_cap():
    with pytest.raises(FileTooLargeError) as raised:
        read_capped("/dev/zero", 1000)
    assert raised.value.size is None
    with pytest.raises(IsADirectoryError):
        read_capped(tempfile.gettempdir(), 1000)


@settings(max_examples=200, deadline=None)
@given(path=st.text(min_size=1, max_size=40), data=st.binary(max_size=300), cap=st.integers(0, 1 << 28),
       timeout=st.floats(0, MAX_TIMEOUT_S), cut=st.integers(0, 400))
def test_file_tool_requests_round_trip_in_any_split(path, data, cap, timeout, cut):
    wire = read_request(1, path, timeout, cap) + write_request(2, path, data, timeout) + b"kill 2\n"
    buffer = bytearray(wire[:cut])
    seen = exec_server.parse_requests(buffer)
    buffer += wire[cut:]
    seen += exec_server.parse_requests(buffer)
    assert seen == [("read", 1, float(repr(timeout)), cap, path.encode()),
                    ("write", 2, float(repr(timeout)), path.encode(), data), ("kill", 2)]
    assert buffer == bytearray()


@given(code=st.integers(1, 200), size=st.integers(-1, 1 << 40))
def test_a_file_tools_failure_is_read_back(code, size):
    said = Frame(1, 1, False, b"", b"", 0, f"{code} {size}".encode(), b"", 0)
    assert file_failure(said) == (code, size)
    killed = Frame(1, 137, False, b"", b"", 0, b"", b"", 0)
    assert file_failure(killed) == (0, -1)
    assert file_failure(Frame(1, 0, False, b"x", b"", 1, b"", b"", 0)) is None


@given(timeout=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       default=st.floats(0.001, MAX_TIMEOUT_S))
def test_a_graphs_timeout_is_made_sane(timeout, default):
    got = request_timeout(timeout, default)
    assert math.isfinite(got) and 0 <= got <= MAX_TIMEOUT_S
    if timeout is None or math.isnan(timeout):
        assert got == default


def test_the_server_parses_what_the_host_sends_for_huge_timeouts():
    """Before: inf went over the wire as `inf` and the server's select() crashed on it."""
    request = read_request(3, "/x", request_timeout(float("inf"), 60), 10)
    assert exec_server.parse_requests(bytearray(request)) == [("read", 3, MAX_TIMEOUT_S, 10, b"/x")]
