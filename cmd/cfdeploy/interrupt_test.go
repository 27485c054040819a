package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host"
)

// TestInterruptedDeployExits130 interrupts a real deploy mid-upload the way
// Ctrl-C does (the context is cancelled with signal.NotifyContext's cause,
// which is not context.Canceled): the exit status is 130, the message says
// that running the same command resumes, and running it again completes.
func TestInterruptedDeployExits130(t *testing.T) {
	t.Parallel()
	_, hostURL := startHost(t, host.Config{})
	ctx, interrupt := context.WithCancelCause(context.Background())
	next := reverseTo(strings.TrimPrefix(hostURL, "http://"))
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/assets/upload") {
			interrupt(errors.New("interrupt signal received"))
			http.Error(w, "interrupted", http.StatusBadGateway)
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	p, err := newClient(t, hostURL).CreateProject(context.Background(), "interrupted")
	if err != nil {
		t.Fatal(err)
	}
	dir, files := makeSite(t, 20)
	args := []string{"deploy", dir, "--project", p.ID, "--token", testToken}
	var stderr bytes.Buffer
	code := run(ctx, append(args, "--host", proxy.URL), &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr})
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Run the same command to resume") {
		t.Errorf("stderr does not say how to resume:\n%s", stderr.String())
	}

	stderr.Reset()
	if code := run(context.Background(), append(args, "--host", hostURL), &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr}); code != 0 {
		t.Fatalf("run again: exit %d:\n%s", code, stderr.String())
	}
	checkServed(t, hostURL, p.ID, files)
}
