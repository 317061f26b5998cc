package s3

import (
	"errors"
	"fmt"
)

// ErrBucketName is wrapped by New when the configured name cannot name any bucket.
var ErrBucketName = errors.New("s3: invalid bucket name")

// BucketNamingRule is S3's rule for bucket names, quoted when a name breaks it.
const BucketNamingRule = "S3 bucket names are 3 to 63 characters of lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit"

// checkBucketName refuses names no S3 store accepts: characters outside letters, digits,
// dots, hyphens and underscores, or a length outside 3 to 255. Uppercase letters,
// underscores and lengths up to 255 are let through: AWS buckets created in us-east-1
// before March 2018 may have them, and the store is the judge.
func checkBucketName(b string) error {
	if b == "" {
		return fmt.Errorf("%w: no bucket given", ErrBucketName)
	}
	if len(b) < 3 || len(b) > 255 {
		return fmt.Errorf("%w: %q is %d characters long: %s", ErrBucketName, b, len(b), BucketNamingRule)
	}
	for i, c := range b {
		if !isBucketChar(c) {
			return fmt.Errorf("%w: %q has %q at position %d: %s", ErrBucketName, b, c, i+1, BucketNamingRule)
		}
	}
	return nil
}

func isBucketChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
}

// followsBucketRule reports whether b follows today's rule, BucketNamingRule.
func followsBucketRule(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, c := range b {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}
