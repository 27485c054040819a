package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// DeployOptions describe one deploy of a directory.
type DeployOptions struct {
	ProjectID string
	Dir       string
	// Ignorer decides which files stay local; nil loads Dir/.assetsignore.
	Ignorer *manifest.Ignorer
	// CachePath is the hash cache file (manifest.CachePath); "" disables
	// the cache.
	CachePath string
	// Limits are checked before anything is sent; zero means
	// manifest.DefaultLimits.
	Limits manifest.Limits
	// Concurrency is how many buckets are uploaded at once; default 3.
	Concurrency int
	// The rest of the deploy request (phase 3).
	Config         *api.AssetConfig
	ServerCode     *api.ServerCode
	RunWorkerFirst json.RawMessage
	Env            map[string]string
	ProjectName    *string
	// Preview deploys without making the deployment live; Branch records
	// the branch it comes from (its newest deployment has an alias).
	Preview bool
	Branch  string
	// DryRun hashes and asks the host what it would need, then stops:
	// nothing is uploaded and no deployment is made. (The upload session
	// it opens is never used and simply expires.)
	DryRun bool
	// AllowEmpty lets a directory with no files to deploy replace the live
	// site; without it such a deploy fails with ErrEmptyDeploy before
	// anything is sent.
	AllowEmpty bool
	// Strict refuses the deploy, before anything is sent, when CheckConfig
	// has warnings about Config (a *WarningsError).
	Strict bool
	// Live is the project as the caller read it just before the deploy
	// (GetProject); nil makes Deploy read it itself. Its active deployment
	// is compared with the one live just before finalizing, to tell the
	// caller when another deploy went live meanwhile (Superseded).
	Live *api.Project
	// MaxSessions bounds how many upload sessions one deploy may open when
	// tokens expire mid-upload; default 3.
	MaxSessions int
	// Progress receives events, one at a time, never concurrently.
	Progress func(Event)
}

// DeployResult is what a deploy did.
type DeployResult struct {
	// From the host's answer (zero on a dry run).
	Project                   api.Project
	Deployment                api.Deployment
	DeployedAssets            int
	NewAssets                 int
	SkippedAssets             int
	DeployedServerCodeModules int
	Warnings                  []api.Warning
	// Superseded is the deployment that went live while this deploy was
	// uploading (another deploy or a rollback finished in between), now
	// replaced by this one; "" when nothing changed.
	Superseded string

	DryRun  bool
	Files   int   // files in the manifest
	Bytes   int64 // their total size
	Hash    manifest.HashStats
	Skipped []manifest.Skip // left out by the walk, with reasons
	Ignored []manifest.Skip // left out by the ignore rules, with the rule
	// NeedFiles and NeedBytes are what the host asked for in the first
	// session: distinct contents it did not have.
	NeedFiles int
	NeedBytes int64
	// Manifest is what was (or on a dry run would be) deployed.
	Manifest api.Manifest
	// UploadedFiles and UploadedBytes count file contents sent in buckets
	// the host accepted.
	UploadedFiles int
	UploadedBytes int64
	Sessions      int
	Elapsed       time.Duration
}

// ErrEmptyDeploy refuses a deploy with no files, which would replace the
// live site with one where every path is 404; DeployOptions.AllowEmpty
// says that is meant.
var ErrEmptyDeploy = errors.New("nothing to deploy: the site directory has no files to upload")

// HostDataError refuses a site directory that holds a cfhost data
// directory: its database and API token would be published.
type HostDataError struct {
	Path string // the database file found, as an asset path
}

func (e *HostDataError) Error() string {
	return fmt.Sprintf("the site directory holds a cfhost data directory (%s); deploying it would publish the host's database and API token", e.Path)
}

// errTokenExpired marks a bucket refused with 401: the upload token ran out
// (or the host forgot the session), so a new session is needed.
var errTokenExpired = errors.New("upload token refused")

