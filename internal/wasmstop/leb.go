package wasmstop

import "fmt"

// errLEB is a number that does not end where it must: within its five or
// ten bytes, and within its section. wazero reads a module as one stream,
// so a number cut by its section's end is read on into the next section:
// malformed.
var errLEB = fmt.Errorf("%w: bad LEB128", errMalformed)

// uleb32 reads an unsigned LEB128 of at most 32 bits.
func uleb32(p []byte) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5 && i < len(p); i++ {
		v |= uint32(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			if i == 4 && p[i] > 0x0f {
				return 0, 0, errLEB
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errLEB
}

// skipLEB returns the length of a LEB128 (signed or not) of at most 64
// bits.
func skipLEB(p []byte) (int, error) {
	for i := 0; i < 10 && i < len(p); i++ {
		if p[i]&0x80 == 0 {
			return i + 1, nil
		}
	}
	return 0, errLEB
}

func appendULEB(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendSLEB appends a signed LEB128.
func appendSLEB(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
