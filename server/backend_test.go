package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/postgres"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// backendEnv names the storage the API tests run on: empty for SQLite
// and files, "postgres" for PostgreSQL and S3.
const backendEnv = "NESSEMBLE_TEST_SERVER_BACKEND"

// TestMain runs every test of the package on SQLite and files, then, when
// the PostgreSQL and S3 servers of .ci/backends.sh are there, once more
// on them, in a second run of this test binary with the same flags.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv(backendEnv) == "" && code == 0 {
		switch {
		case backendtest.Have():
			fmt.Println("server: the same tests on PostgreSQL and S3")
			cmd := exec.Command(os.Args[0], os.Args[1:]...)
			cmd.Env = append(os.Environ(), backendEnv+"=postgres")
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Println("server: on PostgreSQL and S3:", err)
				code = 1
			}
		case os.Getenv(backendtest.RequireEnv) == "1":
			fmt.Printf("server: the PostgreSQL and S3 servers are missing and %s=1 requires them; source .ci/backends.sh\n", backendtest.RequireEnv)
			code = 1
		default:
			fmt.Println("server: ran on SQLite only; source .ci/backends.sh to run on PostgreSQL and S3 too")
		}
	}
	os.Exit(code)
}

// testDB is what the tests use of the storage under the registry.
type testDB interface {
	registry.Storage
	SetClock(func() time.Time)
	LiveTokens(ctx context.Context, userID int64) ([]string, error)
	Ready(ctx context.Context) (problem string, err error)
	Check(ctx context.Context, repair bool) ([]blobs.Problem, error)
	Close() error
}

// openTestDB opens fresh storage of the backend the run is on.
func openTestDB(t testing.TB) testDB {
	t.Helper()
	var (
		db  testDB
		err error
	)
	if os.Getenv(backendEnv) == "postgres" {
		var bs blobs.Store
		bs, err = blobs.Open(context.Background(), backendtest.S3(t), t.TempDir(), blobs.Options{})
		if err == nil {
			db, err = postgres.Open(context.Background(), backendtest.Postgres(t), bs)
		}
	} else {
		db, err = store.Open(context.Background(), t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dataDir is the data folder of a test on SQLite and files; a test that
// looks into it skips on other backends.
func (e *env) dataDir() string {
	e.t.Helper()
	db, ok := e.db.(*store.DB)
	if !ok {
		e.t.Skip("looks into the data folder, which only the SQLite backend has")
	}
	return db.Dir()
}
