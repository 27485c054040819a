package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestProjectTokens(t *testing.T) {
	t.Parallel()
	eachBackend(t, testProjectTokens)
}

func testProjectTokens(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range []string{"p1", "p2"} {
		if _, err := s.CreateProject(ctx, Project{ID: id, Name: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	tok := ProjectToken{ID: "t1", ProjectID: "p1", Name: "ci", Hash: "aa", CreatedAt: now}
	if err := s.CreateProjectToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProjectToken(ctx, ProjectToken{ID: "t2", ProjectID: "p2", Name: "x", Hash: "bb", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProjectToken(ctx, ProjectToken{ID: "t3", ProjectID: "gone", Hash: "cc", CreatedAt: now}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for a missing project: %v, want ErrNotFound", err)
	}
	if err := s.CreateProjectToken(ctx, ProjectToken{ID: "t4", ProjectID: "p2", Hash: "aa", CreatedAt: now}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate hash: %v, want ErrConflict", err)
	}

	got, err := s.ProjectTokenByHash(ctx, "aa")
	if err != nil || got.ID != "t1" || got.ProjectID != "p1" || got.Name != "ci" || !got.CreatedAt.Equal(now) || !got.LastUsedAt.IsZero() {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if _, err := s.ProjectTokenByHash(ctx, "zz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	used := now.Add(time.Minute)
	if err := s.TouchProjectToken(ctx, "t1", used); err != nil {
		t.Fatal(err)
	}
	ts, err := s.ProjectTokens(ctx, "p1")
	if err != nil || len(ts) != 1 || !ts[0].LastUsedAt.Equal(used) {
		t.Fatalf("list: %+v %v", ts, err)
	}

	// A token is revoked only through its own project.
	if err := s.DeleteProjectToken(ctx, "p2", "t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke through another project: %v", err)
	}
	if err := s.DeleteProjectToken(ctx, "p1", "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectTokenByHash(ctx, "aa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token found: %v", err)
	}
	// Deleting a project deletes its tokens.
	if err := s.DeleteProject(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectTokenByHash(ctx, "bb"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token of a deleted project found: %v", err)
	}
}
