package main

import (
	"fmt"
	"strconv"
	"time"
)

// seconds is a duration given as whole seconds (the seed's S3_BACKUP_MAX_AGE=2592000) or
// as a Go duration ("720h").
type seconds time.Duration

func (s *seconds) UnmarshalText(b []byte) error {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*s = seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is neither a number of seconds nor a duration like 720h", b)
	}
	*s = seconds(d)
	return nil
}

func (s seconds) d() time.Duration { return time.Duration(s) }
