package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/registry"
)

// maxJSONBody bounds the JSON bodies of the user endpoints.
const maxJSONBody = 16 << 10

// readJSONObject reads a small JSON object of string fields. Fields of
// another type are reported as invalid rather than silently dropped.
func readJSONObject(c *call) (map[string]any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxJSONBody))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, userError(http.StatusBadRequest, "Request body must be a JSON object")
	}
	return m, nil
}

// stringFields takes the named string fields from m, reporting every
// missing, empty or non-string one at once.
func stringFields(m map[string]any, names ...string) ([]string, error) {
	vals := make([]string, len(names))
	var missing, notString []string
	for i, n := range names {
		v, present := m[n]
		s, isString := v.(string)
		switch {
		case present && v != nil && !isString:
			notString = append(notString, "`"+n+"`")
		case strings.TrimSpace(s) == "":
			missing = append(missing, "`"+n+"`")
		default:
			vals[i] = s
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "Missing fields: "+strings.Join(missing, ", "))
	}
	if len(notString) > 0 {
		problems = append(problems, "Fields that must be strings: "+strings.Join(notString, ", "))
	}
	if len(problems) > 0 {
		return nil, userError(http.StatusBadRequest, strings.Join(problems, "; "))
	}
	return vals, nil
}

func (s *Server) handleCreateUser(c *call) error {
	if err := s.core.SignupOpen(); err != nil {
		return err // before reading a body it would refuse anyway
	}
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "name", "username", "email", "password")
	if err != nil {
		return err
	}
	if _, err := s.core.SignUp(c.r.Context(), registry.NewUser{Name: f[0], Username: f[1], Email: f[2], Password: f[3]}); err != nil {
		return err
	}
	c.write(http.StatusCreated, "application/json", []byte("{}"))
	return nil
}

func (s *Server) handleLogin(c *call) error {
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return userError(http.StatusBadRequest, "Missing credentials: log in with HTTP Basic authorization (username and password)")
	}
	login, password, err := auth.ParseBasic(h)
	if err != nil {
		return userError(http.StatusUnauthorized, err.Error())
	}
	token, err := s.core.Login(c.r.Context(), login, password, s.loginAddr(c.r))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, struct {
		Token string `json:"token"`
	}{token})
}

// authorize checks the request's HMAC Authorization header. route is the
// bare route the client signs, whatever prefix the request went to.
func (s *Server) authorize(c *call, route string) (registry.User, string, error) {
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return registry.User{}, "", userError(http.StatusUnauthorized, "Not logged in: run nessemble login first")
	}
	login, mac, err := auth.ParseHMAC(h)
	if err != nil {
		return registry.User{}, "", userError(http.StatusUnauthorized, err.Error())
	}
	return s.core.Authorize(c.r.Context(), login, mac, c.r.Method, route)
}

func (s *Server) handleLogout(c *call) error {
	u, token, err := s.authorize(c, "/user/logout")
	if err != nil {
		return err
	}
	if err := s.core.Logout(c.r.Context(), u, token); err != nil {
		return err
	}
	c.write(http.StatusOK, "application/json", []byte("{}"))
	return nil
}

// loginAddr is the address a login attempt counts against: the
// connection's, or, when that is a trusted proxy, the last address the
// proxy added to X-Forwarded-For (nginx's $proxy_add_x_forwarded_for
// appends the address it saw; whatever the client sent comes before it).
func (s *Server) loginAddr(r *http.Request) string {
	addr := clientAddr(r)
	if len(s.cfg.TrustedProxies) == 0 {
		return addr
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !slices.ContainsFunc(s.cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return addr
	}
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	if client, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
		return client.Unmap().String()
	}
	return addr
}
