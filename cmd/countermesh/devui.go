package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

//go:embed devpage
var devPage embed.FS

// uiHandler serves the demo page, the list of regions, the partition switch, and
// proxies /api/<region>/... to that region's API, so the page needs no CORS.
func (m *devMesh) uiHandler() http.Handler {
	mux := http.NewServeMux()
	page, _ := fs.Sub(devPage, "devpage")
	mux.Handle("/", http.FileServerFS(page))
	mux.HandleFunc("GET /dev/regions", func(w http.ResponseWriter, _ *http.Request) {
		type regionInfo struct {
			Name string `json:"name"`
			API  string `json:"api"`
			Cut  bool   `json:"cut"`
		}
		var out []regionInfo
		for _, r := range m.regions {
			out = append(out, regionInfo{Name: r.name, API: r.apiURL, Cut: r.isCut()})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
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
