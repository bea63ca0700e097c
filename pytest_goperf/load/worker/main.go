// Command loadworker is the load engine of pytest-goperf written in Go (engine="go").
//
// It reads one scenario as a JSON line on standard input, drives the bounded
// HTTP/1.1 keep-alive load it describes, and writes one JSON result on standard
// output, in the shape pytest_goperf/load/goworker.py turns into a LoadResult.
// The end of standard input stops the sending early (the answers outstanding are
// still awaited), so the worker also stops when the Python side goes away.
//
// Why not net/http: measured side by side on the project's 2-core machines, a
// client on http.Client cost about twice the CPU per request of this one, which
// writes pre-serialised requests on a net.Conn and reads the response with a
// small parser (http.go), as wrk does.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The Python side's bounds (engine.py, scenario.py), checked again here.
const (
	maxDurationNs   = int64(3600 * time.Second)
	hardInFlightCap = 10_000
	lateAfterNs     = int64(5 * time.Millisecond) // engine.LATE_AFTER_NS
	reconnectPause  = 10 * time.Millisecond
	openPreconnect  = 8
	flushEvery      = 256
	maxStatus       = 1000
)

type spec struct {
	Host        string   `json:"host"`
	Port        int      `json:"port"`
	AllowRemote bool     `json:"allow_remote"`
	Payloads    [][]byte `json:"payloads"`
	NoBody      []bool   `json:"no_body"`
	Sequence    []int    `json:"sequence"`
	Model       string   `json:"model"`
	Concurrency int      `json:"concurrency"`
	Rate        float64  `json:"rate"`
	InFlightCap int      `json:"in_flight_cap"`
	Connections int      `json:"connections"`
	WarmupNs    int64    `json:"warmup_ns"`
	DurationNs  int64    `json:"duration_ns"`
	MaxRequests int64    `json:"max_requests"`
	TimeoutNs   int64    `json:"timeout_ns"`
}

type requestJSON struct {
	Sent     int64            `json:"sent"`
	Failed   int64            `json:"failed"`
	Dropped  int64            `json:"dropped"`
	Statuses map[string]int64 `json:"status_counts"`
	Latency  histJSON         `json:"latency"`
}

type resultJSON struct {
	Fatal       string            `json:"fatal,omitempty"`
	ConfigError string            `json:"config_error,omitempty"`
	StoppedBy   string            `json:"stopped_by"`
	Sent        int64             `json:"sent"`
	Late        int64             `json:"late"`
	DurationNs  int64             `json:"duration_ns"`
	ElapsedNs   int64             `json:"elapsed_ns"`
	Connections int64             `json:"connections"`
	Errors      map[string]int64  `json:"errors"`
	Samples     map[string]string `json:"error_samples"`
	SendLag     histJSON          `json:"send_lag"`
	Requests    []requestJSON     `json:"requests"`
}

// run is the state of one load run. Counters cover the measured window only.
// The hot path works on per-connection tallies (tally) folded in every few
// hundred responses, so connections share only a few atomics.
type run struct {
	spec
	addrs []string // the target's addresses, in the resolver's order
	addr  string   // the one that answered first
	base  time.Time
	start int64 // ns since base: the clock's start
	win   int64 // start of the measured window
	end   int64 // planned end of sending

	seqPos   atomic.Int64
	sent     atomic.Int64
	inFlight atomic.Int64
	late     atomic.Int64
	connects atomic.Int64

	stopOnce  sync.Once
	stopCh    chan struct{}
	stopping  atomic.Bool
	sendEnd   int64
	stoppedBy string

	mu       sync.Mutex
	hists    []histogram
	lag      histogram
	statuses [][maxStatus]int64
	sentBy   []int64
	failedBy []int64
	dropBy   []int64
	errors   map[string]int64
	samples  map[string]string
	lastDone int64
}

func (r *run) now() int64 { return int64(time.Since(r.base)) }

func (r *run) stop(at int64, by string) {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.sendEnd, r.stoppedBy = at, by
		r.mu.Unlock()
		r.stopping.Store(true)
		close(r.stopCh)
	})
}

func (r *run) nextRequest() int {
	pos := r.seqPos.Add(1) - 1
	return r.Sequence[pos%int64(len(r.Sequence))]
}

