package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// writeJSON sends a success body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeError sends the JSON error body with the status of err's code.
// Errors without a code are ours: they are logged and reported as 500
// without internal detail.
func (h *Host) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		var dd interface{ DriverDetail() string }
		if errors.As(err, &dd) {
			h.log.Warn("store refused a write", "method", r.Method, "path", r.URL.Path, "err", err, "driver", dd.DriverDetail())
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			ae = api.Errorf(api.CodeNotFound, "not found")
		case errors.Is(err, store.ErrConflict):
			ae = api.Errorf(api.CodeConflict, "%v", err)
		case errors.Is(err, store.ErrFull):
			h.log.Error("storage full", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = api.Errorf(api.CodeUnavailable, "the host is out of disk space; free space in its data directory, then try again")
		default:
			h.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = api.Errorf(api.CodeInternal, "internal error; see the host's log")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ae.Code.Status())
	json.NewEncoder(w).Encode(api.NewErrorResponse(ae))
}

// decodeJSON reads a JSON body of at most limit bytes into v. Invalid UTF-8
// is refused rather than silently replaced, so that a path never changes
// on its way in.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	b, err := readJSONBody(w, r, limit)
	if err != nil {
		return err
	}
	return unmarshalBody(b, v, limit)
}

// readJSONBody reads a body of at most limit bytes for decodeJSON: not
// empty, and valid UTF-8.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if err := checkLength(r, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, bodyError(err, limit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, bodyError(io.EOF, limit)
	}
	if !utf8.Valid(b) {
		return nil, api.Errorf(api.CodeInvalid, "request body is not valid UTF-8")
	}
	return b, nil
}

// unmarshalBody decodes a body readJSONBody read into v.
func unmarshalBody(b []byte, v any, limit int64) error {
	if err := json.Unmarshal(b, v); err != nil {
		return bodyError(err, limit)
	}
	return nil
}

// checkLength refuses a body whose declared length is over limit before a
// byte of it is read: a client announcing a gigabyte gets its 413 at once,
// and the host spends neither time nor memory reading up to the limit.
func checkLength(r *http.Request, limit int64) error {
	if r.ContentLength > limit {
		return api.Errorf(api.CodeTooLarge, "request body is %d bytes; the limit is %d bytes", r.ContentLength, limit)
	}
	return nil
}

// bodyError turns a read or decode failure into a client error.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return api.Errorf(api.CodeTooLarge, "request body is larger than %d bytes", limit)
	case stalled(err):
		return errStalledBody
	case errors.Is(err, io.EOF):
		return api.Errorf(api.CodeInvalid, "request body is empty; send a JSON object")
	case errors.As(err, &se):
		return api.Errorf(api.CodeInvalid, "malformed JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te):
		return api.Errorf(api.CodeInvalid, "malformed JSON: field %q must be %s, not %s", te.Field, te.Type, te.Value)
	default:
		return api.Errorf(api.CodeInvalid, "malformed JSON: %v", err)
	}
}

// projectNotFound is the error for an unknown project.
func projectNotFound(id string) error {
	return api.Errorf(api.CodeNotFound, "project %s not found", id)
}
