package wasmstop

import "fmt"

// maxTableElements bounds the elements of all the tables a module
// defines, together: 16 MiB of references per instance. wazero allocates
// a table's minimum at every instantiation and lets table.grow take a
// table without a maximum to 2^32-1 elements (32 GiB, filled), whatever
// the memory limit: a module of a few bytes could take every instance's
// host memory. Go's wasip1 output has one table of a few thousand
// elements and no maximum.
const maxTableElements = 1 << 21

// capTables rewrites a table section so that each of its n tables has a
// maximum of at most maxTableElements/n elements, adding one where it has
// none: table.grow past it fails (returns -1), as memory.grow does past
// the memory limit. A table whose minimum is over the cap is refused.
func capTables(body []byte) ([]byte, error) {
	r := &reader{p: body}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return body, nil
	}
	limit := uint32(maxTableElements / uint64(n))
	out := appendULEB(nil, n)
	for i := range n {
		start := r.pos
		init := false
		if b, err := r.byte(); err != nil {
			return nil, err
		} else if b == 0x40 { // a table with an initializer: 0x40 0x00 type limits expr
			if b, err := r.byte(); err != nil || b != 0 {
				return nil, fmt.Errorf("table %d: bad initializer prefix", i)
			}
			init = true
		} else {
			r.pos--
		}
		if err := r.valType(); err != nil {
			return nil, fmt.Errorf("table %d: %w", i, err)
		}
		out = append(out, body[start:r.pos]...)
		flags, err := r.byte()
		if err != nil {
			return nil, err
		}
		if flags > 1 {
			return nil, fmt.Errorf("table %d: limits flags %#x", i, flags)
		}
		least, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("table %d: %w", i, err)
		}
		most := limit
		if flags == 1 {
			m, err := r.u32()
			if err != nil {
				return nil, fmt.Errorf("table %d: %w", i, err)
			}
			most = min(m, limit)
		}
		if least > limit {
			return nil, fmt.Errorf("%w: table %d starts with %d elements, over the limit of %d (%d for all the tables together)",
				errMalformed, i, least, limit, maxTableElements)
		}
		out = append(out, 1)
		out = appendULEB(out, least)
		out = appendULEB(out, most) // under least only when declared so: wazero refuses it
		if init {
			start := r.pos
			if err := r.constExpr(); err != nil {
				return nil, fmt.Errorf("table %d: initializer: %w", i, err)
			}
			out = append(out, body[start:r.pos]...)
		}
	}
	if r.pos != len(body) {
		return nil, fmt.Errorf("table section: %d bytes after the last table", len(body)-r.pos)
	}
	return out, nil
}