// accept counts request req, due or started at t0, as issued; false when max_requests is already reached.
func (r *run) accept(req int, t0 int64, t *tally) bool {
	if t0 < r.win {
		return true
	}
	n := r.sent.Add(1)
	if r.MaxRequests > 0 {
		if n > r.MaxRequests {
			r.sent.Add(-1)
			return false
		}
		if n == r.MaxRequests {
			r.stop(r.now(), "max_requests")
		}
	}
	t.sentBy[req]++
	return true
}

// tally is one connection's (or the scheduler's) share of the counters.
type tally struct {
	r        *run
	reqs     []int32
	statuses []int16
	lats     []int64
	lags     []int64
	sentBy   []int64
	dropBy   []int64
	lastDone int64
}

func (r *run) newTally() *tally {
	n := len(r.Payloads)
	return &tally{
		r: r, reqs: make([]int32, 0, flushEvery), statuses: make([]int16, 0, flushEvery),
		lats: make([]int64, 0, flushEvery), sentBy: make([]int64, n), dropBy: make([]int64, n),
	}
}

func (t *tally) done(req, status int, latency, now int64) {
	t.reqs = append(t.reqs, int32(req))
	t.statuses = append(t.statuses, int16(status))
	t.lats = append(t.lats, latency)
	t.lastDone = now
	if len(t.lats) == flushEvery {
		t.flush()
	}
}

func (t *tally) flush() {
	r := t.r
	r.mu.Lock()
	for i, req := range t.reqs {
		r.hists[req].record(t.lats[i])
		r.statuses[req][t.statuses[i]]++
	}
	for _, v := range t.lags {
		r.lag.record(v)
	}
	for i := range t.sentBy {
		r.sentBy[i] += t.sentBy[i]
		r.dropBy[i] += t.dropBy[i]
		t.sentBy[i], t.dropBy[i] = 0, 0
	}
	r.lastDone = max(r.lastDone, t.lastDone)
	r.mu.Unlock()
	t.reqs, t.statuses, t.lats, t.lags = t.reqs[:0], t.statuses[:0], t.lats[:0], t.lags[:0]
}

// fail counts a failed request; measured or not, the first message of its kind is kept.
func (r *run) fail(req int, measured bool, kind, message string) {
	now := r.now()
	r.mu.Lock()
	if measured {
		r.failedBy[req]++
		r.errors[kind]++
		r.lastDone = max(r.lastDone, now)
	}
	if _, ok := r.samples[kind]; !ok {
		r.samples[kind] = message
	}
	r.mu.Unlock()
}

// conn is one keep-alive connection with its read buffer.
type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func (r *run) dial(timeout time.Duration) (*conn, error) {
	c, err := net.DialTimeout("tcp", r.addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	r.connects.Add(1)
	return &conn{c: c, br: bufio.NewReaderSize(c, maxHead)}, nil
}

func (r *run) target() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// dialError sorts a failed connect into the Python engine's error kinds.
func (r *run) dialError(err error) (string, string) {
	t := r.target()
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect_refused", fmt.Sprintf("connection to %s refused: %s", t, syscall.ECONNREFUSED.Error())
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout", fmt.Sprintf("no connection to %s within %s s", t, seconds(r.TimeoutNs))
	default:
		return "connect_error", fmt.Sprintf("cannot connect to %s: %v", t, err)
	}
}

// exchangeError sorts a failed request on an open connection.
func (r *run) exchangeError(err error) (string, string) {
	var ne net.Error
	var bad *malformedError
	switch {
	case errors.As(err, &bad):
		return "malformed", bad.why
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout", fmt.Sprintf("no complete response within %s s", seconds(r.TimeoutNs))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed", "the service closed the connection before responding"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_reset", fmt.Sprintf("connection reset: %v", err)
	default:
		return "connection_reset", fmt.Sprintf("connection broke: %v", err)
	}
}

// exchange writes request req on c and reads its response; the deadline covers both.
func (r *run) exchange(c *conn, req int, deadline time.Time) (int, bool, error) {
	_ = c.c.SetDeadline(deadline)
	if _, err := c.c.Write(r.Payloads[req]); err != nil {
		return 0, true, err
	}
	return readResponse(c.br, r.NoBody[req])
}

func seconds(ns int64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'g', -1, 64)
}

