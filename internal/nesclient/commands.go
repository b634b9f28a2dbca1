package nesclient

import (
	"bytes"
	"compress/flate"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The client's two special statuses for package documents, package data
// and search; it treats every other status there as success.
var (
	ErrNotFound    = errors.New("package does not exist")       // 404
	ErrUnreachable = errors.New("could not reach the registry") // 503
)

// StatusError is a command failing on its status code. Message is the
// `error` field of the (valid) JSON error body.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Message) }

// Is makes a 404 match ErrNotFound and a 503 match ErrUnreachable.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Status == 404 || target == ErrUnreachable && e.Status == 503
}

// Result is one search hit as the client prints it.
type Result struct{ Title, Description string }

// Authorization returns the HMAC header value the client sends:
// "HMAC-SHA1 " + base64(user ":" lowercase hex(HMAC-SHA1(token, METHOD+ROUTE))).
// route is the bare route such as /package/publish, whatever path prefix
// the registry URL has.
func Authorization(user, token, method, route string) string {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(method + "+" + route))
	sum := hex.EncodeToString(mac.Sum(nil))
	return "HMAC-SHA1 " + base64.StdEncoding.EncodeToString([]byte(user+":"+sum))
}

// CheckJSON requires what every JSON answer must offer the client:
// Content-Type exactly application/json, a non-empty body, and a document
// within the token budget.
func CheckJSON(r *Response) (*Doc, error) {
	if ct := r.ContentType(); ct != "application/json" {
		return nil, fmt.Errorf("Content-Type %q, want exactly application/json", ct)
	}
	if len(r.Body) == 0 {
		return nil, errors.New("empty JSON body")
	}
	return ParseJSON(r.Body)
}

// APIError reads an error answer as the client does: a non-empty JSON body
// whose `error` the client passes to printf as the format, so a message
// containing % is an error here (it crashes the client). If the body also
// has `status`, it must match the status code.
func APIError(r *Response) (status int, msg string, err error) {
	doc, err := CheckJSON(r)
	if err != nil {
		return r.Status, "", fmt.Errorf("error response %d: %w", r.Status, err)
	}
	msg, ok := doc.Get("error")
	if !ok || msg == "" {
		return r.Status, "", fmt.Errorf("error response %d has no `error` message: %s", r.Status, r.Body)
	}
	if strings.Contains(msg, "%") {
		return r.Status, msg, fmt.Errorf("error message %q contains %% (the client printf's it)", msg)
	}
	if s, ok := doc.Get("status"); ok && s != strconv.Itoa(r.Status) {
		return r.Status, msg, fmt.Errorf("error body says status %s, response is %d", s, r.Status)
	}
	return r.Status, msg, nil
}

// statusError turns an unexpected status into a *StatusError, or into a
// plain error when the error body itself would trouble the client.
func statusError(r *Response) error {
	status, msg, err := APIError(r)
	if err != nil {
		return err
	}
	return &StatusError{Status: status, Message: msg}
}

// lookupError is the client's view of package and search statuses: only
// 404 and 503 are failures.
func lookupError(r *Response) error {
	if r.Status == 404 || r.Status == 503 {
		return statusError(r)
	}
	return nil
}

func packageRoute(name, version string) string {
	if version == "" {
		return "/package/" + name
	}
	return "/package/" + name + "/" + version
}

var jsonType = [2]string{"Content-Type", "application/json"}

