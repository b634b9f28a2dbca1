package blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nessemble/nessemble-registry/registry"
)

// s3Prefix begins every key the registry writes: the bucket may hold
// other things, which the registry neither lists nor touches.
const s3Prefix = "tarballs/"

// S3 keeps tarballs in an S3-compatible bucket, as objects
// tarballs/SHA1.tar.gz.
type S3 struct {
	c        *minio.Client
	bucket   string
	endpoint string
}

var _ Store = (*S3)(nil)

// OpenS3 connects to the bucket an s3://BUCKET?endpoint=URL&region=R URL
// names. The endpoint's scheme picks plain HTTP or TLS; without one it is
// AWS's. Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// or from the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
// ~/.aws/credentials; profile AWS_PROFILE), never from the URL, which
// appears in process lists. The bucket must exist.
func OpenS3(ctx context.Context, u *url.URL) (*S3, error) {
	if u.User != nil {
		return nil, errors.New("--blobs: no credentials in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use a credentials file")
	}
	bucket := u.Host
	if bucket == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("--blobs %s: give the bucket as s3://BUCKET?endpoint=http://HOST:PORT&region=R", redact(u))
	}
	q := u.Query()
	host, secure := "s3.amazonaws.com", true
	if e := q.Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || eu.Host == "" || (eu.Scheme != "http" && eu.Scheme != "https") || strings.Trim(eu.Path, "/") != "" {
			return nil, fmt.Errorf("--blobs: endpoint %q: give http://HOST:PORT or https://HOST", e)
		}
		host, secure = eu.Host, eu.Scheme == "https"
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{}, &credentials.FileAWSCredentials{},
	})
	c, err := minio.New(host, &minio.Options{
		Creds: creds, Secure: secure, Region: q.Get("region"),
		// Path-style requests: what self-hosted servers (MinIO,
		// versitygw) answer without a DNS name per bucket.
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("--blobs: %w", err)
	}
	s := &S3{c: c, bucket: bucket, endpoint: host}
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s, err)
	}
	if !ok {
		return nil, fmt.Errorf("open %s: the bucket does not exist; create it first", s)
	}
	return s, nil
}

func (s *S3) String() string { return "s3://" + s.bucket + " at " + s.endpoint }

func (s *S3) key(sum string) string { return s3Prefix + sum + ".tar.gz" }

func (s *S3) where(sum string) string { return "s3://" + s.bucket + "/" + s.key(sum) }

func isNoSuchKey(err error) bool {
	return minio.ToErrorResponse(err).Code == minio.NoSuchKey
}

func (s *S3) get(ctx context.Context, sum string) ([]byte, error) {
	obj, err := s.c.GetObject(ctx, s.bucket, s.key(sum), minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	// A tarball is at most 64 KiB; the bound keeps a wrong object from
	// filling memory.
	b, err := io.ReadAll(io.LimitReader(obj, 16<<20))
	return b, err
}

// Put uploads data unless an object of that name already holds exactly
// it, then reads it back and checks its SHA-1. An object under the name
// that does not match it (damage) is replaced by the right bytes; a good
// one is never overwritten.
func (s *S3) Put(ctx context.Context, sum string, data []byte) (created bool, err error) {
	if !IsSHA1(sum) || SHA1(data) != sum {
		return false, fmt.Errorf("store tarball: bad shasum %q", sum)
	}
	existed := false
	got, err := s.get(ctx, sum)
	switch {
	case err == nil && SHA1(got) == sum:
		return false, nil
	case err == nil:
		existed = true
	case !isNoSuchKey(err):
		return false, fmt.Errorf("store tarball in %s: %w", s, err)
	}
	_, err = s.c.PutObject(ctx, s.bucket, s.key(sum), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/tar+gzip", SendContentMd5: true})
	if err != nil {
		return false, fmt.Errorf("store tarball in %s: %w", s, err)
	}
	got, err = s.get(ctx, sum)
	if err == nil && SHA1(got) != sum {
		err = errors.New("the object read back does not match its SHA-1")
	}
	if err != nil {
		return !existed, fmt.Errorf("store tarball in %s: %w", s, err)
	}
	return !existed, nil
}

// Get downloads the tarball sum and checks it against its name.
func (s *S3) Get(ctx context.Context, sum string) ([]byte, error) {
	if !IsSHA1(sum) {
		return nil, fmt.Errorf("bad shasum %q", sum)
	}
	b, err := s.get(ctx, sum)
	if isNoSuchKey(err) {
		return nil, fmt.Errorf("%w: tarball %s is missing", registry.ErrDamaged, s.where(sum))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.where(sum), err)
	}
	if got := SHA1(b); got != sum {
		return nil, fmt.Errorf("%w: tarball %s has SHA-1 %s", registry.ErrDamaged, s.where(sum), got)
	}
	return b, nil
}

// Remove deletes the object of sum.
func (s *S3) Remove(ctx context.Context, sum string) error {
	if !IsSHA1(sum) {
		return fmt.Errorf("bad shasum %q", sum)
	}
	return s.c.RemoveObject(ctx, s.bucket, s.key(sum), minio.RemoveObjectOptions{})
}

// Verify downloads the object of sum and checks its SHA-1.
func (s *S3) Verify(ctx context.Context, sum string) (where, what string, err error) {
	if !IsSHA1(sum) {
		return sum, "invalid shasum " + sum, nil
	}
	b, err := s.get(ctx, sum)
	switch {
	case isNoSuchKey(err):
		return s.where(sum), "tarball missing", nil
	case err != nil:
		return s.where(sum), "", err
	case SHA1(b) != sum:
		return s.where(sum), "tarball does not match its SHA-1", nil
	}
	return s.where(sum), "", nil
}

// Sweep lists the objects under tarballs/ that no stored version names.
// One named as Put names them is a leftover of an interrupted publish;
// anything else under the prefix the registry did not write.
func (s *S3) Sweep(ctx context.Context, known map[string]bool, remove func(Problem) bool) ([]Problem, error) {
	var probs []Problem
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s3Prefix, Recursive: true}) {
		if obj.Err != nil {
			return probs, fmt.Errorf("list %s: %w", s, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s3Prefix)
		sum, ok := strings.CutSuffix(name, ".tar.gz")
		if ok && known[sum] {
			continue
		}
		p := Problem{Path: "s3://" + s.bucket + "/" + obj.Key, What: "object the registry did not write"}
		if ok && IsSHA1(sum) {
			p = Problem{Path: p.Path, What: "tarball of an interrupted publish, no version refers to it", Leftover: true}
		}
		if remove(p) && s.c.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{}) == nil {
			p.Repair = true
		}
		probs = append(probs, p)
	}
	return probs, nil
}

// Ready asks whether the bucket is there. It writes nothing: a probe
// object would be one more thing for every replica's /readyz to write
// and for Sweep to tell from a leftover.
func (s *S3) Ready(ctx context.Context) (problem string, err error) {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err == nil && !ok {
		err = fmt.Errorf("bucket %s does not exist", s.bucket)
	}
	if err != nil {
		return "the tarball store does not answer", err
	}
	return "", nil
}
