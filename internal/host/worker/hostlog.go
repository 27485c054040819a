package worker

// hostLogStderr is how much of a failed run's standard error the host's own
// log keeps. The whole text (up to MaxStderr) goes to the project's log; the
// operator's log gets its end, where a crash says why, so that a tenant whose
// every request fails cannot write 64 KiB a request into it.
const hostLogStderr = 1 << 10

// stderrForLog is the end of a guest's standard error, at most hostLogStderr
// bytes, marked when something was cut.
func stderrForLog(s string) string {
	if len(s) <= hostLogStderr {
		return s
	}
	return "(cut) …" + s[len(s)-hostLogStderr:]
}
