// Command seedprog writes small execution traces for the trace fuzz target.
//
//	go run ./bench/fuzz/seedprog -out DIR
//
// Each trace covers a few milliseconds of one workload (goroutines blocking on
// channels and mutexes, syscalls, timers, GC, user annotations, CPU samples),
// so that it is a few kilobytes and the fuzzer runs thousands of inputs a second.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"
)

func channels() {
	ch := make(chan int)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range ch {
				_ = v * v
			}
		}()
	}
	for i := 0; i < 200; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

func mutexes() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				mu.Lock()
				n++
				time.Sleep(time.Microsecond)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func syscalls() {
	f, err := os.Open(os.DevNull)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	buf := make([]byte, 16)
	for i := 0; i < 50; i++ {
		_, _ = f.Read(buf)
		_, _ = os.Stat(os.DevNull)
	}
}

func gc() {
	var keep [][]byte
	for i := 0; i < 200; i++ {
		keep = append(keep, make([]byte, 64<<10))
		if len(keep) > 16 {
			keep = keep[1:]
		}
	}
	runtime.GC()
}

func annotations() {
	ctx, task := trace.NewTask(context.Background(), "seed")
	defer task.End()
	trace.Log(ctx, "k", "v")
	trace.WithRegion(ctx, "region", func() {
		time.Sleep(200 * time.Microsecond)
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		trace.WithRegion(ctx, "child", func() { time.Sleep(100 * time.Microsecond) })
	}()
	wg.Wait()
}

func spin() {
	deadline := time.Now().Add(30 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for time.Now().Before(deadline) {
				x++
			}
			_ = x
		}()
	}
	wg.Wait()
}

func main() {
	out := flag.String("out", ".", "directory for the traces")
	flag.Parse()
	workloads := []struct {
		name string
		fn   func()
		cpu  bool
	}{
		{"channels", channels, false},
		{"mutexes", mutexes, false},
		{"syscalls", syscalls, false},
		{"gc", gc, false},
		{"annotations", annotations, false},
		{"spin-cpu", spin, true},
	}
	for _, w := range workloads {
		path := filepath.Join(*out, fmt.Sprintf("%s-%s.trace", runtime.Version(), w.name))
		f, err := os.Create(path)
		if err != nil {
			panic(err)
		}
		if w.cpu {
			if err := pprof.StartCPUProfile(discard{}); err != nil {
				panic(err)
			}
		}
		if err := trace.Start(f); err != nil {
			panic(err)
		}
		w.fn()
		trace.Stop()
		if w.cpu {
			pprof.StopCPUProfile()
		}
		if err := f.Close(); err != nil {
			panic(err)
		}
		fmt.Println(path)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
