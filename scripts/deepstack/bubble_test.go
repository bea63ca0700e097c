//go:build go1.25

package main

// TestBubbleDump writes a goroutine dump taken inside a testing/synctest
// bubble to $DEEPSTACK_DUMP: headers then carry "(durable)" wait reasons and
// ", synctest bubble N". Run by scripts/capture_dumps.py with Go 1.25+.

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
)

func TestBubbleDump(t *testing.T) {
	out := os.Getenv("DEEPSTACK_DUMP")
	if out == "" {
		t.Skip("DEEPSTACK_DUMP not set")
	}
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan int)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { <-ch }()
		go func() { wg.Wait() }()
		go func() {
			select {
			case <-ch:
			case ch <- 1:
			}
		}()
		synctest.Wait() // every bubble goroutine is now durably blocked
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		if err := os.WriteFile(out, buf[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Done()
		close(ch)
	})
}