// Deploy runs a whole deploy: walk, validate, hash (with the cache), open an
// upload session, upload the buckets the host asks for with bounded
// concurrency, and create the deployment. Cancelling ctx stops it at once;
// nothing is deployed unless the final call went through. When the upload
// token expires mid-way, a new session is opened for the same manifest and
// only what is still missing is sent.
func (c *Client) Deploy(ctx context.Context, opts DeployOptions) (*DeployResult, error) {
	start := time.Now()
	if opts.ProjectID == "" {
		return nil, errors.New("no project id given")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 3
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 3
	}
	if opts.Limits == (manifest.Limits{}) {
		opts.Limits = manifest.DefaultLimits
	}
	warns, err := CheckConfig(opts.Config, opts.RunWorkerFirst)
	if err != nil {
		return nil, err
	}
	if opts.Strict && len(warns) > 0 {
		return nil, &WarningsError{Warnings: warns}
	}
	em := newEmitter(opts.Progress)
	cc := *c
	cc.opts.OnRetry = func(ri RetryInfo) {
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(ri)
		}
		em.notice(fmt.Sprintf("retrying in %s after: %v", ri.Wait.Round(100*time.Millisecond), ri.Err))
	}

	// The active deployment at the start; also checks the host, the token
	// and the project before any file is hashed.
	live := opts.Live
	if live == nil {
		if live, err = cc.GetProject(ctx, opts.ProjectID); err != nil {
			return nil, err
		}
	}
	liveAtStart := activeID(live)

	// Scan.
	em.phase(PhaseScan, 0, 0)
	ig := opts.Ignorer
	if ig == nil {
		var err error
		if ig, err = manifest.LoadIgnorer(opts.Dir); err != nil {
			return nil, err
		}
	}
	for _, line := range ig.Skipped {
		em.notice(fmt.Sprintf("%s: ignoring a line that is not a valid pattern: %q", manifest.AssetsIgnoreFile, line))
	}
	tree, err := manifest.Walk(opts.Dir, ig)
	if err != nil {
		return nil, err
	}
	res := &DeployResult{DryRun: opts.DryRun, Files: len(tree.Files), Skipped: tree.Skipped, Ignored: tree.Ignored}
	for _, s := range tree.Skipped {
		em.notice(fmt.Sprintf("skipped %s: %s", s.Path, s.Reason))
	}
	if p := manifest.HostDataFile(tree.Files); p != "" {
		return nil, &HostDataError{Path: p}
	}
	if len(tree.Files) == 0 && !opts.AllowEmpty {
		return nil, ErrEmptyDeploy
	}
	if err := manifest.Validate(tree.Files, opts.Limits); err != nil {
		return nil, err
	}
	for _, f := range tree.Files {
		res.Bytes += f.Size
	}

	// Hash.
	var cache *manifest.Cache
	if opts.CachePath != "" {
		if cache, err = manifest.OpenCache(opts.CachePath); err != nil {
			em.notice(fmt.Sprintf("hash cache unreadable, hashing everything: %v", err))
		}
	}
	em.phase(PhaseHash, len(tree.Files), res.Bytes)
	res.Hash, err = manifest.HashFiles(ctx, tree.Files, manifest.HashOptions{
		Cache: cache,
		Progress: func(p manifest.HashProgress) {
			em.update(p.FilesDone == p.FilesTotal, func(ev *Event) {
				ev.FilesDone, ev.BytesDone, ev.Cached = p.FilesDone, p.BytesDone, p.Cached
			})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("hash files: %w", err)
	}
	if err := cache.Save(); err != nil {
		em.notice(fmt.Sprintf("could not save the hash cache (the next deploy hashes everything again): %v", err))
	}

	m := make(api.Manifest, len(tree.Files))
	byHash := make(map[string]manifest.File, len(tree.Files))
	for _, f := range tree.Files {
		m[f.Path] = api.ManifestEntry{Hash: f.Hash, Size: f.Size}
		if _, ok := byHash[f.Hash]; !ok {
			byHash[f.Hash] = f
		}
	}

	res.Manifest = m
	completion, err := cc.uploadAll(ctx, opts, m, byHash, em, res)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		res.Elapsed = time.Since(start)
		em.update(true, func(ev *Event) { *ev = Event{Phase: PhaseDone, Summary: res} })
		return res, nil
	}

	// Finalize. A failed look is no reason to stop: the check only warns.
	em.phase(PhaseFinalize, 0, 0)
	if now, err := cc.GetProject(ctx, opts.ProjectID); err == nil && activeID(now) != liveAtStart && !opts.Preview {
		res.Superseded = activeID(now)
	}
	dr, err := cc.Finalize(ctx, opts.ProjectID, api.DeployRequest{
		CompletionJWT:  completion,
		ProjectName:    opts.ProjectName,
		ServerCode:     opts.ServerCode,
		Config:         opts.Config,
		RunWorkerFirst: opts.RunWorkerFirst,
		Env:            opts.Env,
		Production:     production(opts.Preview),
		Branch:         opts.Branch,
	})
	if err != nil {
		return nil, err
	}
	res.Project, res.Deployment = dr.Project, dr.Deployment
	res.DeployedAssets, res.NewAssets, res.SkippedAssets = dr.DeployedAssets, dr.NewAssets, dr.SkippedAssets
	res.DeployedServerCodeModules, res.Warnings = dr.DeployedServerCodeModules, dr.Warnings
	res.Elapsed = time.Since(start)
	em.update(true, func(ev *Event) { *ev = Event{Phase: PhaseDone, Summary: res} })
	return res, nil
}