// Search is `nessemble search TERM`: GET /search/TERM. The client gathers
// every "title" and every "description" in the document and pairs them by
// position, so both counts must match and none may be empty.
func (c *Client) Search(term string) ([]Result, error) {
	r, err := c.Do("GET", "/search/"+term, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := lookupError(r); err != nil {
		return nil, err
	}
	doc, err := CheckJSON(r)
	if err != nil {
		return nil, err
	}
	titles, descs := doc.All("title"), doc.All("description")
	if len(titles) != len(descs) {
		return nil, fmt.Errorf("search: %d titles but %d descriptions", len(titles), len(descs))
	}
	var out []Result
	for i := range titles {
		if titles[i] == "" || descs[i] == "" {
			return nil, fmt.Errorf("search: result %d has an empty title or description", i)
		}
		out = append(out, Result{titles[i], descs[i]})
	}
	return out, nil
}

// PackageDoc fetches GET /package/NAME[/VERSION] (version "" for the
// newest), the first step of install and info.
func (c *Client) PackageDoc(name, version string) (*Doc, error) {
	r, err := c.Do("GET", packageRoute(name, version), nil, nil)
	if err != nil {
		return nil, err
	}
	if err := lookupError(r); err != nil {
		return nil, err
	}
	return CheckJSON(r)
}

// link reads an absolute URL field of the package document.
func (c *Client) link(name, version, field string) (string, error) {
	doc, err := c.PackageDoc(name, version)
	if err != nil {
		return "", err
	}
	u, ok := doc.Get(field)
	if !ok || u == "" {
		return "", fmt.Errorf("package document has no %q", field)
	}
	return u, nil
}

// Install is `nessemble install NAME[@VERSION]`: the package document,
// then its `resource` URL, then the client's checks in its order:
// non-zero Content-Length, Content-Type exactly application/tar+gzip,
// X-Integrity the lowercase hex SHA-1 of the body, then UnpackTarball.
func (c *Client) Install(name, version string) (map[string][]byte, error) {
	u, err := c.link(name, version, "resource")
	if err != nil {
		return nil, err
	}
	r, err := c.DoURL("GET", u, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := lookupError(r); err != nil {
		return nil, err
	}
	if len(r.Body) == 0 {
		return nil, errors.New("tarball: no Content-Length or an empty body")
	}
	if ct := r.ContentType(); ct != "application/tar+gzip" {
		return nil, fmt.Errorf("tarball Content-Type %q, want exactly application/tar+gzip", ct)
	}
	sum := sha1.Sum(r.Body)
	if got, want := r.Header("X-Integrity"), hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("X-Integrity %q, want %q (lowercase hex SHA-1 of the body)", got, want)
	}
	return UnpackTarball(r.Body)
}

// Readme is `nessemble info NAME[@VERSION]`: the package document, then
// its `readme` URL with Accept: text/plain.
func (c *Client) Readme(name, version string) (string, error) {
	u, err := c.link(name, version, "readme")
	if err != nil {
		return "", err
	}
	r, err := c.DoURL("GET", u, [][2]string{{"Accept", "text/plain"}}, nil)
	if err != nil {
		return "", err
	}
	if err := lookupError(r); err != nil {
		return "", err
	}
	if ct := r.ContentType(); ct != "text/plain" {
		return "", fmt.Errorf("readme Content-Type %q, want exactly text/plain", ct)
	}
	return string(r.Body), nil
}

// Reference is `nessemble reference [A [B]]`: GET /reference[/A[/B]] with
// Accept: text/plain. The client shows the text on 200 and "Could not
// find info" on anything else; the status is returned for the caller to
// check, after the error body has been validated.
func (c *Client) Reference(path ...string) (string, int, error) {
	if len(path) > 2 {
		return "", 0, errors.New("reference takes at most two terms")
	}
	route := "/reference"
	for _, p := range path {
		route += "/" + p
	}
	r, err := c.Do("GET", route, [][2]string{{"Accept", "text/plain"}}, nil)
	if err != nil {
		return "", 0, err
	}
	if r.Status != 200 {
		if _, _, err := APIError(r); err != nil {
			return "", r.Status, err
		}
		return "", r.Status, nil
	}
	if ct := r.ContentType(); ct != "text/plain" {
		return "", r.Status, fmt.Errorf("reference Content-Type %q, want exactly text/plain", ct)
	}
	return string(r.Body), r.Status, nil
}

// Login is `nessemble login`: POST /user/login with Basic credentials and
// no body and no Content-Length. It needs 200 and a `token` without
// whitespace, shorter than 250 characters.
func (c *Client) Login(user, pass string) (string, error) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	r, err := c.Do("POST", "/user/login", [][2]string{jsonType, {"Authorization", basic}}, nil)
	if err != nil {
		return "", err
	}
	if r.Status != 200 {
		return "", statusError(r)
	}
	doc, err := CheckJSON(r)
	if err != nil {
		return "", err
	}
	tok, ok := doc.Get("token")
	if !ok || tok == "" || len(tok) >= 250 || strings.ContainsAny(tok, " \t\r\n\v\f") {
		return "", fmt.Errorf("login: unusable token %q", tok)
	}
	return tok, nil
}

