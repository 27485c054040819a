package wasmstop

import (
	"errors"
	"fmt"
)

// maxLocals is the most locals a function body may declare. wazero
// allocates and fills a byte per declared local before it reads any code,
// and six bytes of a module declare 2^32-1 of them: without a limit each
// function of a small module makes it fill 4 GiB. Browsers refuse more
// than 50000 too.
const maxLocals = 50000

// plausibleNested refuses the vectors inside a section that claim more
// entries than the bytes left can hold, where wazero allocates for the
// claimed count before reading an entry: function types' parameters and
// results, element segments' entries, data segments' bytes, and the
// function and local names of the name section. A claimed 2^32 element
// entries or function names is a single allocation of tens of GiB, whose
// failure ends the whole process. Other faults are left to wazero, which
// refuses them without such an allocation.
func plausibleNested(s section) error {
	r := &reader{p: s.body}
	var err error
	switch s.id {
	case secCustom:
		err = r.nameSection()
	case secType:
		err = r.types()
	case 9:
		err = r.elements()
	case 11:
		err = r.data()
	}
	if err != nil {
		return fmt.Errorf("section %d: %w", s.id, err)
	}
	return nil
}

// vecLen reads the length of a vector whose entries take at least one
// byte each.
func (r *reader) vecLen() (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if left := len(r.p) - r.pos; uint64(n) > uint64(left) {
		return 0, fmt.Errorf("%w: %d entries claimed in %d bytes", errMalformed, n, left)
	}
	return n, nil
}

// name skips a name (a vector of bytes).
func (r *reader) name() error {
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	return r.skip(int(n))
}

// types checks the parameter and result counts of function types.
func (r *reader) types() error {
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	for range n {
		form, err := r.byte()
		if err != nil || form != 0x60 {
			return err // not a function type: wazero refuses it
		}
		for range 2 { // parameters, results
			k, err := r.vecLen()
			if err != nil {
				return err
			}
			for range k {
				if err := r.valType(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// constExpr skips a constant expression, up to its end.
func (r *reader) constExpr() error {
	for {
		op, err := r.instr()
		if err != nil || op == opEnd {
			return err
		}
	}
}

// elements checks the entry counts of element segments.
func (r *reader) elements() error {
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	for range n {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return fmt.Errorf("element segment flags %d", flags)
		}
		if flags&3 == 2 { // table index
			if err := r.leb(); err != nil {
				return err
			}
		}
		if flags&1 == 0 { // active: offset
			if err := r.constExpr(); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // element kind or reference type
			if err := r.valType(); err != nil {
				return err
			}
		}
		k, err := r.vecLen()
		if err != nil {
			return err
		}
		for range k {
			if flags&4 == 0 {
				err = r.leb() // function index
			} else {
				err = r.constExpr()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// data checks the sizes of data segments.
func (r *reader) data() error {
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	for range n {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		switch flags {
		case 0:
			err = r.constExpr()
		case 1: // passive
		case 2:
			if err = r.leb(); err == nil { // memory index
				err = r.constExpr()
			}
		default:
			err = fmt.Errorf("data segment flags %d", flags)
		}
		if err == nil {
			err = r.name() // the bytes, a vector like a name
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nameSection checks a custom section's name and, for the name section,
// the counts of its module name, function names and local names. wazero
// reads those subsections without regard to their sizes, so each must
// hold exactly what it declares, and a name section that does not parse
// is refused.
func (r *reader) nameSection() error {
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	start := r.pos
	if err := r.skip(int(n)); err != nil {
		return err
	}
	if string(r.p[start:r.pos]) != "name" {
		return nil
	}
	for r.pos < len(r.p) {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.vecLen()
		if err != nil {
			return err
		}
		sub := &reader{p: r.p[r.pos : r.pos+int(size)]}
		r.pos += int(size)
		if err := sub.nameSubsection(id); errors.Is(err, errMalformed) {
			return fmt.Errorf("name subsection %d: %w", id, err)
		} else if err != nil {
			return fmt.Errorf("%w: name subsection %d: %w", errMalformed, id, err)
		}
	}
	return nil
}

// nameSubsection checks one subsection of the name section, which must
// end where its size says: wazero reads the next subsection from where
// the names end, so bytes left over would be read as one.
func (r *reader) nameSubsection(id byte) error {
	var err error
	switch id {
	case 0: // module name
		err = r.name()
	case 1: // function names: index, name
		err = r.nameMap()
	case 2: // local names: function index, then its locals' name map
		var n uint32
		if n, err = r.vecLen(); err != nil {
			return err
		}
		for range n {
			if err = r.leb(); err == nil {
				err = r.nameMap()
			}
			if err != nil {
				return err
			}
		}
	default:
		return nil // wazero skips the others by their size
	}
	if err == nil && r.pos != len(r.p) {
		err = fmt.Errorf("%d bytes after the names", len(r.p)-r.pos)
	}
	return err
}

func (r *reader) nameMap() error {
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	for range n {
		if err := r.leb(); err != nil {
			return err
		}
		if err := r.name(); err != nil {
			return err
		}
	}
	return nil
}
