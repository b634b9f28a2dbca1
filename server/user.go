package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/store"
)

// maxJSONBody bounds the JSON bodies of the user endpoints.
const maxJSONBody = 16 << 10

// readJSONObject reads a small JSON object of string fields. Fields of
// another type are reported as invalid rather than silently dropped.
func readJSONObject(c *call) (map[string]any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c, c.r.Body, maxJSONBody))
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
	if s.cfg.SignupClosed {
		return userError(http.StatusForbidden, "Sign-up is closed on this registry; ask its operator to create your account")
	}
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "name", "username", "email", "password")
	if err != nil {
		return err
	}
	name, username, email, password := strings.TrimSpace(f[0]), f[1], f[2], f[3]
	// Name every invalid field at once, so the user fixes them in one go.
	var invalid []string
	for _, err := range []error{auth.ValidateName(name), auth.ValidateUsername(username),
		auth.ValidateEmail(email), auth.ValidatePassword(password)} {
		if err != nil {
			invalid = append(invalid, err.Error())
		}
	}
	if len(invalid) > 0 {
		return userError(http.StatusBadRequest, strings.Join(invalid, "; "))
	}
	if err := s.addUser(c, name, username, email, password); err != nil {
		return err
	}
	c.write(http.StatusCreated, "application/json", []byte("{}"), noStore)
	return nil
}

func (s *Server) addUser(c *call, name, username, email, password string) error {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	_, err = s.db.CreateUser(c.r.Context(), store.User{Username: username, Email: email, Name: name, PasswordHash: hash})
	if errors.Is(err, store.ErrConflict) {
		return userError(http.StatusConflict, "User already exists")
	}
	return err
}

// checkPassword checks a login's password, spending the same time whether
// or not the user exists (found is false when it does not).
func checkPassword(u store.User, found bool, password string) bool {
	if !found {
		auth.DummyCheck(password)
		return false
	}
	return auth.CheckPassword(u.PasswordHash, password)
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
	u, err := s.db.UserByLogin(c.r.Context(), login)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// Failures count per account, whichever of its username or email was
	// typed, and per address.
	account := "name:" + strings.ToLower(login)
	if found {
		account = "id:" + strconv.FormatInt(u.ID, 10)
	}
	keys := guardKeys(account, clientAddr(c.r))
	if wait := s.guard.begin(keys, s.now()); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		c.Header()["Retry-After"] = []string{strconv.Itoa(secs)}
		return userError(http.StatusTooManyRequests,
			"Too many failed logins; wait "+strconv.Itoa(secs)+" seconds and try again")
	}
	ok := checkPassword(u, found, password)
	s.guard.end(keys, s.now(), ok)
	if !ok {
		return userError(http.StatusUnauthorized, "Invalid username or password")
	}
	token, err := auth.NewToken()
	if err != nil {
		return err
	}
	if err := s.db.AddToken(c.r.Context(), u.ID, token, s.cfg.TokenTTL); err != nil {
		return err
	}
	return c.json(http.StatusOK, struct {
		Token string `json:"token"`
	}{token}, noStore)
}

const badAuthorization = "Invalid authorization: unknown user, or a token that expired or was revoked; run nessemble login"

// authorize checks the request's HMAC Authorization header against the
// user's live login tokens. route is the bare route the client signs,
// whatever prefix the request went to.
func (s *Server) authorize(c *call, route string) (store.User, string, error) {
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return store.User{}, "", userError(http.StatusUnauthorized, "Not logged in: run nessemble login first")
	}
	login, mac, err := auth.ParseHMAC(h)
	if err != nil {
		return store.User{}, "", userError(http.StatusUnauthorized, err.Error())
	}
	u, tokens, err := s.db.UserTokens(c.r.Context(), login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, "", err
	}
	// As many keys are tried for every request, whether or not the user
	// exists or has tokens, so that the time taken does not tell.
	match := -1
	for i := range store.MaxTokensPerUser {
		key := s.decoyKey
		if i < len(tokens) {
			key = tokens[i]
		}
		if auth.Verify(key, c.r.Method, route, mac) && i < len(tokens) {
			match = i
		}
	}
	if match < 0 {
		return store.User{}, "", userError(http.StatusUnauthorized, badAuthorization)
	}
	return u, tokens[match], nil
}

func (s *Server) handleLogout(c *call) error {
	u, token, err := s.authorize(c, "/user/logout")
	if err != nil {
		return err
	}
	if err := s.db.RevokeToken(c.r.Context(), u.ID, token); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c.write(http.StatusOK, "application/json", []byte("{}"), noStore)
	return nil
}
