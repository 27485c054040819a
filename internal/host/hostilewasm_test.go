package host

import (
	"encoding/base64"
	"net/http"
	"slices"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// wasmSection is one section of a hand-made module: id, size, body.
func wasmSection(id byte, body ...byte) []byte {
	if len(body) > 127 {
		panic("wasmSection: a one-byte size only")
	}
	return append([]byte{id, byte(len(body))}, body...)
}

func wasmName(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// TestHostileModulesRefusedAtDeploy deploys, as server code, modules of a
// few dozen bytes made to hurt the host, and wants each refused with 400
// while the host goes on serving. Before the rewrite checked them, the
// first two ended the host process at deploy ("fatal error: runtime: out
// of memory": the compiler allocated tens of GiB for a count the module
// claims), and the third was deployed, its code writing the stop and fuel
// globals the rewrite adds, so that no deadline could stop it.
func TestHostileModulesRefusedAtDeploy(t *testing.T) {
	t.Parallel()
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	header := []byte("\x00asm\x01\x00\x00\x00")
	command := slices.Concat(
		wasmSection(1, 1, 0x60, 0, 0), // type [] -> []
		wasmSection(3, 1, 0),          // one function
		wasmSection(5, 1, 0, 1),       // a memory of one page
		wasmSection(7, slices.Concat([]byte{2}, wasmName("_start"), []byte{0, 0}, wasmName("memory"), []byte{2, 0})...),
	)
	escape := []byte{0x03, 0x40, // loop
		0x41, 0, 0x24, 1, // stop = 0
		0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x24, 0, // fuel = 2^31-1
		0x0c, 0, 0x0b, 0x0b} // br 0, end, end
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"2^32-1 function names", slices.Concat(header, command,
			wasmSection(10, 1, 2, 0, 0x0b),
			wasmSection(0, slices.Concat(wasmName("name"), []byte{1, 5}, huge)...))},
		{"2^32-1 element entries", slices.Concat(header,
			wasmSection(1, 1, 0x60, 0, 0), wasmSection(3, 1, 0), wasmSection(4, 1, 0x70, 0, 0), wasmSection(5, 1, 0, 1),
			wasmSection(7, slices.Concat([]byte{2}, wasmName("_start"), []byte{0, 0}, wasmName("memory"), []byte{2, 0})...),
			wasmSection(9, slices.Concat([]byte{1, 0, 0x41, 0, 0x0b}, huge)...),
			wasmSection(10, 1, 2, 0, 0x0b))},
		{"code writing the stop", slices.Concat(header, command,
			wasmSection(10, slices.Concat([]byte{1, byte(len(escape) + 1), 0}, escape)...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := newTestHost(t)
			p := th.createProject("hostile")
			req := api.DeployRequest{CompletionJWT: th.upload(p.ID, siteFiles{"/index.html": "static"}),
				ServerCode: &api.ServerCode{Entrypoint: "app.wasm", Modules: map[string]api.Module{
					"app.wasm": {Content: base64.StdEncoding.EncodeToString(tc.wasm)},
				}}}
			resp, body := th.do("POST", "/__api/projects/"+p.ID+"/deploy", req)
			wantError(t, resp, body, http.StatusBadRequest, api.CodeInvalid)
			if resp, _ := th.do("GET", "/__api/projects/"+p.ID, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("after the deploy the host answers %d", resp.StatusCode)
			}
		})
	}
}
