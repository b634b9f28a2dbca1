package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// answer is one upstream answer, its body read whole (within a limit).
type answer struct {
	status int
	header http.Header
	body   []byte
}

// fetcher gets answers from the upstream: timeouts, retries with backoff
// on network errors and 5xx, 429 honoured, a limit on every body, and no
// redirect to another host unless allowed.
type fetcher struct {
	base   *url.URL
	client *http.Client
	cfg    *Config
}

// CheckUpstream refuses what cannot be a registry's URL.
func CheckUpstream(upstream string) error {
	_, err := parseUpstream(upstream)
	return err
}

func parseUpstream(upstream string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimRight(upstream, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, fmt.Errorf("upstream %q: give the registry's URL, http:// or https:// and a host, without user, query or fragment", upstream)
	}
	return base, nil
}

func newFetcher(cfg *Config) (*fetcher, error) {
	base, err := parseUpstream(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	f := &fetcher{base: base, cfg: cfg}
	f.client = &http.Client{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return &errRedirect{fmt.Sprintf("more than %d redirects", maxRedirects)}
			}
			if !cfg.OtherHosts && !strings.EqualFold(req.URL.Host, base.Host) {
				return &errRedirect{"redirect to another host (" + printable(req.URL.Host, 100) + ") refused; --follow-redirects allows it"}
			}
			return nil
		},
	}
	return f, nil
}

const maxRedirects = 5

// errRedirect is a redirect refused: asking again would be refused too.
type errRedirect struct{ msg string }

func (e *errRedirect) Error() string { return e.msg }

// missing says whether a status means that there is no such thing
// (any more).
func missing(status int) bool { return status == http.StatusNotFound || status == http.StatusGone }

// errStatus is an answer of a status that is not retried, not 200 and not
// 404.
type errStatus struct {
	url    string
	status int
	msg    string
}

func (e *errStatus) Error() string {
	s := fmt.Sprintf("%s: status %d", e.url, e.status)
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

// get fetches base+path, retrying what is worth retrying. An answer of
// 200, 404 or 410 (removed, by this registry) is returned; any other
// status is an error. A body over max bytes is an error, read no further.
func (f *fetcher) get(ctx context.Context, path string, max int64) (*answer, error) {
	u := f.base.String() + path
	wait := f.cfg.Backoff
	for attempt := 1; ; attempt++ {
		a, err := f.once(ctx, u, max)
		retry, after := retryable(a, err)
		if !retry || attempt >= f.cfg.Attempts {
			if err == nil && a.status != http.StatusOK && !missing(a.status) {
				err = &errStatus{url: u, status: a.status, msg: errorMessage(a.body)}
			}
			if err != nil && retry {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return a, err
		}
		if after > 0 {
			if after > f.cfg.MaxRetryAfter {
				return nil, fmt.Errorf("%s: the upstream asks to wait %v (Retry-After), longer than %v", u, after, f.cfg.MaxRetryAfter)
			}
		} else {
			// Exponential backoff with jitter, so that the jobs do not
			// come back all at once.
			after = wait/2 + rand.N(wait/2+1)
			wait = min(2*wait, 30*time.Second)
		}
		f.cfg.Log.Debug("retrying", "url", u, "in", after, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(after):
		}
	}
}

// retryable says whether an attempt is worth repeating, and after how
// long the upstream asked for (0: our backoff).
func retryable(a *answer, err error) (bool, time.Duration) {
	var (
		tooBig *errTooBig
		redir  *errRedirect
	)
	switch {
	case errors.As(err, &tooBig), errors.As(err, &redir), errors.Is(err, context.Canceled):
		return false, 0
	case err != nil:
		return true, 0
	case a.status == http.StatusTooManyRequests:
		return true, retryAfter(a.header.Get("Retry-After"))
	case a.status >= 500:
		return true, retryAfter(a.header.Get("Retry-After"))
	}
	return false, 0
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

type errTooBig struct {
	url string
	max int64
}

func (e *errTooBig) Error() string {
	return fmt.Sprintf("%s: the answer is larger than the %d bytes allowed", e.url, e.max)
}

// once makes one attempt, within the timeout.
func (f *fetcher) once(ctx context.Context, u string, max int64) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", "application/json, text/plain, application/tar+gzip")
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("%s: no answer within %v", u, f.cfg.Timeout)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > max {
		return nil, &errTooBig{u, max}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("%s: the answer did not arrive within %v", u, f.cfg.Timeout)
		}
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if int64(len(body)) > max {
		return nil, &errTooBig{u, max}
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// errorMessage is the error of a registry's JSON error body, if any,
// shortened and made printable.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return printable(e.Error, 200)
}

// printable keeps what upstream text goes into a message short and free
// of control characters.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// getJSON fetches base+path and decodes its JSON into v; found is false
// for a 404 or 410.
func (f *fetcher) getJSON(ctx context.Context, path string, max int64, v any) (found bool, err error) {
	a, err := f.get(ctx, path, max)
	if err != nil {
		return false, err
	}
	if missing(a.status) {
		return false, nil
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		return false, &errMalformed{fmt.Sprintf("%s%s: malformed JSON: %v", f.base, path, err)}
	}
	return true, nil
}

// errMalformed is an answer that is not the JSON asked for.
type errMalformed struct{ msg string }

func (e *errMalformed) Error() string { return e.msg }
