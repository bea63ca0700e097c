package main

// The deliberate defects. Each is reached by its own route under /defect/ and
// each is one of the ways Go services fail in production. The function names
// are part of the contract with the tests: leak reports and hot-function
// assertions name them.

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

func registerDefects(mux *http.ServeMux) {
	mux.HandleFunc("/defect/leak-orphan", labelled("leak-orphan", leakOrphan))
	mux.HandleFunc("/defect/leak-global", labelled("leak-global", leakGlobal))
	mux.HandleFunc("/defect/leak-ticker", labelled("leak-ticker", leakTicker))
	mux.HandleFunc("/defect/leak-nil-send", labelled("leak-nil-send", leakNilSend))
	mux.HandleFunc("/defect/storm", labelled("storm", goroutineStorm))
	mux.HandleFunc("/defect/contention", labelled("contention", lockContention))
	mux.HandleFunc("/defect/alloc", labelled("alloc", allocationStorm))
	mux.HandleFunc("/defect/crash", crash)
}

// leakOrphan: a goroutine blocked forever receiving on a channel that only it
// holds. Nothing can ever send, so the garbage collector can prove the leak
// (Go 1.26+ goroutineleak profile) as well as a before/after diff.
func leakOrphan(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 1, 1, 1000)
	for i := 0; i < n; i++ {
		ch := make(chan int)
		go orphanReceiver(ch)
	}
	writeJSON(w, http.StatusOK, map[string]int{"started": n})
}

func orphanReceiver(ch chan int) {
	<-ch // defect: no sender exists once the handler returns
}

// pending keeps every channel ever handed to a globalWaiter: reachable from a
// global, so GC-based detection cannot see the leak; only a diff of dumps can.
var (
	pendingMu sync.Mutex
	pending   []chan struct{}
)

// leakGlobal: a goroutine blocked on a channel that stays reachable from the
// global pending slice, and that nobody ever closes.
func leakGlobal(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 1, 1, 1000)
	for i := 0; i < n; i++ {
		ch := make(chan struct{})
		pendingMu.Lock()
		pending = append(pending, ch)
		pendingMu.Unlock()
		go globalWaiter(ch)
	}
	writeJSON(w, http.StatusOK, map[string]int{"started": n})
}

func globalWaiter(ch chan struct{}) {
	<-ch // defect: ch is remembered in pending but never closed
}

// leakTicker: a polling loop whose ticker and goroutine are never stopped,
// the classic "background refresher" leak. It wakes up every 50ms forever.
func leakTicker(w http.ResponseWriter, r *http.Request) {
	go tickerLoop(time.NewTicker(50 * time.Millisecond))
	writeJSON(w, http.StatusOK, map[string]int{"started": 1})
}

func tickerLoop(t *time.Ticker) {
	polls := 0
	for range t.C { // defect: no stop channel, no t.Stop()
		polls++
	}
}

// leakNilSend: a send on a channel that was never made (nil), which blocks
// forever; the runtime always reports it as leaked.
func leakNilSend(w http.ResponseWriter, r *http.Request) {
	go nilSender()
	writeJSON(w, http.StatusOK, map[string]int{"started": 1})
}

var results chan int // defect: never initialised

func nilSender() {
	results <- 1
}

// goroutineStorm: n short CPU-bound goroutines at once (default 2000), far
// more than GOMAXPROCS, so the run queue fills up: runnable-queue pressure and
// scheduling latency. The handler waits for all of them, so nothing leaks.
func goroutineStorm(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 2000, 1, 100_000)
	work := queryInt(r, "work", 20, 1, 10_000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total uint64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := stormWorker(work)
			mu.Lock()
			total += v
			mu.Unlock()
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"goroutines": n, "total": total})
}

//go:noinline
func stormWorker(work int) uint64 { return spinCore(work) }

// globalMu guards a shared counter. Every contention request starts n (32)
// goroutines that each take it iters (2000) times for a tiny critical section:
// they spin in sync.(*Mutex).lockSlow, park in the runtime semaphore and wake
// each other through futex calls, the CPU signature of lock contention.
var (
	globalMu    sync.Mutex
	globalCount uint64
)

// lockContention: n goroutines that each take the global mutex iters times.
func lockContention(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 32, 1, 10_000)
	iters := queryInt(r, "iters", 2000, 1, 1_000_000)
	work := queryInt(r, "work", 0, 0, 100_000)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < iters; j++ {
				contendedUpdate(work)
			}
		}()
	}
	wg.Wait()
	globalMu.Lock()
	count := globalCount
	globalMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]uint64{"count": count})
}

//go:noinline
func contendedUpdate(work int) {
	globalMu.Lock() // defect: one global lock on the hot path of every goroutine
	if work > 0 {
		globalCount += spinCore(work) & 1
	}
	globalCount++
	globalMu.Unlock()
}

// allocationStorm: builds and throws away many small objects and strings:
// runtime.mallocgc dominates and the GC runs constantly.
func allocationStorm(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 20000, 1, 10_000_000)
	writeJSON(w, http.StatusOK, map[string]int{"bytes": churn(n)})
}

//go:noinline
func churn(n int) int {
	size := 0
	var keep [][]byte
	for i := 0; i < n; i++ {
		b := make([]byte, 64+i%512)
		s := strings.Repeat("x", 16+i%32)
		size += len(b) + len(s)
		if i%64 == 0 {
			keep = append(keep, b)
		}
	}
	return size + len(keep)
}

// crash: panics in a background goroutine, which kills the process with a
// traceback and exit status 2: the fixture must report it with the log.
func crash(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"crashing": "in 50ms"})
	go func() {
		time.Sleep(50 * time.Millisecond)
		panic("goperf-demo: deliberate crash requested by /defect/crash")
	}()
}
