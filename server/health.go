package server

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Probes for process managers and load balancers: GET /healthz says the
// process serves, GET /readyz that it can also read and store data. Both
// are JSON, never cached and never rate limited (serveHTTP).

// readyFor is how long a readiness result is reused: a probe flood
// costs at most one check of the data folder a second.
const readyFor = time.Second

type readiness struct {
	mu      sync.Mutex
	at      time.Time
	problem string
	logged  string // the problem last logged, so a state is logged once
}

func (s *Server) handleHealthz(c *call) error {
	return c.json(http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}

func (s *Server) handleReadyz(c *call) error {
	problem := "the registry is shutting down"
	if !s.stopping.Load() {
		problem = s.readiness(c.r.Context())
	}
	if problem != "" {
		return userError(http.StatusServiceUnavailable, "Not ready: "+problem)
	}
	return c.json(http.StatusOK, struct {
		Status string `json:"status"`
	}{"ready"})
}

// readiness is Config.Ready's problem, checked at most once per readyFor;
// a change of state is logged once, with the details.
func (s *Server) readiness(ctx context.Context) string {
	if s.cfg.Ready == nil {
		return ""
	}
	rd := &s.ready
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if now := time.Now(); now.Sub(rd.at) >= readyFor {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		problem, err := s.cfg.Ready(ctx)
		cancel()
		rd.at, rd.problem = time.Now(), problem
		if problem != rd.logged {
			if problem != "" {
				s.log.Error("not ready", "problem", problem, "err", err)
			} else {
				s.log.Info("ready again")
			}
			rd.logged = problem
		}
	}
	return rd.problem
}
