package main

// Outgoing HTTP: a service that calls another one over HTTP keeps the
// connections of its client pool open between calls. The idle ones are the
// pool doing its job; a response body that is never closed keeps its
// connection busy forever, the classic client leak. Both go through one
// shared client that calls this service itself (selfURL), the way a real
// service holds one http.Client for a dependency.

import (
	"io"
	"net/http"
	"time"
)

// selfURL is the API's own base URL, set once the listener is bound.
var selfURL string

// sharedClient is the one client of the service's outgoing calls, with its own
// transport (not http.DefaultTransport) and a keep-alive pool.
var sharedClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	},
}

func registerClient(mux *http.ServeMux) {
	mux.HandleFunc("/client/fetch", labelled("client-fetch", clientFetch))
	mux.HandleFunc("/defect/leak-body", labelled("leak-body", leakBody))
}

// clientFetch: calls /healthz through the shared client, reads and closes the
// body. The connection goes back to the pool and idles there: not a leak.
func clientFetch(w http.ResponseWriter, r *http.Request) {
	resp, err := sharedClient.Get(selfURL + "/healthz")
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	writeJSON(w, http.StatusOK, map[string]any{"status": resp.StatusCode, "bytes": n})
}

// leakBody: calls /healthz through the shared client and never reads or
// closes the body. The connection can never return to the pool: its
// readLoop goroutine waits forever for the body to be consumed.
func leakBody(w http.ResponseWriter, r *http.Request) {
	resp, err := sharedClient.Get(selfURL + "/healthz")
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	// defect: resp.Body is neither read to the end nor closed
	writeJSON(w, http.StatusOK, map[string]int{"status": resp.StatusCode})
}
