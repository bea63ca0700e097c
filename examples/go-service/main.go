// Command goperf-demo is the example service of pytest-goperf: a small JSON
// HTTP service with an in-memory store and a CPU-bound endpoint, plus a set of
// deliberate, switchable defects (see defects.go). Every defect is reached by
// its own route, so a correct route and a broken route live side by side in
// one binary, the way a regression appears in a real service.
//
// It uses only the standard library and builds with Go 1.21 and later.
//
// Flags:
//
//	-addr        listen address of the API (default 127.0.0.1:8080)
//	-pprof-addr  serve /debug/pprof/ on this separate listener; empty serves it on -addr
//	-extra-cpu   fraction of extra CPU work done in main.hashPayload (e.g. 0.15),
//	             also read from GOPERF_DEMO_EXTRA_CPU; used to test regression gates
//	-mutex-fraction  runtime.SetMutexProfileFraction (0: mutex profile off, the default)
//	-block-rate      runtime.SetBlockProfileRate in ns (0: block profile off, the default)
//	-pprof-tls DIR   serve the separate pprof listener over HTTPS with a self-signed
//	                 certificate made at start-up; its PEM is written to DIR/cert.pem
//	-pprof-token T   pprof answers 401 unless "Authorization: Bearer T" is sent
//	-pprof-basic U:P pprof answers 401 unless HTTP basic auth U:P is sent
//	-pprof-delay D   bind the separate pprof listener D after the API (e.g. 2s)
//	-pprof-catch-all the separate pprof listener answers 200 "hello" to every path
//	                 (a misconfigured port that is not pprof)
//
// Without -addr, a PORT environment variable makes it listen on 127.0.0.1:$PORT.
//
// On start it prints "listening on ADDR" (and "pprof on ADDR") to stdout; on
// SIGTERM or SIGINT it stops accepting connections and drains in-flight
// requests before exiting with status 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	rpprof "runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address of the API")
	pprofAddr := flag.String("pprof-addr", "", "separate listen address for /debug/pprof/ (empty: same as -addr)")
	extra := flag.Float64("extra-cpu", envFloat("GOPERF_DEMO_EXTRA_CPU", 0), "fraction of extra CPU work in main.hashPayload")
	writeTimeout := flag.Duration("write-timeout", 90*time.Second, "server write timeout (bounds pprof ?seconds=)")
	mutexFraction := flag.Int("mutex-fraction", 0, "runtime.SetMutexProfileFraction (0: off)")
	blockRate := flag.Int("block-rate", 0, "runtime.SetBlockProfileRate in ns (0: off)")
	var po pprofOptions
	flag.StringVar(&po.tlsDir, "pprof-tls", "", "serve pprof over HTTPS; write the self-signed certificate to DIR/cert.pem")
	flag.StringVar(&po.token, "pprof-token", "", "require this bearer token on pprof")
	flag.StringVar(&po.basic, "pprof-basic", "", "require this USER:PASSWORD (basic auth) on pprof")
	flag.DurationVar(&po.delay, "pprof-delay", 0, "bind the separate pprof listener this long after the API")
	flag.BoolVar(&po.catchAll, "pprof-catch-all", false, "the pprof listener answers 200 hello to everything")
	flag.Parse()
	if port := os.Getenv("PORT"); port != "" && !flagSet("addr") {
		*addr = "127.0.0.1:" + port
	}
	runtime.SetMutexProfileFraction(*mutexFraction)
	runtime.SetBlockProfileRate(*blockRate)
	if *extra < 0 || *extra > 100 {
		log.Fatalf("-extra-cpu must be between 0 and 100, got %v", *extra)
	}
	extraCPU = *extra

	api := newAPI()
	mux := http.NewServeMux()
	api.register(mux)
	registerDefects(mux)
	registerClient(mux)

	servers := []*http.Server{}
	if *pprofAddr == "" {
		registerPprof(mux)
	}
	s, err := listen("listening", *addr, mux, *writeTimeout)
	if err != nil {
		log.Fatal(err)
	}
	servers = append(servers, s)
	if *pprofAddr != "" {
		ps, err := po.serve(*pprofAddr, *writeTimeout)
		if err != nil {
			log.Fatal(err)
		}
		servers = append(servers, ps)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Printf("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func(srv *http.Server) {
			defer wg.Done()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				log.Printf("shutdown: %v", err)
			}
		}(srv)
	}
	wg.Wait()
	log.Printf("stopped")
}

// listen binds addr first, so that a port clash is reported before the
// readiness line is printed, then serves in the background.
func listen(what, addr string, h http.Handler, writeTimeout time.Duration) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: writeTimeout}
	fmt.Printf("%s on %s\n", what, ln.Addr())
	if what == "listening" {
		selfURL = "http://" + ln.Addr().String()
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("serve %s: %v", addr, err)
		}
	}()
	return srv, nil
}

func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// flagSet reports whether the flag called name was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func envFloat(name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		log.Fatalf("%s=%q is not a number", name, v)
	}
	return f
}

