package host

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// Bucket bounds: small enough that one request stays well under the body
// limit, large enough that few requests are needed.
const (
	maxBucketFiles = 50
	maxBucketBytes = 40 << 20
	// fileFraming is what one file may need in a bucket body beyond its
	// base64: a JSON key and quotes, or a multipart part's headers.
	fileFraming = 256
)

// bucketBytes is the most file bytes one bucket may hold so that its body,
// base64-encoded with framing, fits in maxBody. A single file larger than
// that still gets a bucket of its own; cfhost serve refuses limits under
// which such a file could not be carried.
func bucketBytes(maxBody int64) int64 {
	n := (maxBody - maxBucketFiles*fileFraming) / 4 * 3
	return max(min(n, maxBucketBytes), 1)
}

// CheckLimits refuses upload limits that contradict each other: a file of
// the largest size allowed must fit, base64-encoded, in one request body,
// or a manifest would be accepted whose uploads all fail with 413.
func CheckLimits(l manifest.Limits) error {
	encoded := (l.MaxFileSize + 2) / 3 * 4
	if need := encoded + fileFraming; need > l.MaxBodyBytes {
		return fmt.Errorf("a body limit of %d bytes cannot carry a file of the %d-byte file size limit (%d bytes in base64): raise the body limit to at least %d bytes or lower the file size limit",
			l.MaxBodyBytes, l.MaxFileSize, encoded, need)
	}
	return nil
}

// validateManifest checks every entry up front, so that no token is spent
// on a deployment that cannot succeed. It returns the paths in order, and
// yields to t between chunks of entries.
func (h *Host) validateManifest(ctx context.Context, t *turn, m api.Manifest) ([]string, error) {
	if m == nil {
		return nil, api.Errorf(api.CodeInvalid, "manifest is required: an object mapping asset paths to {hash, size}")
	}
	if len(m) > h.cfg.Limits.MaxFiles {
		return nil, api.Errorf(api.CodeTooLarge, "manifest has %d files; the limit is %d", len(m), h.cfg.Limits.MaxFiles)
	}
	sizes := make(map[string]int64, len(m))
	paths := slices.Sorted(maps.Keys(m))
	for i, p := range paths {
		if i%yieldEvery == yieldEvery-1 {
			if err := t.yield(ctx); err != nil {
				return nil, err
			}
		}
		e := m[p]
		if err := manifest.ValidatePath(p); err != nil {
			return nil, api.Errorf(api.CodeInvalid, "manifest: %v", err)
		}
		if err := manifest.ValidateHash(e.Hash); err != nil {
			return nil, api.Errorf(api.CodeInvalid, "manifest: %s: %v", p, err)
		}
		if e.Size < 0 {
			return nil, api.Errorf(api.CodeInvalid, "manifest: %s: size %d is negative", p, e.Size)
		}
		if e.Size > h.cfg.Limits.MaxFileSize {
			return nil, api.Errorf(api.CodeTooLarge, "manifest: %s is %d bytes; the limit is %d bytes per file", p, e.Size, h.cfg.Limits.MaxFileSize)
		}
		if s, ok := sizes[e.Hash]; ok && s != e.Size {
			return nil, api.Errorf(api.CodeInvalid, "manifest: hash %s is given two sizes, %d and %d", e.Hash, s, e.Size)
		}
		sizes[e.Hash] = e.Size
	}
	return paths, nil
}

