// Command cgocrash dies of a SIGSEGV inside C code while another goroutine
// sleeps: the traceback of a signal crash ("SIGSEGV: segmentation violation",
// "signal arrived during cgo execution", the register dump after the
// goroutines). Run by scripts/capture_dumps.py with GOTRACEBACK=system; needs
// cgo (a C compiler).
package main

/*
static void crash(void) { volatile int *p = 0; *p = 1; }
*/
import "C"

import "time"

func main() {
	go func() { time.Sleep(time.Hour) }()
	time.Sleep(50 * time.Millisecond)
	C.crash()
}