// labelled runs h with a pprof "route" label, so goroutine dumps, CPU profiles
// and traces can be read per route.
func labelled(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rpprof.Do(r.Context(), rpprof.Labels("route", route), func(context.Context) { h(w, r) })
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// api holds the healthy part of the service: an in-memory key/value store and
// a CPU-bound checksum endpoint.
type api struct {
	mu    sync.RWMutex
	items map[string]json.RawMessage
}

func newAPI() *api { return &api{items: map[string]json.RawMessage{}} }

func (a *api) register(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "goroutines": runtime.NumGoroutine()})
	})
	mux.HandleFunc("/items", labelled("items", a.list))
	mux.HandleFunc("/items/", labelled("item", a.item))
	mux.HandleFunc("/work", labelled("work", a.work))
	mux.HandleFunc("/background", labelled("background", a.background))
	mux.HandleFunc("/checkout", labelled("checkout", a.checkout))
	mux.HandleFunc("/pipeline", labelled("pipeline", a.pipeline))
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	a.mu.RLock()
	keys := make([]string, 0, len(a.items))
	for k := range a.items {
		keys = append(keys, k)
	}
	a.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (a *api) item(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/items/")
	if key == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing key"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		a.mu.RLock()
		v, ok := a.items[key]
		a.mu.RUnlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		writeJSON(w, http.StatusOK, v)
	case http.MethodPut:
		var v json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&v); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		a.mu.Lock()
		a.items[key] = v
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"stored": key})
	case http.MethodDelete:
		a.mu.Lock()
		delete(a.items, key)
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

// work is the CPU-bound endpoint: GET /work?n=ROUNDS computes a checksum.
func (a *api) work(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 2000, 1, 1_000_000)
	writeJSON(w, http.StatusOK, map[string]any{"checksum": checksum(n)})
}

// background starts a helper goroutine that finishes after ms milliseconds:
// a short-lived goroutine that a leak check must not blame once it is gone.
func (a *api) background(w http.ResponseWriter, r *http.Request) {
	ms := queryInt(r, "ms", 100, 0, 10_000)
	go finishLater(time.Duration(ms) * time.Millisecond)
	writeJSON(w, http.StatusAccepted, map[string]int{"finishes_in_ms": ms})
}

func finishLater(d time.Duration) { time.Sleep(d) }

// checkouts counts checkout requests; every fourth one misses the cache.
var checkouts atomic.Int64

// checkout is the annotated route: GET /checkout?items=3&db_ms=2 runs one
// execution-trace task "checkout" per request with a region per stage, so a
// test can measure the stages directly:
//
//	validate   main.spinCore(items*10) (CPU)
//	db.query   one per item, each sleeps db_ms milliseconds (a known duration)
//	price      main.hashPayload(items*50) (CPU; -extra-cpu inflates it)
//
// and one log per request, category "cache", message "hit" or (every fourth
// request) "miss".
func (a *api) checkout(w http.ResponseWriter, r *http.Request) {
	items := queryInt(r, "items", 3, 1, 100)
	dbMs := queryInt(r, "db_ms", 2, 0, 1000)
	ctx, task := trace.NewTask(r.Context(), "checkout")
	defer task.End()
	var total uint64
	trace.WithRegion(ctx, "validate", func() { total = spinCore(items * 10) })
	for i := 0; i < items; i++ {
		trace.WithRegion(ctx, "db.query", func() { time.Sleep(time.Duration(dbMs) * time.Millisecond) })
	}
	outcome := "hit"
	if checkouts.Add(1)%4 == 0 {
		outcome = "miss"
	}
	trace.Log(ctx, "cache", outcome)
	trace.WithRegion(ctx, "price", func() { total ^= hashPayload(items * 50) })
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "cache": outcome, "total": total})
}

// pipeline is the producer/consumer route: GET /pipeline?n=100&work=20&consumers=2.
// The handler's goroutine produces n items (main.spinCore(work) each) and
// hands each one over an unbuffered channel to one of the consumer goroutines,
// which wait in a channel receive in main.consume until main.produce sends:
// the wake-up chain "chan receive in main.consume, woken by main.produce".
func (a *api) pipeline(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 100, 1, 100_000)
	work := queryInt(r, "work", 20, 0, 100_000)
	consumers := queryInt(r, "consumers", 2, 1, 64)
	items := make(chan uint64)
	sums := make(chan uint64, consumers)
	for i := 0; i < consumers; i++ {
		go consume(items, sums)
	}
	produce(items, n, work)
	var total uint64
	for i := 0; i < consumers; i++ {
		total += <-sums
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": n, "total": total})
}

//go:noinline
func produce(items chan<- uint64, n, work int) {
	for i := 0; i < n; i++ {
		items <- spinCore(work) + uint64(i)
	}
	close(items)
}

//go:noinline
func consume(items <-chan uint64, sums chan<- uint64) {
	var s uint64
	for v := range items {
		s += v
	}
	sums <- s
}

// extraCPU is the -extra-cpu knob: the fraction of additional rounds that
// hashPayload runs, to make a controlled CPU regression in one named function.
var extraCPU float64

// checksum splits its work between spinCore (the base cost) and hashPayload
// (the part the -extra-cpu knob inflates).
func checksum(n int) uint64 {
	return spinCore(n) ^ hashPayload(n)
}

//go:noinline
func spinCore(n int) uint64 {
	var h uint64 = 1469598103934665603
	for i := 0; i < n*200; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return h
}

//go:noinline
func hashPayload(n int) uint64 {
	rounds := int(float64(n*100) * (1 + extraCPU))
	var h uint64 = 14695981039346656037
	for i := 0; i < rounds; i++ {
		h = (h ^ uint64(i)) * 1099511628211
		h ^= h >> 29
	}
	return h
}

func queryInt(r *http.Request, name string, def, min, max int) int {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		return min
	}
	if n > max {
		return max
	}
	return n
}