// preconnect opens n connections before the clock starts; none is a fatal error.
func (r *run) preconnect(n int) ([]*conn, string) {
	conns := make([]*conn, n)
	errs := make([]error, n)
	// The first connection tries each address in turn; the others go where it went.
	for _, a := range r.addrs {
		r.addr = a
		if conns[0], errs[0] = r.dial(time.Duration(r.TimeoutNs)); conns[0] != nil {
			break
		}
	}
	var wg sync.WaitGroup
	for i := range conns[1:] {
		i := i + 1
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conns[i], errs[i] = r.dial(time.Duration(r.TimeoutNs))
		}(i)
	}
	wg.Wait()
	good := conns[:0]
	var first error
	for i, c := range conns {
		if c != nil {
			good = append(good, c)
		} else if first == nil {
			first = errs[i]
		}
	}
	if len(good) > 0 {
		return good, ""
	}
	var ne net.Error
	what := fmt.Sprintf("%v", first)
	if errors.Is(first, syscall.ECONNREFUSED) {
		what = "connection refused"
	} else if errors.As(first, &ne) && ne.Timeout() {
		what = fmt.Sprintf("no connection within %s s", seconds(r.TimeoutNs))
	}
	return nil, fmt.Sprintf("cannot load %s:%d: %s; is the service running and listening on that address?", r.Host, r.Port, what)
}

func (r *run) begin() {
	r.start = r.now()
	r.win = r.start + r.WarmupNs
	r.end = r.win + r.DurationNs
}

// ---- closed model: each client sends as soon as its last answer came --------

func (r *run) runClosed() string {
	ready, fatal := r.preconnect(r.Concurrency)
	if fatal != "" {
		return fatal
	}
	r.begin()
	endTimer := time.AfterFunc(time.Duration(r.end-r.now()), func() { r.stop(r.end, "duration") })
	defer endTimer.Stop()
	var wg sync.WaitGroup
	for i := 0; i < r.Concurrency; i++ {
		var c *conn
		if i < len(ready) {
			c = ready[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.closedClient(c)
		}()
	}
	wg.Wait()
	return ""
}

func (r *run) closedClient(c *conn) {
	t := r.newTally()
	defer func() {
		if c != nil {
			c.c.Close()
		}
		t.flush()
	}()
	timeout := time.Duration(r.TimeoutNs)
	for !r.stopping.Load() {
		now := r.now()
		if now >= r.end {
			r.stop(r.end, "duration")
			return
		}
		req := r.nextRequest()
		if !r.accept(req, now, t) {
			return
		}
		measured := now >= r.win
		if c == nil {
			var err error
			if c, err = r.dial(timeout); err != nil {
				kind, msg := r.dialError(err)
				r.fail(req, measured, kind, msg)
				time.Sleep(reconnectPause)
				continue
			}
		}
		status, closeAfter, err := r.exchange(c, req, r.base.Add(time.Duration(now+r.TimeoutNs)))
		if err != nil {
			kind, msg := r.exchangeError(err)
			r.fail(req, measured, kind, msg)
			c.c.Close()
			c = nil
			continue
		}
		if measured {
			done := r.now()
			t.done(req, status, done-now, done)
		}
		if closeAfter {
			c.c.Close()
			c = nil
		}
	}
}

// ---- open model: request i is due at start + i/rate ---------------------------

type job struct {
	req int
	due int64
}

func (r *run) runOpen() string {
	ready, fatal := r.preconnect(min(r.Connections, openPreconnect))
	if fatal != "" {
		return fatal
	}
	// The line of requests waiting for a free connection; it never holds more
	// than in_flight_cap, since every job in it counts as in flight.
	jobs := make(chan job, r.InFlightCap)
	drained := make(chan struct{})
	var idle, slots atomic.Int64
	var wg sync.WaitGroup
	spawn := func(c *conn, first *job) {
		slots.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.openConn(c, first, jobs, drained, &idle)
		}()
	}
	r.begin()
	for _, c := range ready {
		spawn(c, nil)
	}
	t := r.newTally()
	interval := 1e9 / r.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; {
		now := r.now()
		due := r.start + int64(float64(i)*interval)
		for due <= now {
			if due >= r.end {
				r.stop(r.end, "duration")
				break
			}
			req := r.nextRequest()
			if r.inFlight.Load() >= int64(r.InFlightCap) {
				if due >= r.win {
					t.dropBy[req]++
				}
			} else if r.accept(req, due, t) {
				r.inFlight.Add(1)
				j := job{req, due}
				if idle.Load() == 0 && slots.Load() < int64(r.Connections) {
					spawn(nil, &j)
				} else {
					jobs <- j // never blocks: at most in_flight_cap are in flight
				}
			}
			if r.stopping.Load() {
				break
			}
			i++
			due = r.start + int64(float64(i)*interval)
		}
		if r.stopping.Load() {
			break
		}
		timer.Reset(time.Duration(due - r.now()))
		select {
		case <-timer.C:
		case <-r.stopCh:
		}
		if r.stopping.Load() {
			break
		}
	}
	t.flush()
	// Wait for the answers outstanding, at most the request timeout.
	limit := r.now() + r.TimeoutNs
	for r.inFlight.Load() > 0 && r.now() < limit {
		time.Sleep(time.Millisecond)
	}
	close(drained)
	wg.Wait()
	for {
		select {
		case j := <-jobs:
			r.fail(j.req, j.due >= r.win, "timeout", fmt.Sprintf("waited %s s for a free connection", seconds(r.TimeoutNs)))
		default:
			return ""
		}
	}
}

