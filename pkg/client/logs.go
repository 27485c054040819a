package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// maxLogLine bounds one line of a log stream: the host cuts messages far
// below it, so a longer line means the stream is not what it should be.
const maxLogLine = 1 << 20

// Logs reads project id's server-code log: the lines the host keeps, and
// with follow every new line until ctx ends or the host closes the stream.
// fn gets each line as sent and decoded; an error from fn stops the read
// and is returned.
func (c *Client) Logs(ctx context.Context, id string, follow bool, fn func(raw []byte, e api.LogEntry) error) error {
	var q url.Values
	if follow {
		q = url.Values{"follow": {"1"}}
	}
	_, err := c.do(ctx, request{
		method: http.MethodGet, path: projectPath(id, "/logs"), query: q, idempotent: true,
		stream: func(body io.Reader) error {
			sc := bufio.NewScanner(body)
			sc.Buffer(make([]byte, 0, 64<<10), maxLogLine)
			for sc.Scan() {
				line := bytes.TrimSpace(sc.Bytes())
				if len(line) == 0 {
					continue // a heartbeat
				}
				var e api.LogEntry
				if err := json.Unmarshal(line, &e); err != nil {
					return fmt.Errorf("read log stream: %w", err)
				}
				if err := fn(line, e); err != nil {
					return err
				}
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("read log stream: %w", err)
			}
			return nil
		},
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
