package main

import "math/bits"

// The bucket layout of pytest_goperf/load/histogram.py: one bucket per nanosecond
// below 256 ns, then 128 buckets per power of two up to 2**40 ns.
const (
	subBits      = 7
	linearLimit  = 1 << (subBits + 1)
	maxTrackable = int64(1) << 40
	topShift     = 40 - (subBits + 1)
	bucketCount  = topShift<<subBits + linearLimit
)

func bucketIndex(v int64) int {
	if v < linearLimit {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	if v >= maxTrackable {
		return bucketCount - 1
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	return shift<<subBits + int(v>>shift)
}

type histogram struct {
	counts [bucketCount]int64
	count  int64
	total  int64
	min    int64
	max    int64
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketIndex(v)]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.total += v
}

// histJSON is the sparse form read by histogram_from_sparse on the Python side.
type histJSON struct {
	Count   int64      `json:"count"`
	Total   int64      `json:"total_ns"`
	Min     int64      `json:"min_ns"`
	Max     int64      `json:"max_ns"`
	Buckets [][2]int64 `json:"buckets"`
}

func (h *histogram) toJSON() histJSON {
	out := histJSON{Count: h.count, Total: h.total, Min: h.min, Max: h.max, Buckets: [][2]int64{}}
	for i, c := range h.counts {
		if c != 0 {
			out.Buckets = append(out.Buckets, [2]int64{int64(i), c})
		}
	}
	return out
}