// appendManifest appends m to b as the JSON object json.Marshal makes of
// it, its paths in order (validateManifest checked them: valid UTF-8 with
// no control character), yielding to t between chunks of entries. Written
// by hand, it costs a fraction of json.Marshal's reflection on a
// 100,000-file manifest.
func appendManifest(ctx context.Context, t *turn, b []byte, m api.Manifest, paths []string) ([]byte, error) {
	b = slices.Grow(b, len(paths)*(len(`"":{"hash":"","size":}`)+64+32))
	b = append(b, '{')
	for i, p := range paths {
		if i > 0 {
			b = append(b, ',')
			if i%yieldEvery == 0 {
				if err := t.yield(ctx); err != nil {
					return nil, err
				}
			}
		}
		e := m[p]
		b = append(b, '"')
		for j := 0; j < len(p); j++ {
			if c := p[j]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, p[j])
		}
		b = append(b, `":{"hash":"`...)
		b = append(b, e.Hash...)
		b = append(b, `","size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// makeBuckets groups the missing hashes, in hash order, into buckets of at
// most maxBucketFiles files and maxBytes bytes. Hash order is for the
// store: every table it writes per file is keyed by hash, so a bucket of
// neighbouring hashes dirties a few adjacent B-tree pages instead of one
// random page per file and table, which is most of a first deploy's cost.
func makeBuckets(m api.Manifest, missing map[string]bool, maxBytes int64) ([][]string, []store.SessionHash) {
	sizes := make(map[string]int64, len(missing))
	compressible := make(map[string]bool)
	for p, e := range m {
		if !missing[e.Hash] {
			continue
		}
		sizes[e.Hash] = e.Size
		if isCompressible(manifest.ContentType(p)) {
			compressible[e.Hash] = true
		}
	}
	var buckets [][]string
	hashes := make([]store.SessionHash, 0, len(sizes))
	var cur []string
	var curBytes int64
	for _, h := range slices.Sorted(maps.Keys(sizes)) {
		size := sizes[h]
		if len(cur) > 0 && (len(cur) == maxBucketFiles || curBytes+size > maxBytes) {
			buckets = append(buckets, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, h)
		curBytes += size
		hashes = append(hashes, store.SessionHash{Hash: h, Size: size, Compressible: compressible[h]})
	}
	if len(cur) > 0 {
		buckets = append(buckets, cur)
	}
	return buckets, hashes
}

func (h *Host) handleUploadSession(w http.ResponseWriter, r *http.Request, id string) error {
	h.markDeploying()
	// A session is the start of a deploy: refused before its manifest, the
	// expensive part, is read, and charged once it has been.
	if err := h.allowDeploy(w, id); err != nil {
		return err
	}
	var req api.UploadSessionRequest
	body := &countingBody{ReadCloser: r.Body}
	r.Body = body
	limit := h.cfg.Limits.MaxBodyBytes
	b, err := readJSONBody(w, r, limit)
	var paths []string
	var t *turn
	if err == nil {
		// The body is read; what follows costs in proportion to its files,
		// so it runs in the project's turn for deploy work (heavy.go).
		if t, err = h.heavyTurn(r.Context(), id); err != nil {
			return err
		}
		defer t.end()
		if err = unmarshalBody(b, &req, limit); err == nil {
			paths, err = h.validateManifest(r.Context(), t, req.Manifest)
		}
		if err == nil {
			err = t.yield(r.Context())
		}
	}
	// A manifest counts its files. A refused body cost its parse as well:
	// it counts a file per manifestEntryBytes read, up to maxRefusedCharge,
	// so that a loop of them is bounded too.
	files := len(req.Manifest)
	if err != nil {
		files = min(int(body.n/manifestEntryBytes), maxRefusedCharge)
	}
	h.chargeDeploy(id, files)
	if err != nil {
		return err
	}
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	// A site's paths often share their content: ask for each hash once.
	seen := make(map[string]bool, len(req.Manifest))
	hashes := make([]string, 0, len(req.Manifest))
	for _, e := range req.Manifest {
		if !seen[e.Hash] {
			seen[e.Hash] = true
			hashes = append(hashes, e.Hash)
		}
	}
	missing, err := h.store.MissingHashes(r.Context(), id, hashes)
	if err != nil {
		return err
	}
	buckets, need := makeBuckets(req.Manifest, missing, bucketBytes(limit))
	manifestJSON, err := appendManifest(r.Context(), t, nil, req.Manifest, paths)
	if err != nil {
		return err
	}
	now := h.cfg.Now()
	sess := store.Session{ID: uuid.NewString(), ProjectID: id, Manifest: manifestJSON, CreatedAt: now, ExpiresAt: now.Add(h.cfg.TokenTTL),
		Quota: store.Quota{OpenSessions: h.cfg.MaxUploadSessions, StaleAfter: h.cfg.UploadSessionStale, StoredBytes: h.cfg.MaxProjectBytes}}
	purpose := purposeUpload
	if len(buckets) == 0 {
		purpose = purposeComplete
	}
	token, err := h.tokens.sign(id, sess.ID, purpose, now)
	if err != nil {
		return err
	}
	if purpose == purposeComplete {
		sess.CompletionJWT = token
	}
	if err := h.store.CreateSession(r.Context(), sess, need); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return projectNotFound(id)
		}
		return quotaError(err)
	}
	if buckets == nil {
		buckets = [][]string{}
	}
	writeJSON(w, http.StatusOK, api.UploadSessionResponse{Success: true, Result: api.UploadSessionResult{JWT: token, Buckets: buckets, BinaryUploads: true}})
	return nil
}

// liveSession loads the session a token names and checks it still belongs
// to the project and has not been spent.
func (h *Host) liveSession(ctx context.Context, projectID, sessionID string) (store.Session, error) {
	sess, err := h.store.Session(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		if _, perr := h.project(ctx, projectID); perr != nil {
			return sess, perr
		}
		return sess, api.Errorf(api.CodeUnauthorized, "upload session is gone (expired or cleaned up); start a new upload session")
	}
	if err != nil {
		return sess, err
	}
	switch {
	case sess.ProjectID != projectID:
		return sess, api.Errorf(api.CodeUnauthorized, "token belongs to another project")
	case sess.Used:
		return sess, api.Errorf(api.CodeConflict, "this upload session was already deployed; start a new upload session")
	case h.cfg.Now().After(sess.ExpiresAt):
		return sess, api.Errorf(api.CodeUnauthorized, "upload session expired; start a new upload session")
	}
	return sess, nil
}

func (h *Host) handleUpload(w http.ResponseWriter, r *http.Request, id string) error {
	tok := bearer(r)
	if tok == "" {
		return api.Errorf(api.CodeUnauthorized, "missing Authorization: Bearer <upload token> from the upload session")
	}
	sid, err := h.tokens.verify(tok, id, purposeUpload)
	if err != nil {
		return err
	}
	h.markDeploying() // before reading the body, which may take a while
	sess, err := h.liveSession(r.Context(), id, sid)
	if err != nil {
		return err
	}
	// The body's bytes are counted before any is read: a declared length
	// over the limit is refused first (checkLength), one without a length
	// counts as the largest body allowed.
	if err := checkLength(r, h.cfg.Limits.MaxBodyBytes); err != nil {
		return err
	}
	weight := r.ContentLength
	if weight < 0 {
		weight = h.cfg.Limits.MaxBodyBytes
	}
	release, err := h.uploads.acquire(r.Context(), id, weight)
	if err != nil {
		return api.Errorf(api.CodeUnavailable, "upload cancelled while waiting for the project's other uploads: %v", err)
	}
	defer release()
	files, raw, err := h.readUploadBody(w, r)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return api.Errorf(api.CodeInvalid, "upload body holds no files; send {\"<hash>\": \"<base64>\"}")
	}
	want, err := h.store.SessionHashes(r.Context(), sess.ID, slices.Collect(maps.Keys(files)))
	if err != nil {
		return err
	}
	blobs, err := checkBucket(files, raw, want)
	if err != nil {
		return err
	}
	res, err := h.store.PutBlobs(r.Context(), sid, blobs)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeUnauthorized, "upload session is gone; start a new upload session")
	}
	if err != nil {
		return err
	}
	h.kickCompression()
	if res.Remaining > 0 {
		writeJSON(w, http.StatusOK, api.UploadResponse{Success: true})
		return nil
	}
	token, err := h.tokens.sign(id, sid, purposeComplete, h.cfg.Now())
	if err != nil {
		return err
	}
	// Every request that finds the set complete answers with the token
	// recorded first, so retries and parallel last buckets agree.
	if token, err = h.store.SetCompletionJWT(r.Context(), sid, token); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.UploadResponse{Success: true, Result: api.UploadResult{JWT: &token}})
	return nil
}

// readUploadBody reads a bucket: a JSON object of hash → base64, or
// multipart/form-data with one part per file named by its hash, its body
// base64 or, with ?base64=false, the file's bytes. raw reports which of the
// two the values are.
func (h *Host) readUploadBody(w http.ResponseWriter, r *http.Request) (files map[string][]byte, raw bool, err error) {
	limit := h.cfg.Limits.MaxBodyBytes
	switch v := r.URL.Query().Get("base64"); v {
	case "", "true":
	case "false":
		raw = true
	default:
		return nil, false, api.Errorf(api.CodeInvalid, "base64=%.20q: it is true (the default: file contents are base64) or false (multipart parts hold the bytes themselves)", v)
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		files, err = readMultipartBucket(w, r, limit, params["boundary"], raw)
		return files, raw, err
	}
	if raw {
		return nil, false, api.Errorf(api.CodeInvalid, "base64=false needs a multipart/form-data body: a JSON bucket holds base64 text")
	}
	files, err = readJSONBucket(w, r, limit)
	return files, false, err
}

// checkBucket decodes the files of a bucket (unless raw) and checks each
// against the session: asked for, of the manifest's size, of its hash.
func checkBucket(files map[string][]byte, raw bool, want map[string]store.SessionHash) ([]store.BlobInput, error) {
	// One buffer holds every decoded file of the bucket: a bucket is up to
	// 50 files, and one allocation beats fifty.
	var arena []byte
	if !raw {
		total := 0
		for _, b64 := range files {
			total += base64.StdEncoding.DecodedLen(len(b64))
		}
		arena = make([]byte, 0, total)
	}
	blobs := make([]store.BlobInput, 0, len(files))
	for hash, content := range files {
		sh, ok := want[hash]
		if !ok {
			return nil, api.Errorf(api.CodeInvalid, "hash %.70s is not one this upload session asked for", hash)
		}
		data := content
		if !raw {
			start := len(arena)
			n, err := base64.StdEncoding.Decode(arena[start:start+base64.StdEncoding.DecodedLen(len(content))], content)
			if err != nil {
				return nil, api.Errorf(api.CodeInvalid, "content of %s is not valid base64: %v", hash, err)
			}
			arena = arena[:start+n]
			data = arena[start : start+n : start+n]
		}
		if int64(len(data)) != sh.Size {
			return nil, api.Errorf(api.CodeInvalid, "content of %s is %d bytes; the manifest says %d", hash, len(data), sh.Size)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != hash {
			return nil, api.Errorf(api.CodeInvalid, "content does not match its hash %s (SHA-256 of the bytes is %x)", hash, sum)
		}
		blobs = append(blobs, store.BlobInput{Hash: hash, Data: data, Compressible: sh.Compressible})
	}
	return blobs, nil
}

// isCompressible reports whether a content type gains from gzip or brotli:
// text, and the structured or uncompressed binary formats. Images, video
// and fonts in modern formats are compressed already.
func isCompressible(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	switch {
	case strings.HasPrefix(ct, "text/"):
		return true
	case strings.HasSuffix(ct, "+json"), strings.HasSuffix(ct, "+xml"):
		return true
	}
	switch ct {
	case "application/json", "application/javascript", "application/xml", "application/wasm",
		"image/svg+xml", "image/vnd.microsoft.icon", "image/x-icon", "image/bmp",
		"font/ttf", "font/otf", "application/vnd.ms-fontobject", "application/toml",
		"application/x-javascript", "application/manifest+json":
		return true
	}
	return false
}
