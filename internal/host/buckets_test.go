package host

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestBucketsInHashOrder checks the buckets a session hands out through the
// real handler: every missing hash exactly once, none the project already
// has, each bucket within the file and byte bounds, and all of them in hash
// order (which the store relies on for locality, see makeBuckets).
func TestBucketsInHashOrder(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("buckets")
	present := siteFiles{}
	for i := range 20 {
		present[fmt.Sprintf("/old/%d.txt", i)] = fmt.Sprintf("old %d", i)
	}
	th.deploy(p.ID, present)

	tests := []struct {
		name  string
		files int
		size  int64
	}{
		{"many small files", 237, 100},
		{"byte bound splits", 9, 15 << 20},
		{"one file", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := present.manifest()
			wantHashes := map[string]int64{}
			for i := range tc.files {
				h := sha(fmt.Appendf(nil, "%s %d", tc.name, i))
				wantHashes[h] = tc.size
				// Two paths per hash: a hash is still asked for once.
				m[fmt.Sprintf("/new/%d.html", i)] = api.ManifestEntry{Hash: h, Size: tc.size}
				m[fmt.Sprintf("/copy/%d.html", i)] = api.ManifestEntry{Hash: h, Size: tc.size}
			}
			resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", api.UploadSessionRequest{Manifest: m})
			buckets := want[api.UploadSessionResponse](t, resp, body, http.StatusOK).Result.Buckets
			var all []string
			for i, b := range buckets {
				var bytes int64
				for _, h := range b {
					bytes += wantHashes[h]
				}
				if len(b) == 0 || len(b) > maxBucketFiles || (bytes > maxBucketBytes && len(b) > 1) {
					t.Errorf("bucket %d: %d files, %d bytes", i, len(b), bytes)
				}
				all = append(all, b...)
			}
			if !slices.IsSorted(all) {
				t.Errorf("buckets are not in hash order")
			}
			got := map[string]bool{}
			for _, h := range all {
				if _, ok := wantHashes[h]; !ok {
					t.Errorf("bucketed hash %s is not a missing one", h)
				}
				if got[h] {
					t.Errorf("hash %s bucketed twice", h)
				}
				got[h] = true
			}
			if len(got) != len(wantHashes) {
				t.Errorf("%d hashes bucketed, want %d", len(got), len(wantHashes))
			}
		})
	}
}
