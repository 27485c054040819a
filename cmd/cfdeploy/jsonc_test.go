package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestStripJSONC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     any
	}{
		{"plain", `{"a": 1}`, map[string]any{"a": 1.0}},
		{"line comment", "{\n // note\n \"a\": 1 // trailing\n}", map[string]any{"a": 1.0}},
		{"block comment", `{/* x, } */"a": /* y */ 1}`, map[string]any{"a": 1.0}},
		{"trailing commas", `{"a": [1, 2,], "b": {"c": 3,},}`, map[string]any{"a": []any{1.0, 2.0}, "b": map[string]any{"c": 3.0}}},
		{"comma then comment", "{\"a\": 1, // last\n}", map[string]any{"a": 1.0}},
		{"slashes in strings", `{"u": "http://x/*y*/", "q": "a\"//b,]"}`, map[string]any{"u": "http://x/*y*/", "q": `a"//b,]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := stripJSONC([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != len(tt.in) {
				t.Errorf("length %d, want %d (offsets must survive)", len(b), len(tt.in))
			}
			var got any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`{"a": "open`, `{"a": 1 /* open`} {
		if _, err := stripJSONC([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
