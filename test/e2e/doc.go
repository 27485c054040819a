// Package e2e proves cfhost under faults, end to end: it builds the real
// cfhost binary, runs it as a separate process on 127.0.0.1 and drives it
// through pkg/client and plain HTTP, the way users and their browsers do.
//
// The tests kill the server with SIGKILL mid-deploy and check that nothing
// is lost, hammer a project while it is redeployed and check that no page
// load ever mixes versions, throw hostile input at every door, fill the disk,
// and load a deployed single-page app in a real headless Chromium.
//
// Nothing here is imported by other packages; the package holds only tests
// and their fixtures. See the "Proving it" section of the README for how to
// run the long soak variants (CFHOST_SOAK=1).
package e2e
