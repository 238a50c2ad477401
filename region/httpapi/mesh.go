package httpapi

import (
	"net/http"

	"github.com/countermesh/countermesh/region"
)

// MeshInfo is the answer of GET /v1/mesh: the mesh as the peer sees it, and how
// its API is configured.
type MeshInfo struct {
	region.MeshStatus
	// APIOpen is true when the API runs without authentication.
	APIOpen bool `json:"api_open"`
	// ReactionKinds are the reaction kinds in force.
	ReactionKinds []string `json:"reaction_kinds"`
}

// getMesh serves GET /v1/mesh.
func (s *Server) getMesh(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, MeshInfo{MeshStatus: s.b.Status(), APIOpen: s.auth.Load().open(),
		ReactionKinds: s.b.ReactionKinds()})
	return nil
}

// healthz serves GET /healthz: 200 while the process serves.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz serves GET /readyz: 200 when the peer is ready and its disk above the
// store's free-space reserve, else 503 with why not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Ready(); err != nil {
		writeProblem(w, unavailable(1, "not ready: %v", err))
		return
	}
	if err := s.b.CheckFreeSpace(); err != nil {
		writeProblem(w, unavailable(30, "not ready: writes are refused until disk space is freed, reads are served: %v", err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
