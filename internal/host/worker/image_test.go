package worker

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// wasmModule assembles a module from (id, payload) sections.
func wasmModule(sections ...[]byte) []byte {
	b := append([]byte(nil), wasmMagic...)
	b = append(b, wasmCoreVersion...)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

func section(id byte, payload ...byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(payload)))...), payload...)
}

func uleb(v uint64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, c|0x80)
			continue
		}
		return append(out, c)
	}
}

// activeSegment is "flag 0, i32.const off, end, bytes"; off < 64 keeps the
// sleb a single byte.
func activeSegment(off byte, data ...byte) []byte {
	s := []byte{0, 0x41, off, 0x0b}
	s = append(s, uleb(uint64(len(data)))...)
	return append(s, data...)
}

func TestLiftData(t *testing.T) {
	t.Parallel()
	memory := section(sectionMemory, 1, 0, 1) // one memory, min 1 page
	custom := section(0, 4, 'n', 'a', 'm', 'e')
	data := func(segs ...[]byte) []byte {
		p := uleb(uint64(len(segs)))
		for _, s := range segs {
			p = append(p, s...)
		}
		return section(sectionData, p...)
	}

	t.Run("active segments become an image", func(t *testing.T) {
		mod := wasmModule(memory, data(activeSegment(3, 'a', 'b', 'c'), activeSegment(4, 'X')), custom)
		code, image, err := liftData(mod, wasmPageSize)
		if err != nil {
			t.Fatal(err)
		}
		if want := wasmModule(memory, custom); !bytes.Equal(code, want) {
			t.Errorf("code % x, want % x", code, want)
		}
		if len(image) != wasmPageSize {
			t.Fatalf("image of %d bytes, want one page", len(image))
		}
		// Later segments overwrite earlier ones, as instantiation does.
		if got := image[:6]; !bytes.Equal(got, []byte{0, 0, 0, 'a', 'X', 'c'}) {
			t.Errorf("image starts % x", got)
		}
	})

	refused := []struct {
		name string
		mod  []byte
		min  uint64
	}{
		{"no data section", wasmModule(memory), wasmPageSize},
		{"passive segment", wasmModule(memory, data([]byte{1, 1, 'p'})), wasmPageSize},
		{"explicit memory index", wasmModule(memory, data([]byte{2, 0, 0x41, 0, 0x0b, 1, 'x'})), wasmPageSize},
		{"global offset", wasmModule(memory, data([]byte{0, 0x23, 0, 0x0b, 1, 'x'})), wasmPageSize},
		{"data count section", wasmModule(memory, section(sectionDataCount, 1), data(activeSegment(0, 'x'))), wasmPageSize},
		{"segment beyond initial memory", wasmModule(memory, data(activeSegment(10, 'x'))), 8},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := liftData(tt.mod, tt.min); !errors.Is(err, errNoImage) {
				t.Errorf("err %v, want errNoImage", err)
			}
		})
	}

	t.Run("truncated segment", func(t *testing.T) {
		mod := wasmModule(memory, data([]byte{0, 0x41, 0, 0x0b, 9, 'x'}))
		if _, _, err := liftData(mod, wasmPageSize); err == nil || errors.Is(err, errNoImage) {
			t.Errorf("err %v, want a format error", err)
		}
	})

	t.Run("initial memory", func(t *testing.T) {
		if n, ok := initialMemory(wasmModule(section(sectionMemory, 1, 1, 3, 9))); !ok || n != 3*wasmPageSize {
			t.Errorf("initialMemory = %d, %v", n, ok)
		}
		if _, ok := initialMemory(wasmModule(custom)); ok {
			t.Error("initialMemory found a memory in a module without one")
		}
	})
}

func TestReadS32(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []byte
		want int32
	}{
		{[]byte{0x00}, 0},
		{[]byte{0x3f}, 63},
		{[]byte{0x40}, -64},
		{[]byte{0x80, 0x01}, 128},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1<<31 - 1},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, -1 << 31},
	}
	for _, tt := range tests {
		got, n, err := readS32(tt.in)
		if err != nil || got != tt.want || n != len(tt.in) {
			t.Errorf("readS32(% x) = %d, %d, %v; want %d", tt.in, got, n, err, tt.want)
		}
	}
}

// A module whose initial memory is over the memory limit is refused at
// deploy, but only once compiled: the image of its data segments must not
// be made before. Made, it was as large as the initial memory, written in
// full into an in-memory file: a few bytes declaring 65536 pages with a
// byte of data at the top made every deploy attempt write 4 GiB.
func TestNoImageBeyondMemoryLimit(t *testing.T) {
	if !imagesSupported {
		t.Skip("no memory images here")
	}
	rt, _ := newRuntime(t, Config{MemoryLimit: 1 << 20})
	// 32 pages (2 MiB), and a byte of data at i32.const 2 MiB - 1.
	pages := byte(32)
	top := []byte{0, 0x41, 0xff, 0xff, 0xff, 0x00, 0x0b, 1, 'x'}
	wasm := wasmModule(section(sectionMemory, 1, 0, pages), section(sectionData, append([]byte{1}, top...)...))
	ctx := context.Background()
	if err := rt.Prepare(ctx, Hash(wasm), wasm); err == nil {
		t.Fatal("a module needing 2 MiB at start was accepted under a limit of 1 MiB")
	}
	prog, err := rt.build(ctx, Hash(wasm), wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.close(ctx)
	if prog.image != nil {
		t.Fatal("a memory image was made for a module over the memory limit")
	}
}
