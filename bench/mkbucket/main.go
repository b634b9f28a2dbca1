// Command mkbucket creates an S3 bucket for bench/replicas.sh, with the
// credentials of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"flag"
	"log"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:9000", "S3 endpoint")
	region := flag.String("region", "us-east-1", "region")
	bucket := flag.String("bucket", "bench", "bucket to create")
	flag.Parse()
	u, err := url.Parse(*endpoint)
	if err != nil {
		log.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewEnvAWS(), Secure: u.Scheme == "https",
		Region: *region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), *bucket, minio.MakeBucketOptions{Region: *region}); err != nil {
		log.Fatal(err)
	}
}
