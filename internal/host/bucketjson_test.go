package host

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

// sameAsEncodingJSON fails unless parseBucketFast either declines b or
// returns exactly what encoding/json makes of it as a map[string]string.
func sameAsEncodingJSON(t *testing.T, b []byte) (fast bool) {
	t.Helper()
	got, ok := parseBucketFast(b)
	if !ok {
		return false
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("fast parser accepted %q, encoding/json refuses it: %v", b, err)
	}
	if want == nil {
		t.Fatalf("fast parser accepted %q, encoding/json makes a nil map of it", b)
	}
	gotS := make(map[string]string, len(got))
	for k, v := range got {
		gotS[k] = string(v)
	}
	if !maps.Equal(gotS, want) {
		t.Fatalf("fast parser read %q as %v, encoding/json as %v", b, gotS, want)
	}
	return true
}

func TestParseBucketFast(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		body string
		fast bool // taken by the fast path (else left to encoding/json)
	}{
		{"one file", `{"` + h + `":"aGVsbG8="}`, true},
		{"two files with whitespace", " \t\r\n{ \"a\" : \"YQ==\" ,\n\"b\":\"\" } \n", true},
		{"empty object", `{}`, true},
		{"empty object with space", " { } ", true},
		{"repeated key keeps the last", `{"a":"MQ==","a":"Mg=="}`, true},
		{"non-ASCII key", `{"é":"YQ=="}`, true},
		{"escaped slash", `{"a":"a\/b"}`, false},
		{"unicode escape", `{"a":"\u0041"}`, false},
		{"number value", `{"a":1}`, false},
		{"null value", `{"a":null}`, false},
		{"null body", `null`, false},
		{"array body", `["a"]`, false},
		{"trailing comma", `{"a":"b",}`, false},
		{"missing colon", `{"a" "b"}`, false},
		{"trailing data", `{"a":"b"} x`, false},
		{"two objects", `{}{}`, false},
		{"unterminated string", `{"a":"b`, false},
		{"unterminated object", `{"a":"b"`, false},
		{"raw newline in string", "{\"a\":\"b\nc\"}", false},
		{"raw tab in key", "{\"a\tb\":\"c\"}", false},
		{"leading comma", `{,"a":"b"}`, false},
		{"single quotes", `{'a':'b'}`, false},
		{"nested object", `{"a":{"b":"c"}}`, false},
		{"form feed is not JSON space", "\f{}", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if fast := sameAsEncodingJSON(t, []byte(tc.body)); fast != tc.fast {
				t.Fatalf("fast path taken %v, want %v", fast, tc.fast)
			}
		})
	}
}

// FuzzParseBucketFast checks that whatever the fast bucket parser accepts,
// encoding/json accepts with the same meaning; what it declines goes to
// encoding/json itself, so together they refuse exactly what encoding/json
// refuses.
func FuzzParseBucketFast(f *testing.F) {
	for _, s := range []string{`{"a":"YQ=="}`, ` { "a" : "b" , "c" : "" } `, `{}`, `{"a":"b","a":"c"}`, `{"a":"\u0041"}`, `{"a":1}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // refused before any parser runs
		}
		sameAsEncodingJSON(t, b)
	})
}

func BenchmarkParseBucket(b *testing.B) {
	body := map[string]string{}
	for i := range 50 {
		body[sha([]byte{byte(i)})] = strings.Repeat("QUJD", 4096/3)
	}
	raw, _ := json.Marshal(body)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, ok := parseBucketFast(raw); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
