package main

import "fmt"

// stripJSONC turns JSON with comments (// to the end of the line, /* … */)
// and trailing commas, as wrangler.jsonc allows, into plain JSON that
// encoding/json reads. Comments become spaces (newlines are kept) so the
// offsets of a later syntax error still point at the right line; a comma
// followed only by blanks and comments before } or ] is dropped the same
// way. Text inside strings is never touched.
func stripJSONC(in []byte) ([]byte, error) {
	out := make([]byte, len(in))
	copy(out, in)
	blank := func(from, to int) {
		for i := from; i < to; i++ {
			if out[i] != '\n' && out[i] != '\r' {
				out[i] = ' '
			}
		}
	}
	lastComma := -1 // offset of a comma not yet followed by a value
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c == '"':
			j := i + 1
			for ; j < len(in) && in[j] != '"'; j++ {
				if in[j] == '\\' {
					j++
				}
			}
			if j >= len(in) {
				return nil, fmt.Errorf("offset %d: unterminated string", i)
			}
			i, lastComma = j, -1
		case c == '/' && i+1 < len(in) && in[i+1] == '/':
			j := i
			for j < len(in) && in[j] != '\n' {
				j++
			}
			blank(i, j)
			i = j - 1
		case c == '/' && i+1 < len(in) && in[i+1] == '*':
			j := i + 2
			for j+1 < len(in) && (in[j] != '*' || in[j+1] != '/') {
				j++
			}
			if j+1 >= len(in) {
				return nil, fmt.Errorf("offset %d: unterminated /* comment", i)
			}
			blank(i, j+2)
			i = j + 1
		case c == ',':
			lastComma = i
		case c == '}' || c == ']':
			if lastComma >= 0 {
				out[lastComma] = ' '
			}
			lastComma = -1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			lastComma = -1
		}
	}
	return out, nil
}