// activeID is a project's active deployment, "" for none.
func activeID(p *api.Project) string {
	if p == nil || p.ActiveDeploymentID == nil {
		return ""
	}
	return *p.ActiveDeploymentID
}

// uploadAll runs phases 1 and 2 and returns the completion token (empty on
// a dry run).
func (c *Client) uploadAll(ctx context.Context, opts DeployOptions, m api.Manifest, byHash map[string]manifest.File, em *emitter, res *DeployResult) (string, error) {
	var filesDone int
	var bytesDone int64
	for session := 1; ; session++ {
		em.phase(PhaseSession, 0, 0)
		s, err := c.CreateUploadSession(ctx, opts.ProjectID, m)
		if err != nil {
			return "", err
		}
		res.Sessions = session
		var needFiles int
		var needBytes int64
		for _, b := range s.Buckets {
			for _, h := range b {
				f, ok := byHash[h]
				if !ok {
					return "", fmt.Errorf("create upload session: the host asked for %.12s…, which is not in the manifest", h)
				}
				needFiles++
				needBytes += f.Size
			}
		}
		if session == 1 {
			res.NeedFiles, res.NeedBytes = needFiles, needBytes
		}
		if opts.DryRun {
			return "", nil
		}
		if len(s.Buckets) == 0 {
			return s.JWT, nil
		}
		em.phase(PhaseUpload, filesDone+needFiles, bytesDone+needBytes)
		em.update(true, func(ev *Event) { ev.FilesDone, ev.BytesDone = filesDone, bytesDone })
		completion, err := c.uploadBuckets(ctx, opts, s, byHash, em, res)
		filesDone, bytesDone = res.UploadedFiles, res.UploadedBytes
		switch {
		case err == nil && completion != "":
			return completion, nil
		case err == nil:
			// Every bucket went through but no answer carried the completion
			// token (a lost response to the last bucket, say). A new session
			// for the same manifest needs nothing more and hands it out.
			em.notice("the host did not confirm the last upload; asking again")
		case errors.Is(err, errTokenExpired):
			em.notice("the upload token expired; opening a new upload session to send the rest")
		default:
			return "", err
		}
		if session >= opts.MaxSessions {
			if err != nil {
				return "", fmt.Errorf("upload files: gave up after %d upload sessions: %w", session, err)
			}
			return "", fmt.Errorf("upload files: the host never confirmed the upload after %d sessions", session)
		}
	}
}

// uploadBuckets sends the buckets of one session, opts.Concurrency at a
// time, and returns the completion token if an answer carried it. The first
// failure stops the others.
func (c *Client) uploadBuckets(ctx context.Context, opts DeployOptions, s *api.UploadSessionResult, byHash map[string]manifest.File, em *emitter, res *DeployResult) (string, error) {
	var (
		mu         sync.Mutex
		completion string
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opts.Concurrency, 1))
	for _, bucket := range s.Buckets {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			files := make([]manifest.File, len(bucket))
			var size int64
			for j, h := range bucket {
				files[j] = byHash[h]
				size += files[j].Size
			}
			var net atomic.Int64
			upload := c.UploadBucket
			if s.BinaryUploads {
				upload = c.UploadBucketBinary
			}
			jwt, err := upload(ctx, opts.ProjectID, s.JWT, files, func(d int64) {
				net.Add(d)
				em.update(false, func(ev *Event) { ev.BytesDone += d })
			})
			if err != nil {
				// Take back what this bucket reported; it will be sent
				// again in a new session, or the deploy fails.
				back := net.Load()
				em.update(false, func(ev *Event) { ev.BytesDone -= back })
				if api.ErrorCode(err) == api.CodeUnauthorized {
					err = fmt.Errorf("%w: %w", errTokenExpired, err)
				}
				return err
			}
			mu.Lock()
			res.UploadedFiles += len(files)
			res.UploadedBytes += size
			if jwt != "" {
				completion = jwt
			}
			mu.Unlock()
			em.update(true, func(ev *Event) {
				ev.FilesDone += len(files)
				ev.BytesDone += size - net.Load() // settle to the exact file size
			})
			return nil
		})
	}
	err := g.Wait()
	return completion, err
}

// production is the deploy request's production field: absent for a
// production deploy, so that hosts from before previews see what they
// always saw.
func production(preview bool) *bool {
	if !preview {
		return nil
	}
	f := false
	return &f
}
