package host

import (
	"fmt"
	"testing"
)

// BenchmarkProjectFromDomain measures what a custom domain adds to routing
// a request, with 10000 domains in the table: one map lookup (two for a
// wildcard) and no allocation.
func BenchmarkProjectFromDomain(b *testing.B) {
	h := &Host{}
	t := &domainTable{exact: map[string]string{}, wildcard: map[string]string{}}
	for i := range 10000 {
		t.exact[fmt.Sprintf("www.site%d.example", i)] = "p"
		t.wildcard[fmt.Sprintf("site%d.example", i)] = "p"
	}
	h.domains.table.Store(t)
	for _, c := range []struct{ name, host string }{
		{"exact", "www.site42.example"},
		{"wildcard", "shop.site42.example:8080"},
		{"miss", "unknown.example.org"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.projectFromDomain(c.host)
			}
		})
	}
}