func (r *run) openConn(c *conn, first *job, jobs <-chan job, drained <-chan struct{}, idle *atomic.Int64) {
	t := r.newTally()
	defer func() {
		if c != nil {
			c.c.Close()
		}
		t.flush()
	}()
	timeout := time.Duration(r.TimeoutNs)
	for {
		var j job
		if first != nil {
			j, first = *first, nil
		} else {
			idle.Add(1)
			select {
			case j = <-jobs:
				idle.Add(-1)
			case <-drained:
				idle.Add(-1)
				return
			}
		}
		now := r.now()
		measured := j.due >= r.win
		if now-j.due >= r.TimeoutNs {
			r.fail(j.req, measured, "timeout", fmt.Sprintf("waited %s s for a free connection", seconds(r.TimeoutNs)))
			r.inFlight.Add(-1)
			continue
		}
		if measured {
			lag := now - j.due
			t.lags = append(t.lags, lag)
			if lag > lateAfterNs {
				r.late.Add(1)
			}
		}
		if c == nil {
			var err error
			if c, err = r.dial(timeout); err != nil {
				kind, msg := r.dialError(err)
				r.fail(j.req, measured, kind, msg)
				r.inFlight.Add(-1)
				time.Sleep(reconnectPause)
				continue
			}
		}
		status, closeAfter, err := r.exchange(c, j.req, r.base.Add(time.Duration(now+r.TimeoutNs)))
		if err != nil {
			kind, msg := r.exchangeError(err)
			r.fail(j.req, measured, kind, msg)
			r.inFlight.Add(-1)
			c.c.Close()
			c = nil
			continue
		}
		done := r.now()
		if measured {
			t.done(j.req, status, done-j.due, done)
		} else if len(t.lags) >= flushEvery {
			t.flush()
		}
		r.inFlight.Add(-1)
		if closeAfter {
			c.c.Close()
			c = nil
		}
	}
}

// ---- set-up and result ------------------------------------------------------

func (s *spec) check() string {
	switch {
	case len(s.Payloads) == 0 || len(s.NoBody) != len(s.Payloads) || len(s.Sequence) == 0:
		return "the scenario needs at least one request"
	case s.DurationNs <= 0 || s.WarmupNs < 0 || s.DurationNs+s.WarmupNs > maxDurationNs:
		return fmt.Sprintf("warmup + duration must be positive and at most %d s", maxDurationNs/1e9)
	case s.TimeoutNs <= 0:
		return "the timeout must be positive"
	case s.MaxRequests < 0:
		return "max_requests must be positive"
	case s.Model == "closed" && (s.Concurrency < 1 || s.Concurrency > hardInFlightCap):
		return fmt.Sprintf("concurrency must be between 1 and %d", hardInFlightCap)
	case s.Model == "open" && (s.Rate <= 0 || s.InFlightCap < 1 || s.InFlightCap > hardInFlightCap ||
		s.Connections < 1 || s.Connections > hardInFlightCap):
		return fmt.Sprintf("the open model needs a positive rate and caps between 1 and %d", hardInFlightCap)
	case s.Model != "open" && s.Model != "closed":
		return fmt.Sprintf("unknown model %q", s.Model)
	}
	for _, i := range s.Sequence {
		if i < 0 || i >= len(s.Payloads) {
			return "the request sequence names a request that is not in the scenario"
		}
	}
	return ""
}

