"""The tar header fast paths: the adler32-based checksum sum and octal number parsing must
give exactly what the plain definitions (and Go's archive/tar) give; a scanned layer must
come back from a worker process as the same LayerMember values."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goimglint.image.fs import LayerMember
from goimglint.image.layer import LayerScan
from goimglint.image.model import ContentRef, EntryKind
from goimglint.image.tarstream import TarFormatError, _header_sum, _number


def _reference_sum(block: bytes) -> int:
    # POSIX: the unsigned byte sum with the 8 checksum bytes taken as spaces.
    return sum(block[:148]) + 8 * 32 + sum(block[156:])


@given(st.binary(min_size=512, max_size=512))
def test_header_sum_matches_the_definition(block: bytes) -> None:
    assert _header_sum(block) == _reference_sum(block)


@pytest.mark.parametrize("fill", [0x00, 0xFF, 0x7F, 0x80, 0x20])
def test_header_sum_at_the_extremes(fill: int) -> None:
    # All 0xFF is where a single adler32 over more than 256 bytes would wrap modulo 65521.
    block = bytes([fill]) * 512
    assert _header_sum(block) == _reference_sum(block)


@pytest.mark.parametrize(("field", "value"), [
    (b"0000644\x00", 0o644),
    (b"0000644 ", 0o644),
    (b" 644 \x00\x00\x00", 0o644),
    (b"\x00" * 8, 0),
    (b" " * 8, 0),
    (b"00000001234\x00", 0o1234),
    (b"12\x0034\x00\x00\x00", 0o12),  # Go: digits up to the first NUL after trimming
    (b"\x80\x00\x00\x00\x00\x00\x01\x00", 256),  # GNU base-256
    (b"\xff" * 8, -1),  # base-256, negative
])
def test_number_fields(field: bytes, value: int) -> None:
    assert _number(field) == value


@pytest.mark.parametrize("field", [b"0000008\x00", b"0_7\x00\x00\x00\x00\x00", b"+7\x00\x00\x00",
                                   b"-7\x00\x00\x00", b"12 34\x00\x00", b"0x1f\x00\x00\x00"])
def test_number_fields_go_rejects(field: bytes) -> None:
    # strconv.ParseUint(s, 8, 64) takes no sign, no underscore, no 8 or 9.
    with pytest.raises(TarFormatError):
        _number(field)


def test_layer_scan_survives_the_trip_from_a_worker() -> None:
    members = [
        LayerMember("/etc/hosts", EntryKind.FILE, 0o644, 0, 0, 12,
                    content=ContentRef("/tmp/spool", 40, 12), magic=b"127."),
        LayerMember("/bin/sh", EntryKind.SYMLINK, 0o777, 0, 0, 0, linkname="busybox"),
        LayerMember("/bin/ash", EntryKind.FILE, 0o755, 1, 2, 0, hardlink="/bin/busybox"),
        LayerMember("/etc", EntryKind.DIR, 0o755, 0, 0, 0),
    ]
    scan = LayerScan(members, "gzip", 4096, 5, 40)
    back = pickle.loads(pickle.dumps(scan, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == scan
    assert all(type(m) is LayerMember for m in back.members)
    assert back.members[0].content == members[0].content
    assert back.members[1].linkname == "busybox" and back.members[2].gid == 2
