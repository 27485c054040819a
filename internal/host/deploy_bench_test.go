package host

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

func benchSite(n, size int) siteFiles {
	files := siteFiles{}
	for i := range n {
		files[fmt.Sprintf("/dir%d/file%05d.html", i%50, i)] = fmt.Sprintf("%05d", i) + strings.Repeat("x", size-5)
	}
	return files
}

// BenchmarkFirstDeploy measures a whole three-phase deploy of 10,000 files of
// 4 KiB over real HTTP into a fresh project.
func BenchmarkFirstDeploy(b *testing.B) {
	th := newTestHost(&testing.T{})
	files := benchSite(10000, 4096)
	b.SetBytes(10000 * 4096)
	for b.Loop() {
		p := th.createProject("bench")
		th.deploy(p.ID, files)
	}
}

// BenchmarkRedeployOneChanged measures the host side of redeploying a
// 10,000-file site with one file changed: session, one bucket, finalize.
func BenchmarkRedeployOneChanged(b *testing.B) {
	th := newTestHost(&testing.T{})
	files := benchSite(10000, 64)
	p := th.createProject("bench")
	th.deploy(p.ID, files)
	i := 0
	for b.Loop() {
		i++
		files["/dir0/file00000.html"] = fmt.Sprintf("changed %d", i)
		res := th.deploy(p.ID, files)
		if res.NewAssets != 1 {
			b.Fatalf("new assets %d", res.NewAssets)
		}
	}
}

var _ = http.StatusOK
var _ api.Manifest
