package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// errNoProject is what resolveProject's error wraps when nothing matched.
var errNoProject = errors.New("no project")

// resolveProject finds the project the user named: by ID, by a unique
// prefix of its ID (as printed by 'projects ls', so "7c08" works) or by
// its unique name. An ambiguous prefix or name is an error listing the
// candidates, never a guess.
func (g *global) resolveProject(ctx context.Context, c *client.Client, ref string) (*api.Project, error) {
	p, err := c.GetProject(ctx, ref)
	if err == nil || api.ErrorCode(err) != api.CodeNotFound {
		return p, err
	}
	ps, lerr := c.AllProjects(ctx)
	if lerr != nil {
		return nil, err
	}
	var byName, byPrefix []api.Project
	for _, q := range ps {
		if q.Slug != "" && q.Slug == ref {
			return &q, nil // slugs are unique
		}
		if q.Name == ref {
			byName = append(byName, q)
		}
		if strings.HasPrefix(q.ID, strings.ToLower(ref)) {
			byPrefix = append(byPrefix, q)
		}
	}
	for _, found := range [][]api.Project{byName, byPrefix} {
		switch {
		case len(found) == 1:
			return &found[0], nil
		case len(found) > 1:
			ids := make([]string, len(found))
			for i, q := range found {
				ids[i] = q.ID + " (" + q.Name + ")"
			}
			return nil, withHint(fmt.Errorf("%q names %d projects: %s", ref, len(found), strings.Join(ids, ", ")), "pass more of the ID; 'cfdeploy projects ls' lists them")
		}
	}
	return nil, withHint(fmt.Errorf("%w has the ID, ID prefix or name %q", errNoProject, ref), "List projects with 'cfdeploy projects ls', or create one with 'cfdeploy init'.")
}

// resolveDeployment finds a deployment among ds by ID or unique ID prefix.
func resolveDeployment(ds []api.Deployment, ref, projectID string) (string, error) {
	var found []string
	for _, d := range ds {
		if d.ID == ref {
			return d.ID, nil
		}
		if strings.HasPrefix(d.ID, strings.ToLower(ref)) {
			found = append(found, d.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", withHint(fmt.Errorf("project %s has no deployment %q", projectID, ref), "List its deployments with 'cfdeploy deployments ls'.")
	}
	return "", withHint(fmt.Errorf("%q is the start of %d deployment IDs: %s", ref, len(found), strings.Join(found, ", ")), "pass more of the ID; 'cfdeploy deployments ls' lists them")
}
