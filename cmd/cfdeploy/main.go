// Command cfdeploy deploys a directory to a cfhost and manages its projects:
// init, deploy, projects, deployments, rollback, dev and version, as
// CONTRACT.md describes. Exit status: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainRun())
}

// mainRun is main without the exit, so that testscript can run it as a
// command inside the test binary.
func mainRun() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], systemIO())
}
