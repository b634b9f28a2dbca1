// Package backendtest gives tests a fresh PostgreSQL database and a fresh
// S3 bucket on the real servers that .ci/backends.sh starts. Without
// them a test skips, saying how to run it, unless
// NESSEMBLE_TEST_REQUIRE_BACKENDS=1 (as in CI), which makes the skip a
// failure.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Environment variables that .ci/backends.sh exports.
const (
	PostgresEnv = "NESSEMBLE_TEST_POSTGRES"
	S3Env       = "NESSEMBLE_TEST_S3"
	RequireEnv  = "NESSEMBLE_TEST_REQUIRE_BACKENDS"
)

const howTo = "; start the servers with `. .ci/backends.sh` (from the repository's top folder) and run the tests in that shell"

// Have reports whether both servers are there.
func Have() bool { return os.Getenv(PostgresEnv) != "" && os.Getenv(S3Env) != "" }

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is not set, and %s=1 requires it%s", what, RequireEnv, howTo)
	}
	t.Skipf("%s is not set%s", what, howTo)
}

func name() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "nt" + hex.EncodeToString(b)
}

// Postgres makes an empty database for the test, dropped at its end, and
// returns its URL.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		missing(t, PostgresEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	db := name()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

// S3 makes an empty bucket for the test, removed at its end, and returns
// its s3:// URL; the credentials are in the environment.
func S3(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(S3Env)
	if raw == "" {
		missing(t, S3Env)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", S3Env, err)
	}
	ep, err := url.Parse(u.Query().Get("endpoint"))
	if err != nil {
		t.Fatalf("%s: %v", S3Env, err)
	}
	c, err := minio.New(ep.Host, &minio.Options{
		Creds:        credentials.NewEnvAWS(),
		Secure:       ep.Scheme == "https",
		Region:       u.Query().Get("region"),
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := name()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: u.Query().Get("region")}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				c.RemoveObject(ctx, bucket, obj.Key, minio.RemoveObjectOptions{})
			}
		}
		if err := c.RemoveBucket(ctx, bucket); err != nil {
			t.Errorf("remove test bucket: %v", err)
		}
	})
	u.Host = bucket
	return u.String()
}

// Client is a client of the S3 server and the bucket of an S3 URL from
// S3, for tests that damage or list objects behind the registry's back.
func Client(t testing.TB, s3URL string) (*minio.Client, string) {
	t.Helper()
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := url.Parse(u.Query().Get("endpoint"))
	c, err := minio.New(ep.Host, &minio.Options{
		Creds: credentials.NewEnvAWS(), Secure: ep.Scheme == "https",
		Region: u.Query().Get("region"), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, strings.TrimSpace(u.Host)
}
