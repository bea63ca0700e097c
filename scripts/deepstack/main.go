// Command deepstack prints a goroutine dump (runtime.Stack of all goroutines)
// holding the shapes the example service cannot produce: a stack deeper than
// the 100 frames a traceback prints ("...N frames elided..."), a goroutine
// created deep inside a recursion (with GODEBUG=tracebackancestors its
// ancestor block ends in "...additional frames elided..."), a generic
// function, a method on a pointer receiver and nested closures. It is run by
// scripts/capture_dumps.py; the dump goes to stdout ("deepstack debug=1"
// prints the debug=1 count profile instead). It also starts a goroutine with
// pprof labels whose values need quoting.
package main

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var block = make(chan struct{})

//go:noinline
func recurse(depth int, atBottom func()) int {
	if depth == 0 {
		atBottom()
		return 0
	}
	return recurse(depth-1, atBottom) + 1
}

type worker struct{ mu sync.Mutex }

//go:noinline
func (w *worker) wait() { <-block }

//go:noinline
func waitFor[T any](ch chan T) T { return <-ch }

func main() {
	var ready sync.WaitGroup
	ready.Add(5)
	// A deep stack: 150 recursive frames, more than the 100 printed.
	go recurse(150, func() { ready.Done(); <-block })
	// A goroutine started at the bottom of a 70-deep recursion, so its
	// ancestor (creator) stack is longer than the 50 frames kept for it.
	go recurse(70, func() {
		go func() { ready.Done(); <-block }()
	})
	w := &worker{}
	go func() { ready.Done(); w.wait() }()
	go func() {
		func() { ready.Done(); waitFor(make(chan int)) }()
	}()
	// pprof labels that need quoting in headers (Go 1.26+ with
	// GODEBUG=tracebacklabels=1) and in the debug=1 profile.
	labels := pprof.Labels("route", "GET /items/{key}", "plain", "a.b/c_d",
		"odd", "quote\" back\\ tab\t nl\n", "unicode", "é ✓ 日本")
	pprof.Do(context.Background(), labels, func(context.Context) {
		go func() { ready.Done(); <-block }()
	})
	ready.Wait()
	time.Sleep(100 * time.Millisecond) // let every goroutine reach its block
	if len(os.Args) > 1 && os.Args[1] == "debug=1" {
		pprof.Lookup("goroutine").WriteTo(os.Stdout, 1)
		return
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	os.Stdout.Write(buf[:n])
}
