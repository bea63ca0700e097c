"""A chatty service's log stays bounded, and its last lines stay readable for failure reports."""

from __future__ import annotations

import subprocess
import sys
import time

from pytest_goperf.runtime.logcap import LogCap, previous_part, read_tail

# Writes ~48 MB in about a second (issue 13: 1.4 GB in 11 s from a chatty service), then a last line.
CHATTY = (
    "import sys, time\n"
    "line = b'x' * 1000 + b'\\n'\n"
    "for i in range(48_000):\n"
    "    sys.stdout.buffer.write(line)\n"
    "    if i % 1000 == 999:\n"
    "        sys.stdout.buffer.flush()\n"
    "        time.sleep(0.02)\n"
    "sys.stdout.buffer.write(b'LAST LINE\\n')\n"
    "sys.stdout.buffer.flush()\n"
)


def test_a_chatty_writer_is_capped_and_its_tail_kept(tmp_path):
    log = tmp_path / "service.log"
    limit = 2 * 1024 * 1024
    cap = LogCap(log, limit, interval=0.02).start()
    with log.open("ab") as fh:  # as the service gets it: an append-mode file, not a pipe
        proc = subprocess.Popen([sys.executable, "-c", CHATTY], stdout=fh, stderr=subprocess.STDOUT)
        proc.wait(timeout=120)
    cap.stop()
    assert proc.returncode == 0
    total = 48_000 * 1001 + len("LAST LINE\n")
    kept = previous_part(log)
    on_disk = log.stat().st_blocks * 512 + (kept.stat().st_blocks * 512 if kept.exists() else 0)
    assert cap.rotations >= 2 and cap.dropped > total - 2 * limit
    assert on_disk <= limit + 64 * 1024, on_disk  # stop() looks once more: at most the limit is left
    tail = read_tail(log).decode()
    assert tail.endswith("LAST LINE\n")  # nothing written during a rotation is lost


def test_a_quiet_log_is_left_alone(tmp_path):
    log = tmp_path / "service.log"
    log.write_bytes(b"hello\n")
    cap = LogCap(log, 1024, interval=0.01).start()
    time.sleep(0.05)
    cap.stop()
    assert cap.rotations == 0 and not previous_part(log).exists()
    assert read_tail(log) == b"hello\n"


def test_without_hole_punching_the_tail_moves_to_name_1(tmp_path, monkeypatch):
    from pytest_goperf.runtime import logcap

    monkeypatch.setattr(logcap, "_fallocate", None)  # a file system that cannot punch holes
    log = tmp_path / "service.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(400_000)))
    cap = LogCap(log, 1024 * 1024)
    cap.check()
    assert cap.rotations == 1 and log.stat().st_size == 0
    kept = previous_part(log).read_bytes()
    assert kept.startswith(b"--- goperf: the log reached") and kept.endswith(b"line 399999\n")
    with log.open("ab") as fh:
        fh.write(b"after\n")
    assert read_tail(log).endswith(b"line 399999\nafter\n")
