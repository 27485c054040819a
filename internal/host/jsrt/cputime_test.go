package jsrt

import "testing"

// cpuClock measures the CPU time the process spends over a benchmark loop:
// on a shared, loaded machine it moves far less between runs than wall
// time does.
type cpuClock struct{ start int64 }

func startCPU() cpuClock { return cpuClock{processCPU()} }

// report adds the CPU time per iteration as "cpu-us/op".
func (c cpuClock) report(b *testing.B) {
	b.Helper()
	if b.N > 0 && c.start > 0 {
		b.ReportMetric(float64(processCPU()-c.start)/float64(b.N)/1e3, "cpu-us/op")
	}
}
