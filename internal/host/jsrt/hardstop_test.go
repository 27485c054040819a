package jsrt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// slowBuiltin is one C builtin call that takes seconds and never polls the
// interrupt handler: replaceAll on a string of 8 MB.
const slowBuiltin = `"ab".repeat(1 << 22).replaceAll("a", "xy");`

// TestDeadlineStopsSlowBuiltin runs slowBuiltin past a 300 ms deadline on
// an instance: the run must end stopped inside the builtin, by the engine's
// wasmstop probes, not by the JS "interrupted" exception (thrown only once
// the builtin has returned) nor by the bridge refusing a host call after
// the deadline (reached only then too).
func TestDeadlineStopsSlowBuiltin(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	prog := jsProgram("index.js", map[string]string{"index.js": `export default { fetch(req) {
		` + slowBuiltin + `
		console.log("returned");
		return new Response("ok");
	} };`}, nil)
	in, err := newInstance(context.Background(), r.rt, r.engine, &r.snap, prog)
	if err != nil {
		t.Fatal(err)
	}
	defer in.close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	b, ctx := budgetFrom(ctx)
	c := &call{req: &Request{Method: "GET", URL: "http://x/"}, w: &bufWriter{}, budget: b, max: 1 << 20}
	disarm := in.stop.Arm(ctx)
	_, err = in.run(ctx, c)
	stopped := disarm()
	var je *Error
	var tr trap
	if err == nil || errors.As(err, &je) || errors.As(err, &tr) || !stopped {
		t.Fatalf("got %v (stopped %v), want the run stopped inside the builtin", err, stopped)
	}
}

// TestSlowBuiltinIs504 sends slowBuiltin through Fetch: 504, and the
// deployment serves again on a new instance.
func TestSlowBuiltinIs504(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{Timeout: 300 * time.Millisecond})
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { fetch(req) {
		if (new URL(req.url).pathname === "/slow") ` + slowBuiltin + `
		return new Response("ok");
	} };`}, nil))
	defer d.Close(context.Background())
	_, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/slow"})
	var f *Failure
	if !errors.As(err, &f) || f.Status != 504 {
		t.Fatalf("got %v, want a 504 failure", err)
	}
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
	if err != nil || string(res.Body) != "ok" {
		t.Fatalf("after the deadline: %v %v", res, err)
	}
}
