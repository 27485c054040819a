// Command cfdeploy deploys a directory to a cfhost and manages its projects:
// init, deploy, projects, deployments, rollback, dev and version (every flag
// is in docs/configuration.md). Exit status: 0 success, 1 failure, 2 usage
// error.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	tuneGC()
	os.Exit(mainRun())
}

// tuneGC lets the heap grow to five times the live data between
// collections instead of the default two, unless GOGC says otherwise. A
// command's live heap is small (a deploy of 10,000 files holds a few MB),
// so with the default the collector runs several times during the walk and
// hash phases; that was a fifth of a warm deploy's CPU time.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
}

// mainRun is main without the exit, so that testscript can run it as a
// command inside the test binary.
func mainRun() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], systemIO())
}
