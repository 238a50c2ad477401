package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

//go:embed devpage
var devPage embed.FS

// regionView is one region as the demo page shows it.
type regionView struct {
	Name string `json:"name"`
	API  string `json:"api"`
	// Cut is the partition switch: the region is cut off from every other.
	Cut bool `json:"cut"`
	// Links lists every other region and whether this region's peer links to it now.
	Links []linkView `json:"links"`
	// LagSeconds is the age of this region's oldest change some other region has
	// not acknowledged yet (0: every region has all of them).
	LagSeconds float64 `json:"lag_seconds"`
	// LagChanges counts the changes of this region the furthest-behind region has
	// not acknowledged.
	LagChanges uint64 `json:"lag_changes"`
	// Readers is the number of live streams the region's API serves now, or -1 if
	// it could not be read.
	Readers int `json:"readers"`
}

// linkView is one link of a regionView.
type linkView struct {
	Region string `json:"region"`
	Up     bool   `json:"up"`
}

// view reads a region's cut switch, its links and lag from its peer, and its
// live readers from its API's metrics.
func (m *devMesh) view(ctx context.Context, r *devRegion) regionView {
	v := regionView{Name: r.name, API: r.apiURL, Cut: r.isCut(), Links: []linkView{}, Readers: -1}
	for _, rs := range r.peer.Status().Regions {
		for _, ps := range rs.Peers {
			if ps.Self {
				continue
			}
			v.Links = append(v.Links, linkView{Region: rs.Name, Up: ps.Linked})
			v.LagSeconds = max(v.LagSeconds, ps.LagSeconds)
			v.LagChanges = max(v.LagChanges, ps.LagSeqs)
		}
	}
	if n, err := m.liveReaders(ctx, r); err == nil {
		v.Readers = n
	} else if ctx.Err() == nil {
		m.log.Warn("read live readers", "region", r.name, "err", err)
	}
	return v
}

// liveReaders reads the gauge of open live streams from a region's /metrics.
func (m *devMesh) liveReaders(ctx context.Context, r *devRegion) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.apiURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", r.name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics of %s: %s", r.name, res.Status)
	}
	const gauge = "countermesh_api_live_subscribers "
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), gauge); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metrics of %s: %s: %w", r.name, gauge, err)
			}
			return int(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", r.name, err)
	}
	return 0, fmt.Errorf("metrics of %s: no %s", r.name, strings.TrimSpace(gauge))
}

// uiHandler serves the demo page, every region's state (GET /dev/regions), the
// partition switch (POST /dev/partition), and proxies /api/<region>/... to that
// region's API, so the page needs no CORS.
func (m *devMesh) uiHandler() http.Handler {
	mux := http.NewServeMux()
	page, _ := fs.Sub(devPage, "devpage")
	mux.Handle("/", http.FileServerFS(page))
	mux.HandleFunc("GET /dev/regions", func(w http.ResponseWriter, req *http.Request) {
		out := make([]regionView, len(m.regions))
		for i, r := range m.regions {
			out[i] = m.view(req.Context(), r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{"item": devItem, "regions": out})
	})
	mux.HandleFunc("POST /dev/partition", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Region string `json:"region"`
			Cut    bool   `json:"cut"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, fmt.Sprintf("bad request: %v", err), http.StatusBadRequest)
			return
		}
		if err := m.partition(req.Region, req.Cut); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, r := range m.regions {
		target, _ := url.Parse(r.apiURL)
		prefix := "/api/" + r.name
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, prefix)
				pr.Out.URL.RawPath = ""
			},
			FlushInterval: -1, // live events stream through
		}
		mux.Handle(prefix+"/", proxy)
	}
	return mux
}