// signed sends a JSON body with the HMAC header for route and requires
// exactly want and a valid non-empty JSON answer.
func (c *Client) signed(route, user, key, body string, want int) (*Doc, error) {
	hdr := [][2]string{jsonType}
	if user != "" {
		hdr = append(hdr, [2]string{"Authorization", Authorization(user, key, "POST", route)})
	}
	r, err := c.Do("POST", route, hdr, []byte(body))
	if err != nil {
		return nil, err
	}
	if r.Status != want {
		return nil, statusError(r)
	}
	return CheckJSON(r)
}

// Logout is `nessemble logout`: POST /user/logout with body {} and HMAC;
// the client forgets its token only on 200 with a non-empty body.
func (c *Client) Logout(user, token string) error {
	_, err := c.signed("/user/logout", user, token, "{}", 200)
	return err
}

// CreateUser is `nessemble adduser`. The client pastes the fields into the
// JSON body without escaping them, and so does this. It needs exactly 201,
// a non-empty body and Content-Type exactly application/json.
func (c *Client) CreateUser(name, username, email, password string) (*Doc, error) {
	body := `{"name": "` + name + `", "username": "` + username +
		`", "email": "` + email + `", "password": "` + password + `"}`
	return c.signed("/user/create", "", "", body, 201)
}

// ForgotPassword is `nessemble forgotpassword`. It needs 200 and `email`;
// when `email` is false, also `url` and `data`.
func (c *Client) ForgotPassword(username string) (*Doc, error) {
	doc, err := c.signed("/user/forgotpassword", "", "", `{"username": "`+username+`"}`, 200)
	if err != nil {
		return nil, err
	}
	email, ok := doc.Get("email")
	if !ok {
		return nil, errors.New("forgotpassword: no `email`")
	}
	if email == "false" {
		for _, k := range []string{"url", "data"} {
			if v, ok := doc.Get(k); !ok || v == "" {
				return nil, fmt.Errorf("forgotpassword: email is false but no %q", k)
			}
		}
	}
	return doc, nil
}

// ResetPassword is `nessemble resetpassword`: the HMAC is keyed by what
// the user typed (the emailed token or a TOTP code). It needs 200 and a
// non-empty body.
func (c *Client) ResetPassword(username, password, typedToken string) error {
	body := `{"username": "` + username + `", "password": "` + password + `"}`
	_, err := c.signed("/user/resetpassword", username, typedToken, body, 200)
	return err
}

// Publish is `nessemble publish FILE`: it reads the title from the
// tarball (see PublishTitle), asks HEAD /package/TITLE, and sends the file
// unchanged with PUT /package/publish when that answered 200, else POST.
// It needs exactly 201 and JSON with `title`.
func (c *Client) Publish(user, token string, tarball []byte) (*Doc, error) {
	title, err := PublishTitle(tarball)
	if err != nil {
		return nil, err
	}
	h, err := c.Do("HEAD", "/package/"+title, nil, nil)
	if err != nil {
		return nil, err
	}
	method := "POST"
	if h.Status == 200 {
		method = "PUT"
	}
	const route = "/package/publish"
	r, err := c.Do(method, route, [][2]string{
		{"Content-Type", "application/tar+gzip"},
		{"Authorization", Authorization(user, token, method, route)},
	}, tarball)
	if err != nil {
		return nil, err
	}
	if r.Status != 201 {
		return nil, statusError(r)
	}
	doc, err := CheckJSON(r)
	if err != nil {
		return nil, err
	}
	if t, ok := doc.Get("title"); !ok || t == "" {
		return nil, errors.New("publish: answer has no `title`")
	}
	return doc, nil
}

// PublishTitle reads `title` from a tarball's package.json as the client
// does before uploading: it skips exactly 10 gzip header bytes (so a
// header with a file name fails), inflates, and walks the tar.
func PublishTitle(tarball []byte) (string, error) {
	if len(tarball) < 10 {
		return "", errors.New("publish: file too short for a gzip header")
	}
	tar, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(tarball[10:])), 1<<24))
	if err != nil {
		return "", fmt.Errorf("publish: inflate after 10 header bytes: %w", err)
	}
	files, err := WalkTar(tar)
	if err != nil {
		return "", err
	}
	pj, ok := files["package.json"]
	if !ok {
		return "", errors.New("publish: no package.json in the tarball")
	}
	doc, err := ParseJSON(pj)
	if err != nil {
		return "", fmt.Errorf("publish: package.json: %w", err)
	}
	title, ok := doc.Get("title")
	if !ok || title == "" {
		return "", errors.New("publish: package.json has no title")
	}
	return title, nil
}
