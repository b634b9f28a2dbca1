package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/nessemble/nessemble-registry/registry"
)

// change is one entry of the change feed.
type change struct {
	Serial  int64  `json:"serial"`
	Kind    string `json:"kind"`
	Title   string `json:"title"`
	Version string `json:"version"`
	Shasum  string `json:"shasum"`
	Date    string `json:"date"`
}

// renderChanges renders /changes?since=N&limit=L: the change log after
// serial N, oldest first, at most L entries (default and most
// registry.MaxChangesPage), the log's last serial, and the next page's
// URL when there is more.
func (s *Server) renderChanges(ctx context.Context, k readKey) (*cached, error) {
	since, err := serialParam(k.query.Get("since"))
	if err != nil {
		return nil, err
	}
	limit, err := intParam(k.query, "limit", registry.MaxChangesPage, 1, registry.MaxChangesPage)
	if err != nil {
		return nil, err
	}
	cs, last, err := s.core.Changes(ctx, since, limit)
	if err != nil {
		return nil, err
	}
	out := make([]change, len(cs))
	for i, c := range cs {
		out[i] = change{c.Serial, c.Kind, c.Title, c.Version, c.Shasum, c.At.UTC().Format(isoMillis)}
	}
	var next *string
	if n := len(cs); n == limit && cs[n-1].Serial < last {
		u := k.base + "/changes?since=" + strconv.FormatInt(cs[n-1].Serial, 10) + "&limit=" + strconv.Itoa(limit)
		next = &u
	}
	return jsonAnswer(k, struct {
		Changes []change `json:"changes"`
		Last    int64    `json:"last"`
		Next    *string  `json:"next"`
	}{out, last, next})
}

// serialParam reads a change serial: "" is 0.
func serialParam(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, userError(http.StatusBadRequest, "Invalid since: use the serial of a change, a whole number of 0 or more")
	}
	return n, nil
}
