package bench

import (
	"testing"
	"time"
)

// The machine's busy time includes this process's: after burning 300 ms of CPU here, the
// snapshot's machine figure must have grown by at least that (less a tick of rounding on
// each of the two CPUs).
func TestMachineCPUCountsThisProcess(t *testing.T) {
	before, start := snapshotCPU(), selfCPU(t)
	x := 0
	for selfCPU(t)-start < 300*time.Millisecond {
		for i := range 1_000_000 {
			x += i
		}
	}
	used, burnt := before.since(), selfCPU(t)-start
	if slack := 2 * time.Second / userHZ; used.machine < burnt-slack {
		t.Fatalf("machine CPU grew by %v while this process alone used %v (%d)", used.machine, burnt, x)
	}
}
