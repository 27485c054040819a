package dashboard

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSafeNext(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/__dashboard/projects/x", "/__dashboard/projects/x"},
		{"/__dashboard/?q=a", "/__dashboard/?q=a"},
		{"", "/__dashboard/"},
		{"https://evil.example/", "/__dashboard/"},
		{"//evil.example/__dashboard/", "/__dashboard/"},
		{"/__dashboard//evil.example", "/__dashboard/"},
		{"/__dashboard/\\evil", "/__dashboard/"},
		{"/__api/projects", "/__dashboard/"},
		{"/__dashboardx", "/__dashboard/"},
	} {
		if got := safeNext(c.in); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLogLine(t *testing.T) {
	for _, c := range []struct{ name, in, want, not string }{
		{"fields", `{"time":"2026-12-04T10:00:00Z","level":"error","message":"boom <b>"}`, `<span class="log-msg">boom &lt;b&gt;</span>`, "<b>"},
		{"not JSON", `<script>alert(1)</script>`, `&lt;script&gt;`, "<script>"},
		{"hostile level", `{"level":"x\" onclick=\"alert(1)","msg":"m"}`, `log-x&#34; onclick=&#34;alert(1)`, `" onclick="`},
		{"no message", `{"a":1}`, `{&#34;a&#34;:1}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := logLine([]byte(c.in))
			if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
				t.Errorf("logLine(%s) = %s", c.in, got)
			}
		})
	}
}

func TestSealerRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k := newSealer([]byte("secret"), time.Hour)
	s := newSession("tok", "", now)
	v := k.seal(s)
	if got, err := k.open(v, now.Add(time.Minute)); err != nil || got.Token != "tok" {
		t.Fatalf("open: %v %+v", err, got)
	}
	for _, c := range []struct {
		name string
		k    *sealer
		v    string
		at   time.Time
	}{
		{"expired", k, v, now.Add(time.Hour + time.Second)},
		{"from the future", k, v, now.Add(-time.Hour)},
		{"other secret", newSealer([]byte("other"), time.Hour), v, now},
		{"truncated", k, v[:10], now},
		{"empty", k, "", now},
	} {
		if _, err := c.k.open(c.v, c.at); err == nil {
			t.Errorf("%s: opened", c.name)
		}
	}
	if k.csrfToken(s) == k.csrfToken(newSession("tok", "", now)) {
		t.Error("two sessions share a CSRF token")
	}
}

func TestAgo(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "just now"},
		{90 * time.Second, "2 minutes ago"},
		{61 * time.Minute, "1 hour ago"},
		{50 * time.Hour, "2 days ago"},
		{400 * 24 * time.Hour, "13 months ago"},
		{800 * 24 * time.Hour, "2 years ago"},
	} {
		if got := ago(time.Now().Add(-c.d)); got != c.want {
			t.Errorf("ago(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"", "localhost:8788", true},
		{"http://localhost:8788", "localhost:8788", true},
		{"https://LOCALHOST:8788", "localhost:8788", true},
		{"http://localhost:8789", "localhost:8788", false},
		{"null", "localhost:8788", false},
		{"http://evil.example", "localhost:8788", false},
		{"http://localhost:8788.evil.example", "localhost:8788", false},
	} {
		r := httptest.NewRequest("POST", "http://"+c.host+"/__dashboard/sign-in", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r); got != c.want {
			t.Errorf("Origin %q on %s: %v, want %v", c.origin, c.host, got, c.want)
		}
	}
}
