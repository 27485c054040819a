package coalesce_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
)

// tempFile returns an open file holding b.
func tempFile(t *testing.T, b []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "section")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f
}

// A Section goes out after the held bytes, exactly its range of the file,
// and leaves the file's own offset alone, so that many responses can send
// from one open file at once.
func TestSectionsShareOneFile(t *testing.T) {
	content := make([]byte, 300<<10)
	rand.Read(content)
	f := tempFile(t, content)
	f.Seek(7, io.SeekStart)
	ranges := [][2]int64{{0, 300 << 10}, {1, 100 << 10}, {200 << 10, 100 << 10}, {12345, 1}}
	var wg sync.WaitGroup
	for _, r := range ranges {
		sc, client := pair(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.Hold()
			sc.Write([]byte("head:"))
			n, err := sc.ReadFrom(coalesce.NewSection(f, r[0], r[1]))
			if err != nil || n != r[1] {
				t.Errorf("ReadFrom = %d, %v; want %d", n, err, r[1])
			}
			sc.Done(httptest.NewRecorder())
		}()
		got := readN(t, client, 5+int(r[1]))
		if string(got[:5]) != "head:" || !bytes.Equal(got[5:], content[r[0]:r[0]+r[1]]) {
			t.Errorf("range %v arrived changed", r)
		}
	}
	wg.Wait()
	if off, _ := f.Seek(0, io.SeekCurrent); off != 7 {
		t.Errorf("the file's offset moved to %d", off)
	}
}

// A Section read as a plain reader (TLS, a test recorder) gives its range,
// and says so when the file is shorter than the range.
func TestSectionRead(t *testing.T) {
	f := tempFile(t, []byte("0123456789"))
	got, err := io.ReadAll(coalesce.NewSection(f, 3, 5))
	if err != nil || string(got) != "34567" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := io.ReadAll(coalesce.NewSection(f, 8, 5)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading past the file's end: %v, want ErrUnexpectedEOF", err)
	}
}

// Sending a Section to a peer that went away fails, and so does every
// later write on the connection.
func TestSectionToGonePeerFails(t *testing.T) {
	content := make([]byte, 8<<20)
	f := tempFile(t, content)
	sc, client := pair(t)
	client.Close()
	var err error
	for range 10 { // the first sends may still be accepted by the kernel
		if _, err = sc.ReadFrom(coalesce.NewSection(f, 0, int64(len(content)))); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("sends to a closed peer kept succeeding")
	}
	if _, err := sc.Write([]byte("x")); err == nil {
		t.Fatal("a write after a failed send succeeded")
	}
}
