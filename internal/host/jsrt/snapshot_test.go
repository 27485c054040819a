package jsrt

import (
	"context"
	"strings"
	"testing"
)

// TestInstancesFromTheImageAreTheirOwn: instances after the first start
// from the shim image; each gets its own Math.random sequence, and no
// deployment sees what another's modules did to the global object (the
// image is taken before any tenant module runs).
func TestInstancesFromTheImageAreTheirOwn(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	src := `globalThis.seen = globalThis.seen || [];
globalThis.seen.push(ME);
export default { fetch() { return new Response(globalThis.seen.join(",") + " " + Math.random()); } };`
	got := map[string]bool{}
	for i, me := range []string{"a", "b", "c", "d"} {
		d := r.Load(jsProgram("index.js", map[string]string{"index.js": strings.Replace(src, "ME", `"`+me+`"`, 1)}, nil))
		res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "http://x/"})
		d.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		seen, random, _ := strings.Cut(string(res.Body), " ")
		if seen != me {
			t.Errorf("deployment %d sees the modules of %q", i, seen)
		}
		if got[random] {
			t.Errorf("deployment %d repeats Math.random() %s", i, random)
		}
		got[random] = true
	}
	if r.snap.image.Load() == nil {
		t.Fatal("no shim image was taken")
	}
}