// lookup lists the addresses of host, loopback ones only unless allowRemote (the
// Python side checked the name already; this is the same rule on what it resolves to).
func lookup(host string, port int, allowRemote bool, timeout time.Duration) ([]string, string, string) {
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		found, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, "", fmt.Sprintf("cannot load %s:%d: %v; is the service running and listening on that address?", host, port, err)
		}
		for _, a := range found {
			ips = append(ips, a.IP)
		}
	}
	var addrs []string
	for _, ip := range ips {
		if !allowRemote && !ip.IsLoopback() {
			return nil, fmt.Sprintf("load target %s resolves to %s, not a loopback address; pass allow_remote=True (--allow-remote) to load it", host, ip), ""
		}
		addrs = append(addrs, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	}
	if len(addrs) == 0 {
		return nil, "", fmt.Sprintf("cannot load %s:%d: no address for %s", host, port, host)
	}
	return addrs, "", ""
}

func main() {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	out := json.NewEncoder(os.Stdout)
	var s spec
	if err == nil {
		err = json.Unmarshal(line, &s)
	}
	if err != nil {
		_ = out.Encode(resultJSON{ConfigError: fmt.Sprintf("cannot read the scenario on standard input: %v", err)})
		os.Exit(2)
	}
	if msg := s.check(); msg != "" {
		_ = out.Encode(resultJSON{ConfigError: msg})
		os.Exit(2)
	}
	addrs, bad, fatal := lookup(s.Host, s.Port, s.AllowRemote, time.Duration(s.TimeoutNs))
	if bad != "" {
		_ = out.Encode(resultJSON{ConfigError: bad})
		os.Exit(2)
	}
	if fatal != "" {
		_ = out.Encode(resultJSON{Fatal: fatal})
		os.Exit(1)
	}
	r := &run{
		spec: s, addrs: addrs, addr: addrs[0], base: time.Now(), stopCh: make(chan struct{}),
		hists: make([]histogram, len(s.Payloads)), statuses: make([][maxStatus]int64, len(s.Payloads)),
		sentBy: make([]int64, len(s.Payloads)), failedBy: make([]int64, len(s.Payloads)),
		dropBy: make([]int64, len(s.Payloads)), errors: map[string]int64{}, samples: map[string]string{},
		stoppedBy: "duration",
	}
	// A bound of its own: whatever happens to the Python side, the worker ends.
	hard := time.Duration(s.WarmupNs+s.DurationNs+2*s.TimeoutNs) + 10*time.Second
	time.AfterFunc(hard, func() {
		fmt.Fprintf(os.Stderr, "load worker: still running %s after its start; exiting\n", hard)
		os.Exit(3)
	})
	// The end of standard input (or any line) ends the sending early.
	go func() {
		_, _ = in.ReadByte()
		r.stop(r.now(), "stop_event")
	}()
	var msg string
	if s.Model == "closed" {
		msg = r.runClosed()
	} else {
		msg = r.runOpen()
	}
	if msg != "" {
		_ = out.Encode(resultJSON{Fatal: msg})
		os.Exit(1)
	}
	_ = out.Encode(r.result())
}

func (r *run) result() resultJSON {
	r.mu.Lock()
	defer r.mu.Unlock()
	sendEnd := r.sendEnd
	if sendEnd == 0 {
		sendEnd = r.end
	}
	res := resultJSON{
		StoppedBy: r.stoppedBy, Sent: r.sent.Load(), Late: r.late.Load(), Connections: r.connects.Load(),
		DurationNs: max(0, sendEnd-r.win), ElapsedNs: max(0, max(sendEnd, r.lastDone)-r.win),
		Errors: r.errors, Samples: r.samples, SendLag: r.lag.toJSON(),
	}
	for i := range r.Payloads {
		codes := map[string]int64{}
		for code, n := range r.statuses[i] {
			if n != 0 {
				codes[strconv.Itoa(code)] = n
			}
		}
		res.Requests = append(res.Requests, requestJSON{
			Sent: r.sentBy[i], Failed: r.failedBy[i], Dropped: r.dropBy[i], Statuses: codes, Latency: r.hists[i].toJSON(),
		})
	}
	return res
}
