package main

// The separate pprof listener (-pprof-addr) and the ways real services guard
// or misconfigure it: HTTPS with a certificate of its own, a bearer token or
// basic auth in front of it, a listener bound after the API, or a port that
// answers 200 to everything without being pprof at all.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

type pprofOptions struct {
	tlsDir   string
	token    string
	basic    string
	delay    time.Duration
	catchAll bool
}

// serve starts the pprof listener on addr (after po.delay) and returns its server.
func (po pprofOptions) serve(addr string, writeTimeout time.Duration) (*http.Server, error) {
	var h http.Handler
	if po.catchAll {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "hello")
		})
	} else {
		pm := http.NewServeMux()
		registerPprof(pm)
		h = po.guard(pm)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: writeTimeout}
	if po.tlsDir != "" {
		cert, err := selfSigned(filepath.Join(po.tlsDir, "cert.pem"))
		if err != nil {
			return nil, fmt.Errorf("pprof TLS: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	start := func() error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		fmt.Printf("pprof on %s\n", ln.Addr())
		go func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatalf("serve pprof %s: %v", addr, err)
			}
		}()
		return nil
	}
	if po.delay <= 0 {
		return srv, start()
	}
	go func() {
		time.Sleep(po.delay)
		if err := start(); err != nil {
			log.Fatal(err)
		}
	}()
	return srv, nil
}

// guard answers 401 unless the request carries the configured credentials.
func (po pprofOptions) guard(h http.Handler) http.Handler {
	if po.token == "" && po.basic == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := false
		if po.token != "" {
			ok = subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+po.token)) == 1
		}
		if po.basic != "" {
			u, p, has := r.BasicAuth()
			ok = ok || (has && subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(po.basic)) == 1)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="pprof"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// selfSigned makes a key and a certificate for 127.0.0.1 and localhost, and
// writes the certificate (PEM) to certPath for the client to trust.
func selfSigned(certPath string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "goperf-demo pprof"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certPath, pemBytes, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
