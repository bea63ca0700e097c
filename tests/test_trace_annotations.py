"""User tasks, regions and logs, read from a trace the machine's Go runtime writes during the test.

The example service does not annotate its traces, so a tiny program does: it is built
and run here (a few seconds, mostly the build), and our reading of its trace is compared
with ``go tool trace -d=parsed`` of the same file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from pytest_goperf.formats.trace.reader import (
    GoTransition,
    LogEvent,
    RegionEvent,
    TaskEvent,
    TraceReader,
)

PROGRAM = r"""
package main

import (
	"context"
	"os"
	"runtime/trace"
	"sync"
)

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	ctx, task := trace.NewTask(context.Background(), "request")
	var wg sync.WaitGroup
	ch := make(chan int)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			trace.WithRegion(ctx, "work", func() {
				sub, t2 := trace.NewTask(ctx, "child")
				trace.Log(sub, "step", "started")
				ch <- i
				t2.End()
			})
		}(i)
	}
	for i := 0; i < 4; i++ {
		trace.Logf(ctx, "result", "got %d", <-ch)
	}
	wg.Wait()
	task.End()
	trace.Stop()
	f.Close()
}
"""

_LINE = re.compile(r"^M=(-?\d+) P=(-?\d+) G=(-?\d+) (TaskBegin|TaskEnd|RegionBegin|RegionEnd|Log) Time=(\d+) (.*)$")
_TRANSITION = re.compile(r"^M=(-?\d+) P=(-?\d+) G=(-?\d+) StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+) ")


@pytest.fixture(scope="module")
def annotated_trace(tmp_path_factory) -> tuple[bytes, str]:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is required")
    work = tmp_path_factory.mktemp("annotated")
    (work / "main.go").write_text(PROGRAM)
    (work / "go.mod").write_text("module annotated\n\ngo 1.22\n")
    full_env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
    subprocess.run([go, "build", "-o", str(work / "prog"), "."], cwd=work, env=full_env, check=True, timeout=300)
    out = work / "trace.out"
    subprocess.run([str(work / "prog"), str(out)], check=True, timeout=60)
    parsed = subprocess.run([go, "tool", "trace", "-d=parsed", str(out)], capture_output=True, text=True,
                            check=True, timeout=120).stdout
    return out.read_bytes(), parsed


def test_tasks_regions_and_logs_equal_go_tool_trace(annotated_trace):
    data, parsed = annotated_trace
    theirs = []
    for line in parsed.splitlines():
        m = _LINE.match(line)
        if m:
            theirs.append((m[4], int(m[5]), int(m[3]), m[6]))
    ours = []
    for ev in TraceReader(data).events():
        if isinstance(ev, TaskEvent):
            parent = ev.parent if ev.parent >= 0 else (1 << 64) - 1
            kind = "TaskBegin" if ev.phase == "begin" else "TaskEnd"
            ours.append((kind, ev.time_ns, ev.goroutine, f'ID={ev.task} Parent={parent} Type="{ev.type}"'))
        elif isinstance(ev, RegionEvent):
            kind = "RegionBegin" if ev.phase == "begin" else "RegionEnd"
            ours.append((kind, ev.time_ns, ev.goroutine, f'Task={ev.task} Type="{ev.type}"'))
        elif isinstance(ev, LogEvent):
            ours.append(("Log", ev.time_ns, ev.goroutine,
                         f'Task={ev.task} Category="{ev.category}" Message="{ev.message}"'))
    assert len(theirs) == 10 + 8 + 8  # 5 tasks begun and ended, 4 regions begun and ended, 8 logs
    assert ours == theirs


def test_annotated_trace_transitions_equal_go_tool_trace(annotated_trace):
    data, parsed = annotated_trace
    theirs = [(int(m[4]), int(m[5]), m[6], m[7]) for m in map(_TRANSITION.match, parsed.splitlines()) if m]
    ours = [(e.time_ns, e.goroutine, e.from_state, e.to_state) for e in TraceReader(data).events()
            if isinstance(e, GoTransition)]
    assert ours == theirs
    assert any(t[2:] == ("NotExist", "Runnable") for t in ours)

