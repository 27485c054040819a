package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
)

func TestPageSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		existing int // page size of a database made beforehand, 0 for none
		want     int
	}{
		{"new database", 0, pageSize},
		{"existing database keeps its pages", 4096, 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			if tc.existing != 0 {
				db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=page_size(%d)", path, tc.existing))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec("CREATE TABLE before_us (x); PRAGMA journal_mode = WAL"); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			s := openTest(t, path)
			defer s.Close()
			var got int
			if err := s.r.QueryRow("PRAGMA page_size").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("page size %d, want %d", got, tc.want)
			}
			var mode string
			if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal mode %q (%v), want wal", mode, err)
			}
			deployOne(t, s, mustProject(t, s, "p").ID, map[string]string{"/a.txt": "a"})
			if res, err := s.IntegrityCheck(ctx); err != nil || res != "ok" {
				t.Errorf("integrity %q, %v", res, err)
			}
		})
	}
}

// TestBackgroundCheckpoint checks that committed pages reach the database
// file without any commit running a checkpoint itself: the writer's
// automatic checkpoint is far away (walBackstopPages), so only the
// background checkpointer can have moved them.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path)
	defer s.Close()
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("/f%d.txt", i)] = fmt.Sprintf("%d %0500d", i, i)
	}
	deployOne(t, s, mustProject(t, s, "p").ID, files)
	var size int64
	if !poll.Wait(10*time.Second, func() bool {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		size = fi.Size()
		return size > before.Size()+100*500
	}) {
		t.Fatalf("database file still %d bytes (was %d): nothing checkpointed", size, before.Size())
	}
	for p, c := range files {
		if got := string(readAll(t, s, blob(c).Hash, "")); got != c {
			t.Fatalf("%s reads %q", p, got)
		}
	}
}

func mustProject(t *testing.T, s Store, id string) Project {
	t.Helper()
	p, err := s.CreateProject(context.Background(), Project{ID: id, Name: id, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
