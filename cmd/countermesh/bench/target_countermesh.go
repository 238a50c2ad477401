package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/httpapi"
)

// countermeshSystem is one countermesh peer with its HTTP API, driven over
// HTTP/1.1 keep-alive connections as a regional frontend would.
type countermeshSystem struct {
	c      *cluster
	base   string
	client *http.Client
}

func startCountermesh(dir string, clients int, opts clusterOptions) (*countermeshSystem, error) {
	opts.api = true
	c, err := startCluster(dir, []string{"local"}, opts)
	if err != nil {
		return nil, err
	}
	return &countermeshSystem{c: c, base: c.nodes[0].url, client: newHTTPClient(clients)}, nil
}

// newHTTPClient returns a client keeping a connection per concurrent client.
func newHTTPClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        2 * clients,
			MaxIdleConnsPerHost: 2 * clients,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

func (s *countermeshSystem) name() string { return sysCountermesh }

func (s *countermeshSystem) write(ctx context.Context, op persist.Op) error {
	var method, path, body string
	switch {
	case op.Kind == persist.OpAdd:
		method = http.MethodPost
		path = "/v1/items/" + url.PathEscape(op.Item) + "/counters/" + url.PathEscape(op.Counter)
		body = fmt.Sprintf(`{"by":%d}`, op.By)
	case op.Reaction == "":
		method = http.MethodDelete
		path = "/v1/items/" + url.PathEscape(op.Item) + "/reactions/" + url.PathEscape(op.User)
	default:
		method = http.MethodPut
		path = "/v1/items/" + url.PathEscape(op.Item) + "/reactions/" + url.PathEscape(op.User)
		body = `{"reaction":"` + op.Reaction + `"}`
	}
	return s.do(ctx, method, path, body, nil)
}

func (s *countermeshSystem) writeBatch(ctx context.Context, ops []persist.Op) error {
	var b bytes.Buffer
	b.WriteString(`{"ops":[`)
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		if op.Kind == persist.OpAdd {
			fmt.Fprintf(&b, `{"op":"add","item":%q,"counter":%q,"by":%d}`, op.Item, op.Counter, op.By)
			continue
		}
		reaction := "null"
		if op.Reaction != "" {
			reaction = `"` + op.Reaction + `"`
		}
		fmt.Fprintf(&b, `{"op":"react","item":%q,"user":%q,"reaction":%s}`, op.Item, op.User, reaction)
	}
	b.WriteString(`]}`)
	return s.do(ctx, http.MethodPost, "/v1/ops", b.String(), nil)
}

func (s *countermeshSystem) readPage(ctx context.Context, items []string, user string) error {
	var list httpapi.ItemList
	path := "/v1/items?ids=" + url.QueryEscape(strings.Join(items, ",")) + "&user=" + url.QueryEscape(user)
	if err := s.do(ctx, http.MethodGet, path, "", &list); err != nil {
		return err
	}
	if len(list.Items) != len(items) {
		return fmt.Errorf("asked for %d items, got %d", len(items), len(list.Items))
	}
	return nil
}

// do makes one request and fails on any answer but 200; it decodes the answer
// into out when not nil.
func (s *countermeshSystem) do(ctx context.Context, method, path, body string, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (s *countermeshSystem) close() error {
	s.client.CloseIdleConnections()
	return s.c.close()
}
