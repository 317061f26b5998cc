package testenv

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// ResetPeakRSS makes the kernel's peak-RSS counter of this process (VmHWM) start again
// from the current RSS, after returning the garbage so far to the system, so that PeakRSS
// measures what follows. Where Linux's clear_refs is missing it logs that the peak
// includes the setup.
func ResetPeakRSS(tb testing.TB) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Logf("cannot reset the peak RSS (%v): it includes the setup", err)
	}
}

// PeakRSS is this process's peak resident set size (VmHWM) in bytes, 0 where /proc is
// missing.
func PeakRSS(tb testing.TB) int64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(st)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("VmHWM in /proc/self/status: %v", err)
			}
			return kb << 10
		}
	}
	return 0
}
