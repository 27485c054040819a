package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cfdeploy/cfdeploy/internal/host/worker"
)

// scriptGuests are the wasm guests scripts may ask for, by name, with the
// package each is built from.
var scriptGuests = map[string]string{
	"app":   "../../internal/host/worker/testdata/guests/app",
	"hello": "../../examples/go-hello",
	"env":   "./testdata/guests/env",
}

var (
	guestMu    sync.Mutex
	guestBuilt = map[string][]byte{}
)

// cmdGuest: guest NAME FILE — writes the wasm guest NAME, compiled for
// wasip1 once per test binary, to FILE. It also compiles it to machine code
// into the script host's wasm cache: under the race detector on a loaded
// machine that takes longer than cfdeploy waits for a deploy's answer, and a
// deploy compiles its entrypoint before answering.
func cmdGuest(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: guest NAME FILE")
	}
	b, err := buildScriptGuest(args[0])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
	ctx := context.Background()
	rt, err := worker.New(ctx, worker.Config{CacheDir: scriptHostDir(ts) + "/wasm-cache"})
	ts.Check(err)
	defer rt.Close(ctx)
	ts.Check(rt.Prepare(ctx, worker.Hash(b), b))
}

func buildScriptGuest(name string) ([]byte, error) {
	guestMu.Lock()
	defer guestMu.Unlock()
	if b, ok := guestBuilt[name]; ok {
		return b, nil
	}
	src, ok := scriptGuests[name]
	if !ok {
		return nil, fmt.Errorf("no guest %q", name)
	}
	dir, err := os.MkdirTemp("", "script-guest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, src)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build guest %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	guestBuilt[name] = b
	return b, nil
}

// scriptHostData is the data directory of each script's host, under $WORK.
const scriptHostData = ".hostdata"

func scriptHostDir(ts *testscript.TestScript) string {
	return ts.Getenv("WORK") + "/" + scriptHostData
}
