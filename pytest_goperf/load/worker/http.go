package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxHead is the longest response head accepted (the Python engine's _MAX_HEAD).
const maxHead = 64 * 1024

// malformedError is a response that is not valid HTTP/1.1.
type malformedError struct{ why string }

func (e *malformedError) Error() string { return e.why }

func malformed(format string, args ...any) error {
	return &malformedError{fmt.Sprintf(format, args...)}
}

func hasPrefixFold(line []byte, prefix string) bool {
	return len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], []byte(prefix))
}

// readResponse reads one whole response from br and discards its body. It
// returns the status and whether the connection must be closed after it.
// The framing rules are those of RFC 9112 §6.3, as in the Python engine:
// HEAD, 204 and 304 have no body; chunked wins over Content-Length; with
// neither the body runs until the service closes the connection.
func readResponse(br *bufio.Reader, noBody bool) (status int, closeAfter bool, err error) {
	var chunked bool
	length := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return 0, true, malformed("no end of response head within %d bytes", maxHead)
			}
			return 0, true, err
		}
		if len(line) < 13 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (line[12] != ' ' && line[12] != '\r') {
			return 0, true, malformed("response does not start with an HTTP/1.x status line: %q", clip(line))
		}
		code := line[9:12]
		status = 0
		for _, c := range code {
			if c < '0' || c > '9' {
				return 0, true, malformed("bad status code in %q", clip(line))
			}
			status = status*10 + int(c-'0')
		}
		closeAfter = line[7] == '0'
		chunked, length = false, -1
		head := len(line)
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				if errors.Is(err, bufio.ErrBufferFull) {
					return 0, true, malformed("no end of response head within %d bytes", maxHead)
				}
				return 0, true, err
			}
			head += len(h)
			if head > maxHead {
				return 0, true, malformed("no end of response head within %d bytes", maxHead)
			}
			if len(h) <= 2 && (len(h) == 1 || h[0] == '\r') {
				break
			}
			switch h[0] | 0x20 {
			case 'c':
				if hasPrefixFold(h, "content-length:") {
					n, perr := strconv.ParseInt(string(bytes.TrimSpace(h[15:])), 10, 64)
					if perr != nil {
						return 0, true, malformed("the Content-Length header is not a number")
					}
					if n < 0 {
						return 0, true, malformed("negative Content-Length")
					}
					length = n
				} else if hasPrefixFold(h, "connection:") && bytes.Contains(bytes.ToLower(h[11:]), []byte("close")) {
					closeAfter = true
				}
			case 't':
				if hasPrefixFold(h, "transfer-encoding:") && bytes.Contains(bytes.ToLower(h[18:]), []byte("chunked")) {
					chunked = true
				}
			}
		}
		if status >= 100 && status < 200 {
			if status == 101 {
				return 0, true, malformed("the service switched protocols (101); the load engine speaks HTTP/1.1 only")
			}
			continue // an interim response (100 Continue): the real one follows
		}
		break
	}
	switch {
	case noBody || status == 204 || status == 304:
	case chunked:
		if err := readChunked(br); err != nil {
			return 0, true, err
		}
	case length >= 0:
		if _, err := br.Discard(int(length)); err != nil {
			return 0, true, unexpectedEOF(err)
		}
	default:
		if _, err := io.Copy(io.Discard, br); err != nil {
			return 0, true, err
		}
		return status, true, nil
	}
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		return 0, true, malformed("%d unexpected bytes after the response: %q", n, clip(rest))
	}
	return status, closeAfter, nil
}

func readChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return malformed("chunk size line longer than %d bytes", maxHead)
			}
			return unexpectedEOF(err)
		}
		sizeText := line
		if i := bytes.IndexByte(sizeText, ';'); i >= 0 {
			sizeText = sizeText[:i]
		}
		size, perr := strconv.ParseInt(string(bytes.TrimSpace(sizeText)), 16, 64)
		if perr != nil {
			return malformed("bad chunk size line %q", clip(bytes.TrimRight(line, "\r\n")))
		}
		if size < 0 {
			return malformed("negative chunk size")
		}
		if size == 0 {
			trailer := 0
			for { // trailer lines up to an empty line
				t, err := br.ReadSlice('\n')
				if err != nil {
					if errors.Is(err, bufio.ErrBufferFull) {
						return malformed("chunked trailer longer than %d bytes", maxHead)
					}
					return unexpectedEOF(err)
				}
				trailer += len(t)
				if trailer > maxHead {
					return malformed("chunked trailer longer than %d bytes", maxHead)
				}
				if len(t) <= 2 && (len(t) == 1 || t[0] == '\r') {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(size) + 2); err != nil { // the data and its CRLF
			return unexpectedEOF(err)
		}
	}
}

// unexpectedEOF: a connection that ends inside a response closed it early.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
